#!/usr/bin/env bash
# The installed package works for a program of its own: install the build into a temporary prefix, build
# examples/reduce_my_model.cpp against it with find_package(snare), and run it on a small case (a real third-party
# LeNet-5 Keras file and 1,000 MNIST digits as the user's NPZ).
#   tests/install/example_test.sh BUILD_DIR
set -euo pipefail
build=$(realpath "$1")
cd "$(dirname "$0")/../.."
model=../shared/models/keras/lenet5_mnist_keras2.3.1_ryecatcher.h5
if [[ ! -f $model || ! -f data/mnist/train-images-idx3-ubyte ]]; then
  echo "skipped: needs $model and data/mnist"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
cmake -S examples -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > "$tmp/configure.log"
cmake --build "$tmp/build" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
/usr/bin/python3 - data/mnist "$tmp/digits.npz" <<'PYEOF'
import sys, numpy as np
root, out = sys.argv[1], sys.argv[2]
def idx(name, offset):
    return np.frombuffer(open(f"{root}/{name}", "rb").read(), np.uint8, offset=offset)
x = idx("train-images-idx3-ubyte", 16).reshape(-1, 28, 28)
y = idx("train-labels-idx1-ubyte", 8)
np.savez(out, x_train=x[:800], y_train=y[:800], x_test=x[800:1000], y_test=y[800:1000])
PYEOF
"$tmp/build/reduce_my_model" "$model" "npz:$tmp/digits.npz" "$tmp/small.h5" 0.02 | tee "$tmp/run.log"
grep -q "^non-zero parameters: " "$tmp/run.log"
test -s "$tmp/small.h5" && test -s "$tmp/small.onnx" && test -s "$tmp/small_report/report.json"
echo "example built against the installed package and ran"
