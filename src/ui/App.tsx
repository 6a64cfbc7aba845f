/** The page: a header, the alert region, and seven steps from checkpoint to downloaded adapter or merged model. */
import { AdapterLoader } from './components/AdapterLoader';
import { AlertRegion } from './components/AlertRegion';
import { DatasetCard } from './components/DatasetCard';
import { DatasetLoader } from './components/DatasetLoader';
import { DeviceBadge } from './components/DeviceBadge';
import { DownloadPanel } from './components/DownloadPanel';
import { ModelCard } from './components/ModelCard';
import { ModelLoader } from './components/ModelLoader';
import { SamplePanel } from './components/SamplePanel';
import { Section } from './components/Section';
import { SettingsForm } from './components/SettingsForm';
import { SpectraPanel } from './components/SpectraPanel';
import { TrainPanel } from './components/TrainPanel';

function Header() {
  return (
    <header className="page-head">
      <div>
        <h1>webpeft — fine-tune in your browser</h1>
        <p className="tagline">Runs on your GPU through WebGPU. Nothing leaves this machine.</p>
      </div>
      <DeviceBadge />
    </header>
  );
}

export function App() {
  return (
    <div className="page">
      <Header />
      <AlertRegion />
      <main className="steps">
        <Section step={1} title="Model" subtitle="A Hugging Face checkpoint folder (Llama, Qwen2, SmolLM, GPT-2 families)" testId="section-model">
          <ModelLoader />
          <ModelCard />
        </Section>
        <Section step={2} title="Dataset" subtitle="Plain text, instructions or chats" testId="section-dataset">
          <DatasetLoader />
          <DatasetCard />
        </Section>
        <Section step={3} title="Settings" subtitle="A method, the adapter it trains on the targeted linear layers, and the optimiser" testId="section-settings">
          <SettingsForm />
        </Section>
        <Section step={4} title="Train" subtitle="Live loss on your GPU" testId="section-train">
          <TrainPanel />
        </Section>
        <Section
          step={5}
          title="Spectra"
          subtitle="Singular values of the target weights before training, and of the update while it trains; for sparse methods, the entries each layer trains"
          testId="section-spectra"
        >
          <SpectraPanel />
        </Section>
        <Section step={6} title="Try it" subtitle="Generate before and after" testId="section-samples">
          <SamplePanel />
        </Section>
        <Section
          step={7}
          title="Download"
          subtitle="A PEFT adapter (adapter_config.json + adapter_model.safetensors) or, where PEFT has no format, a webpeft delta; or the merged model. Or open an adapter folder to measure, sample and merge it here"
          testId="section-download"
        >
          <DownloadPanel />
          <AdapterLoader />
        </Section>
      </main>
      <footer className="page-foot muted small">
        webpeft trains adapters locally; the sample model is Karpathy&apos;s stories260K (MIT) and the sample text is
        from tinyshakespeare (public domain). See <a href={`${import.meta.env.BASE_URL}sample/SOURCE.md`}>sample sources</a>.
      </footer>
    </div>
  );
}
