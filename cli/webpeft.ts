/**
 * webpeft command line: `npm run webpeft -- <command> [flags]`. User errors print one line and exit 1.
 */
import { FlagReader, UsageError, parseFlags } from './args';
import { logitsCommand, trainCommand } from './commands';

const USAGE = `usage: webpeft <command> [flags]
  train   --model DIR --data FILE --out DIR [--method lora --rank R --alpha A --targets q_proj,v_proj --rslora
          --dropout P --steps N --lr LR --batch B --seq-len T --grad-accum K --warmup W --schedule cosine|constant
          --weight-decay WD --max-grad-norm C --val-every N --val-fraction F --seed S --all-tokens --on-bad-line skip|refuse]
  logits  --model DIR [--adapter DIR] --ids 1,2,3 --out FILE.json`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const flags = new FlagReader(parseFlags(rest));
  if (command === 'train') await trainCommand(flags);
  else if (command === 'logits') await logitsCommand(flags);
  else throw new UsageError(`unknown command "${command}"\n${USAGE}`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`webpeft: ${message}\n`);
    if (process.env.WEBPEFT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  },
);
