/** A one-line progress bar on a terminal; plain lines when stdout is not a TTY (logs, CI). */
import type { AdapterKind, SparsitySnapshot, StepMetrics } from '../src/run/api';

export function progressReporter(total: number, stream: NodeJS.WriteStream = process.stderr): (m: StepMetrics) => void {
  const tty = stream.isTTY === true;
  return (m) => {
    const width = 30;
    const filled = Math.round((m.step / total) * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const val = m.valLoss !== undefined ? ` val ${m.valLoss.toFixed(4)}` : '';
    const line = `${bar} step ${m.step}/${total} loss ${m.loss.toFixed(4)}${val} lr ${m.lr.toExponential(2)} ${m.tokensPerS > 0 ? `${m.tokensPerS.toFixed(0)} tok/s` : ''}`;
    if (tty) stream.write(`\r${line}${m.step === total && m.valLoss !== undefined ? '\n' : ''}`);
    else if (m.step === 1 || m.step === total || m.step % 10 === 0 || m.valLoss !== undefined) stream.write(`${line}\n`);
  };
}

/** A bar for work counted in items (`spectrum`: weights done of total); same TTY/plain-line rules as above. */
export function countReporter(noun: string, stream: NodeJS.WriteStream = process.stderr): (done: number, total: number) => void {
  const tty = stream.isTTY === true;
  let lastTenth = -1;
  return (done, total) => {
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${noun}`;
    if (tty) {
      stream.write(`\r${line}${done === total ? '\n' : ''}`);
      return;
    }
    // Plain output: a line per tenth, so a log of a large model stays short.
    const tenth = total > 0 ? Math.floor((10 * done) / total) : 10;
    if (tenth !== lastTenth || done === total) {
      lastTenth = tenth;
      stream.write(`${line}\n`);
    }
  };
}

/** A method's setup before the first step (SVDs of every target layer, calibration batches): message and percent. */
export function setupReporter(stream: NodeJS.WriteStream = process.stderr): (message: string, fraction: number) => void {
  const tty = stream.isTTY === true;
  let lastMessage = '';
  return (message, fraction) => {
    const line = `${message} ${(100 * Math.min(1, Math.max(0, fraction))).toFixed(0)}%`;
    if (tty) stream.write(`\r\x1b[2K${line}${fraction >= 1 ? '\n' : ''}`);
    else if (message !== lastMessage || fraction >= 1) stream.write(`${line}\n`);
    lastMessage = message;
  };
}

/**
 * One line per sparsity snapshot: entries kept over the sparse layers, their mean density, and what the last
 * index-set update dropped and regrew (summed over the layers).
 */
export function sparsityLine(s: SparsitySnapshot): string {
  const n = s.layers.length;
  if (n === 0) return `sparsity step ${s.step}: no sparse layers`;
  const kept = s.layers.reduce((a, l) => a + l.kept, 0);
  const meanDensity = s.layers.reduce((a, l) => a + l.density, 0) / n;
  const updates = Math.max(...s.layers.map((l) => l.updates));
  const head = `sparsity step ${s.step}: ${n} layer${n === 1 ? '' : 's'} keep ${kept} entries, mean density ${percent(meanDensity)}`;
  if (updates === 0) return `${head}; index set unchanged so far`;
  const lastDropped = s.layers.reduce((a, l) => a + l.lastDropped, 0);
  const lastRegrown = s.layers.reduce((a, l) => a + l.lastRegrown, 0);
  const dropped = s.layers.reduce((a, l) => a + l.dropped, 0);
  return `${head}; last update dropped ${lastDropped}, regrew ${lastRegrown} (${updates} update${updates === 1 ? '' : 's'}, ${dropped} dropped in all)`;
}

function percent(f: number): string {
  const p = 100 * f;
  return `${p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toPrecision(2)}%`;
}

/** Prints sparsityLine on its own line; on a terminal it clears the progress bar first (the next step redraws it). */
export function sparsityReporter(stream: NodeJS.WriteStream = process.stderr): (s: SparsitySnapshot) => void {
  const tty = stream.isTTY === true;
  return (s) => stream.write(`${tty ? '\r\x1b[2K' : ''}${sparsityLine(s)}\n`);
}

/** Stage messages of a command without a step count (`export`): "loading the model…", with the seconds taken. */
export function stageReporter(stream: NodeJS.WriteStream = process.stderr): (message: string) => void {
  const start = performance.now();
  return (message) => stream.write(`[${((performance.now() - start) / 1000).toFixed(1)} s] ${message}\n`);
}

/** Which adapter was applied, e.g. "adapter: lora, 24 modules, r = 8" (formats without a rank leave it out). */
export function adapterLine(a: { kind: AdapterKind; modules: number; r: number }): string {
  return `adapter: ${a.kind}, ${a.modules} module${a.modules === 1 ? '' : 's'}${a.r > 0 ? `, r = ${a.r}` : ''}`;
}
