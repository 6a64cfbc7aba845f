/**
 * Top-k selection (radix select on the GPU) against sorting the same keys on the CPU, in the same process: what a
 * sparse method pays per mask update to pick its k entries. Ratios, not absolute claims: on SwiftShader (no GPU)
 * the GPU side runs on the CPU too.
 *
 * `benchTopk` fits next to the other kernel benchmarks in bench/bench.ts. Run alone, it needs Vite for the
 * shaders' `?raw` imports, built like vite.cli.config.ts builds the other benches (into dist-cli/, so that Node
 * finds the external `webgpu` package):
 *   node --input-type=module -e "import('vite').then((v) => v.build({ configFile: false, publicDir: false,
 *     logLevel: 'warn', build: { ssr: 'bench/topk.ts', outDir: 'dist-cli/topk', emptyOutDir: true,
 *     target: 'node20', minify: false }, ssr: { noExternal: true, external: ['webgpu'] } }))"
 *   bash scripts/run-node.sh dist-cli/topk/topk.js        # BENCH_SCALE=16 on a real GPU
 */
import { pathToFileURL } from 'node:url';
import { acquireNodeDevice } from '../src/gpu/node';
import { topkSelect } from '../src/gpu/ops/topk';
import { GpuRuntime } from '../src/gpu/runtime';

export interface BenchTopkOptions {
  /** Multiplies the key counts: 1 suits SwiftShader, 8-16 a real GPU. */
  scale?: number;
  /** Timed repetitions per variant after one warm-up (default 3); the median is reported. */
  reps?: number;
}

function randomKeys(n: number, seed: number): Float32Array {
  // A cheap LCG spread over several binades: only the value distribution matters, and generating the keys must
  // not dominate the bench.
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 4294967296 - 0.5;
    a[i] = u * 2 ** ((s & 15) - 8);
  }
  return a;
}

async function median(reps: number, run: () => Promise<void> | void): Promise<number> {
  await run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)] / 1000;
}

const ms = (s: number): string => `${(s * 1000).toFixed(1).padStart(9)} ms`;

export async function benchTopk(rt: GpuRuntime, log: (line: string) => void, options: BenchTopkOptions = {}): Promise<void> {
  const scale = options.scale ?? 1;
  const reps = options.reps ?? 3;
  if (!(scale > 0)) throw new Error(`benchTopk: scale = ${scale} must be positive`);
  for (const base of [1 << 20, 1 << 22]) {
    const n = Math.round(base * scale);
    const k = Math.ceil(n / 100); // keep 1 %: a typical sparse fine-tuning density
    const keys = randomKeys(n, n);
    const tk = rt.upload('bench keys', [n], keys);
    const out = rt.tensor('bench out', [k], 'u32');
    // GPU: the whole selection, including its one readback (the count) and the wait for it.
    const gpu = await median(reps, async () => {
      await topkSelect(rt, { keys: tk, n, k, out });
    });
    // CPU: a native sort of the |keys| (values only, a lower bound for any sort), and the argsort a CPU
    // implementation of the same selection needs (positions by |key| descending, ties by position).
    const mags = new Float32Array(n);
    const sortValues = await median(reps, () => {
      for (let i = 0; i < n; i++) mags[i] = Math.abs(keys[i]);
      mags.sort();
    });
    const argsort = await median(Math.min(reps, 1), () => {
      const idx = Uint32Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < n; i++) mags[i] = Math.abs(keys[i]);
      idx.sort((a, b) => mags[b] - mags[a] || a - b);
    });
    log(
      `topk n=${String(n).padStart(9)} k=${String(k).padStart(7)}  gpu topkSelect ${ms(gpu)}  cpu sort ${ms(sortValues)} (cpu/gpu ${(sortValues / gpu).toFixed(2)}x)` +
        `  cpu argsort ${ms(argsort)} (cpu/gpu ${(argsort / gpu).toFixed(2)}x)`,
    );
    rt.release(tk);
    rt.release(out);
  }
}

async function main(): Promise<void> {
  const acquired = await acquireNodeDevice();
  const info = acquired.adapterInfo;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`device: ${[info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown'}`);
  const rt = new GpuRuntime(acquired.device);
  await benchTopk(rt, log, { scale: Number(process.env.BENCH_SCALE ?? '1') });
  rt.destroy();
}

// Runs only as the entry point, so bench/bench.ts may import benchTopk without starting a second bench.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench topk: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
