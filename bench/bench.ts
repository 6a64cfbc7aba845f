/**
 * `npm run bench`: kernel GFLOPS against a naive baseline measured in the same run, and training tokens/s for
 * stories260K. Ratios, not absolute claims: on SwiftShader (no GPU) the numbers say little about a real GPU.
 */
import { acquireNodeDevice } from '../src/gpu/node';
import { GpuRuntime } from '../src/gpu/runtime';
import { benchKernels } from './kernels';
import { benchSvd } from './svd';
import { benchTraining } from './training';

async function main(): Promise<void> {
  const acquired = await acquireNodeDevice();
  const info = acquired.adapterInfo;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`device: ${[info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown'}`);
  const rt = new GpuRuntime(acquired.device);
  const scale = Number(process.env.BENCH_SCALE ?? '1');
  await benchKernels(rt, log, { scale });
  await benchSvd(rt, log, { args: process.argv.slice(2) });
  rt.destroy();
  await benchTraining(log);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
