/**
 * The adapter fields the methods share, as far as the chosen method reads them: rank, alpha, rsLoRA, dropout,
 * which linear layers it wraps, and (LoRA, DSEE) how A starts; then the chosen method's own options.
 */
import { loraUse, NORMS_TARGETS_NOTE } from '../methods';
import { useStudio } from '../store';
import { targetChoices } from '../store/defaults';
import { MethodOptionsFields } from './MethodOptionsFields';
import { NumberField } from './NumberField';
import { TrainableCount } from './TrainableCount';

function TargetPicker({ used }: { used: boolean }) {
  const model = useStudio((s) => (s.model.status === 'ready' ? s.model.value : null));
  const targets = useStudio((s) => s.settings.lora.targets);
  const toggle = useStudio((s) => s.toggleTarget);
  if (!used) return <p className="muted small" data-testid="targets-unused">{NORMS_TARGETS_NOTE}</p>;
  if (!model) {
    return <p className="muted small">Load a model to choose target modules (default: {targets.join(', ')}).</p>;
  }
  return (
    <div className="targets" role="group" aria-label="Target modules" data-testid="lora-targets">
      {targetChoices(model).map((name) => (
        <label key={name} className="check chip">
          <input type="checkbox" data-testid={`target-${name}`} checked={targets.includes(name)} onChange={(e) => toggle(name, e.target.checked)} />
          <span className="mono">{name}</span>
        </label>
      ))}
    </div>
  );
}

/** How A starts (B starts at zero); the other methods derive their factors from the weights. */
function InitChoice() {
  const init = useStudio((s) => s.settings.lora.initLoraWeights);
  const setLora = useStudio((s) => s.setLora);
  return (
    <label className="field" title="A is initialised this way; B starts at zero, so the adapter starts as a no-op">
      <span>Init of A</span>
      <select data-testid="setting-init" value={init} onChange={(e) => setLora({ initLoraWeights: e.target.value === 'gaussian' ? 'gaussian' : 'default' })}>
        <option value="default">Kaiming (PEFT)</option>
        <option value="gaussian">Gaussian</option>
      </select>
    </label>
  );
}

export function LoraFields() {
  const lora = useStudio((s) => s.settings.lora);
  const setLora = useStudio((s) => s.setLora);
  const method = useStudio((s) => s.settings.method);
  const matchLoraRank = useStudio((s) => s.settings.options.matchLoraRank);
  const use = loraUse(method, { matchLoraRank });
  const anyField = use.rank || use.alpha || use.dropout || use.init;
  return (
    <fieldset className="group">
      <legend>Adapter</legend>
      {anyField && (
        <div className="grid">
          {use.rank && <NumberField label="Rank r" testId="setting-rank" integer min={1} value={lora.rank} hint={use.rankHint} onCommit={(rank) => setLora({ rank })} />}
          {use.alpha && (
            <NumberField
              label="Alpha"
              testId="setting-alpha"
              min={0}
              value={lora.alpha}
              onCommit={(alpha) => setLora({ alpha })}
              hint={`scale = ${lora.useRslora ? 'α/√r' : 'α/r'}`}
            />
          )}
          {use.dropout && <NumberField label="Dropout" testId="setting-dropout" min={0} max={0.99} value={lora.dropout} onCommit={(dropout) => setLora({ dropout })} />}
          {use.init && <InitChoice />}
          {use.alpha && (
            <label className="check">
              <input type="checkbox" data-testid="setting-rslora" checked={lora.useRslora} onChange={(e) => setLora({ useRslora: e.target.checked })} />
              <span>rsLoRA (α/√r scaling)</span>
            </label>
          )}
        </div>
      )}
      <p className="label">Target modules</p>
      <TargetPicker used={use.targets} />
      <MethodOptionsFields />
      <TrainableCount />
    </fieldset>
  );
}
