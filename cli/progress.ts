/** A one-line progress bar on a terminal; plain lines when stdout is not a TTY (logs, CI). */
import type { StepMetrics } from '../src/run/api';

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
