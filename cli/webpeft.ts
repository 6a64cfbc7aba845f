/**
 * webpeft command line: `npm run webpeft -- <command> [flags]`. User errors print one line and exit 1.
 */
import { FlagReader, UsageError, parseFlags } from './args';
import { logitsCommand, spectrumCommand, trainCommand } from './commands';

const USAGE = `usage: webpeft <command> [flags]
  train     --model DIR --data FILE --out DIR [--merged DIR]
            [--method lora|pissa|milora|olora|svfit|sorsa|loraxs|lorasb|eva|adalora]
            [--rank R --alpha A --targets q_proj,v_proj --rslora --dropout P --init default|gaussian (lora)]
            [--steps N --lr LR --batch B --seq-len T --grad-accum K --warmup W --schedule cosine|constant
             --weight-decay WD --beta1 B1 --beta2 B2 --eps E --max-grad-norm C --val-every N --val-fraction F
             --seed S --all-tokens --on-bad-line skip|refuse --spectra-every N]
            method options (each refused by the methods it does not apply to):
              pissa, milora, svfit, sorsa, loraxs: --svd exact|randomized  --power-iters N (randomized)
              svfit: --svfit-energy E     sorsa: --sorsa-gamma G     lorasb: --lorasb-batches N
              eva: --eva-batches N --eva-rho RHO
              adalora: --adalora-init-r R --adalora-tinit N --adalora-tfinal N --adalora-delta-t N
                       --adalora-beta1 B --adalora-beta2 B --adalora-orth-reg W
            writes adapter_config.json, adapter_model.safetensors, metrics.jsonl, and spectra.jsonl (one
            SpectraSnapshot per line) with --spectra-every; --merged DIR also writes the merged checkpoint there
  logits    --model DIR [--adapter DIR] --ids 1,2,3 --out FILE.json
  spectrum  --model DIR [--adapter DIR] --out FILE.json
            singular values of every 2-D weight (of W + ΔW where the adapter touches it):
            {"weights": {"<tensor name>": {"shape": [rows, cols], "singular_values": [...]}}}`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help' || rest.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const flags = new FlagReader(parseFlags(rest));
  if (command === 'train') await trainCommand(flags);
  else if (command === 'logits') await logitsCommand(flags);
  else if (command === 'spectrum') await spectrumCommand(flags);
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
