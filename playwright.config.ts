/**
 * End-to-end tests of the real page in Chromium with real WebGPU. Without a GPU, `--enable-unsafe-webgpu` is what
 * gives headless Chromium an adapter (SwiftShader's Vulkan, shipped with Debian's chromium); every other flag below
 * only keeps the browser quiet and offline. Training on SwiftShader is slow, hence the long timeouts.
 *
 * CHROMIUM_PATH picks another Chromium; WEBPEFT_E2E_SWIFTSHADER=1 forces SwiftShader even where a GPU exists.
 */
import { defineConfig, devices } from '@playwright/test';

const webgpuArgs = [
  '--enable-unsafe-webgpu',
  ...(process.env.WEBPEFT_E2E_SWIFTSHADER ? ['--use-webgpu-adapter=swiftshader'] : []),
];
const quietArgs = ['--disable-background-networking', '--disable-component-update', '--disable-sync'];

export default defineConfig({
  testDir: 'e2e',
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 10 * 60_000,
  expect: { timeout: 30_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  outputDir: 'test-results',
  webServer: {
    command: 'npx vite --port 5173 --strictPort',
    url: 'http://localhost:5173',
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
  use: {
    baseURL: 'http://localhost:5173',
    acceptDownloads: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
          // Containers usually run as root, where Chromium's sandbox cannot start.
          args: [...webgpuArgs, '--no-sandbox', ...quietArgs],
        },
      },
    },
  ],
});
