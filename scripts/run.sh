#!/usr/bin/env bash
# The README's main job on the built-in default: set up, build, then train LeNet-5 on MNIST the way Keras'
# model.fit does by default (8 epochs of Adam 1e-3, batch 32: the kind of model the reference SNARE reduced)
# and reduce it with the SNARE search (max 0.39 points accuracy loss). Outputs go to out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target snare
mkdir -p out
build/snare reduce --arch lenet5 --data mnist --seed 1 --max-loss 0.39 --baseline-recipe keras \
  -o out/lenet5_reduced.h5 --report out/lenet5_reduced_report
