#!/usr/bin/env bash
# The one test command (README): type check, unit + kernel tests on real WebGPU (Dawn/SwiftShader without a GPU),
# then the Playwright end-to-end tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/swiftshader-env.sh
npx tsc --noEmit -p tsconfig.json
npx vitest run
npx playwright test
