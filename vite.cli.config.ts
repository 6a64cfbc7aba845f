/** Builds the Node CLI and benchmarks (shaders inlined through ?raw) into dist-cli/. */
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    ssr: true,
    outDir: 'dist-cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: { webpeft: 'cli/webpeft.ts', bench: 'bench/bench.ts', pissa: 'bench/pissa.ts', sparse: 'bench/sparseVsLora.ts', topk: 'bench/topk.ts' },
      output: { format: 'es', entryFileNames: '[name].js' },
      external: ['webgpu', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
    },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
  logLevel: 'warn',
});
