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
