#!/usr/bin/env bash
# The README's test command: set up what is missing, build (warnings as errors under CI), run CTest, then the
# sanitizer tests and the fuzzing smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WERROR=OFF
[[ "${CI:-}" == "true" ]] && WERROR=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSNARE_WERROR=$WERROR >/dev/null
cmake --build build -j"$(nproc)"
# Serial: training tests use every core themselves; running them side by side only thrashes.
ctest --test-dir build --output-on-failure --timeout 900 "$@"
# Then the sanitizer build's tests and a fuzzing smoke run of every reader (docs/hardening.md).
# SNARE_SKIP_SANITIZE=1 skips them (a quick local run).
if [[ "${SNARE_SKIP_SANITIZE:-}" != 1 ]]; then
  bash scripts/sanitize.sh
  bash scripts/fuzz.sh --smoke
fi
