/**
 * webpeft command line: `npm run webpeft -- <command> [flags]`. User errors print one line and exit 1.
 */
import { FlagReader, UsageError, parseFlags } from './args';
import { exportCommand, logitsCommand, spectrumCommand, trainCommand } from './commands';

const USAGE = `usage: webpeft <command> [flags]
  train     --model DIR --data FILE --out DIR [--merged DIR] [--format peft|webpeft-delta]
            [--method lora|pissa|milora|olora|svfit|sorsa|loraxs|lorasb|eva|adalora
                      |sparse|sara|subnet|dsee|bitfit|ia3|ssf|norms]
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
              sparse, subnet, dsee: --density D (0 < D ≤ 1)  or  --match-lora-rank (r·(in + out) entries, r = --rank)
              sparse: --sparse-init random|gradient|magnitude --regrow-every N (0: never) --regrow-fraction F
                      --regrow-until F --candidate-factor C
              sara: --sara-fraction F --sara-reselect-at F (0: never) --sara-nuclear λ --sara-nuclear-rank K (0: all)
              subnet (and sparse with --sparse-init gradient): --subnet-batches N --subnet-score abs|fisher
              ia3: --ia3-feedforward a,b (targets that scale their input)
            --targets defaults to q_proj,v_proj; for ia3 to PEFT's (k_proj,v_proj,down_proj; GPT-2: c_attn,mlp.c_proj);
            sparse, sara, subnet, bitfit, ia3, ssf, norms refuse --alpha/--rslora/--dropout (no low-rank factors)
            writes the adapter (adapter_config.json + adapter_model.safetensors in PEFT's format where PEFT has
            the method, else or with --format webpeft-delta webpeft_delta.json + webpeft_delta.safetensors),
            metrics.jsonl, spectra.jsonl (one SpectraSnapshot per line) with --spectra-every, sparsity.jsonl (one
            SparsitySnapshot per line) for sparse, sara, subnet and dsee; --merged DIR also writes the merged checkpoint
  export    --model DIR --adapter DIR --out DIR [--format safetensors]
            merges the adapter (PEFT LoRA/AdaLoRA/IA3/SHiRA or a webpeft delta) into the base and writes the
            checkpoint transformers loads: config.json, model.safetensors and the tokenizer files
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
  else if (command === 'export') await exportCommand(flags);
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
