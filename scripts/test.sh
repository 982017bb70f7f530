#!/usr/bin/env bash
# The README's test command: set up what is missing, build (warnings as errors under CI), run CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WERROR=OFF
[[ "${CI:-}" == "true" ]] && WERROR=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSNARE_WERROR=$WERROR >/dev/null
cmake --build build -j"$(nproc)"
# Serial: training tests use every core themselves; running them side by side only thrashes.
ctest --test-dir build --output-on-failure --timeout 900 "$@"
