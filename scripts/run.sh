#!/usr/bin/env bash
# The README's main job on the built-in default: set up, build, then train LeNet-5 on MNIST and
# evaluate it. Outputs go to out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target snare
mkdir -p out
build/snare analyze --arch lenet5
build/snare train --arch lenet5 --data mnist --epochs 3 --seed 1 -o out/lenet5.h5
build/snare eval out/lenet5.h5 --data mnist
