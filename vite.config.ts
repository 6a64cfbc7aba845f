/**
 * The browser build: the page (index.html → src/ui/main.tsx) and the trainer worker (workers/trainer.worker.ts,
 * found through `new Worker(new URL(...), { type: 'module' })`). The CLI has its own config (vite.cli.config.ts) and
 * vitest has vitest.config.ts, so everything here is browser-only.
 *
 * Shaders are imported as text with `?raw`, which Vite handles natively; no assetsInclude is needed.
 */
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

/** Modules that only run in Node: the Dawn entry (npm `webgpu`, a native addon) and the filesystem readers. */
const NODE_ONLY_FILES = [/[\\/]src[\\/]gpu[\\/]node\.ts$/, /[\\/]src[\\/]formats[\\/]nodeFiles\.ts$/];
const NODE_ONLY_PACKAGES = ['webgpu'];

/** Fails the build (and the dev server request) when a browser module graph reaches a Node-only module. */
function noNodeOnlyModules(): Plugin {
  return {
    name: 'webpeft:no-node-only-modules',
    enforce: 'pre',
    resolveId(source, importer) {
      const bare = source.split('/')[0];
      if (NODE_ONLY_PACKAGES.includes(bare)) {
        this.error(`"${source}" is Node-only (Dawn native addon) and must not be imported by browser code (from ${importer ?? '?'})`);
      }
      return null;
    },
    load(id) {
      const file = id.split('?')[0];
      if (NODE_ONLY_FILES.some((re) => re.test(file))) {
        this.error(`${file} is Node-only and must not be imported by the page or the worker`);
      }
      return null;
    },
  };
}

export default defineConfig({
  plugins: [noNodeOnlyModules(), react()],
  worker: {
    format: 'es',
    plugins: () => [noNodeOnlyModules()],
  },
  optimizeDeps: {
    // The dependency scanner does not follow `new Worker(new URL(...))`: list the worker as an entry so its
    // dependencies (tokenizers, jinja, comlink) are pre-bundled at start-up. Discovered later, they would make the
    // dev server re-optimise and reload the page in the middle of a session (or an e2e test).
    entries: ['index.html', 'workers/trainer.worker.ts'],
    // Keep the native addon out even if something mentions it.
    exclude: ['webgpu'],
  },
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  server: { port: 5173 },
  preview: { port: 4173 },
});
