#!/usr/bin/env bash
# Runs a built Node entry with WebGPU available (SwiftShader when the machine has no GPU driver configured).
source "$(dirname "$0")/swiftshader-env.sh"
exec node "$@"
