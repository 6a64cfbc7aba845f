/** Step 3: the method, its adapter and the optimisation. Locked while a run is going. */
import { useStudio } from '../store';
import { LoraFields } from './LoraFields';
import { MethodPicker } from './MethodPicker';
import { TrainFields } from './TrainFields';

export function SettingsForm() {
  const running = useStudio((s) => s.run.status === 'running');
  return (
    <form className="settings" data-testid="settings-form" onSubmit={(e) => e.preventDefault()}>
      <fieldset className="plain" disabled={running}>
        <MethodPicker />
        <LoraFields />
        <TrainFields />
      </fieldset>
    </form>
  );
}
