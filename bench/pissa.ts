/** `npm run bench:pissa`: PiSSA initialisation time for every target layer of a SmolLM2-135M-shaped model. */
import { runPissaInitBench } from './pissaInit';

runPissaInitBench(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:pissa: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
