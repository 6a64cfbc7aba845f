/** Training throughput of the whole engine: LoRA on the bundled stories260K with the bundled sample text. */
import { join } from 'node:path';
import { namedBlobFromFile, namedBlobsFromDir } from '../src/formats/nodeFiles';
import { nodeGpu } from '../src/gpu/node';
import type { StepMetrics, TrainSettings } from '../src/run/api';
import { Session } from '../src/run/session';

export async function benchTraining(log: (line: string) => void, root = process.cwd()): Promise<void> {
  const session = new Session(await nodeGpu());
  await session.init();
  await session.loadModel(await namedBlobsFromDir(join(root, 'public', 'sample', 'stories260K')));
  const seqLen = 32;
  await session.loadDataset(await namedBlobFromFile(join(root, 'public', 'sample', 'tinyshakespeare-excerpt.txt')), { onBadLine: 'skip', valFraction: 0, seed: 1, trainOnAllTokens: false, seqLen });
  const s: TrainSettings = {
    method: 'lora',
    lora: { rank: 8, alpha: 16, useRslora: false, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], initLoraWeights: 'default' },
    steps: 8, batchSize: 4, seqLen, gradAccum: 1, lr: 1e-3, warmupSteps: 0, schedule: 'constant',
    weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 0, seed: 1,
  };
  const metrics: StepMetrics[] = [];
  await session.train(s, (m) => metrics.push(m));
  // The first steps include pipeline compilation; report the steady state.
  const steady = metrics.slice(2).map((m) => m.tokensPerS);
  const mean = steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length);
  log(`training stories260K LoRA r8 (q,k,v,o), batch ${s.batchSize} × ${seqLen}: ${mean.toFixed(0)} tokens/s (mean of steps 3-${s.steps})`);
}
