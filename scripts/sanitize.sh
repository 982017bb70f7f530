#!/usr/bin/env bash
# The sanitizer build: clang with AddressSanitizer, UndefinedBehaviorSanitizer (and LeakSanitizer, part of ASan)
# in build-sanitize/, with the libFuzzer targets of fuzz/. Runs the tests of the modules that read untrusted
# bytes (common, ir, data, and the fuzz regressions); any sanitizer report fails its test. Each test program runs
# once with all its tests (not one process per test as under CTest: LibTorch takes 2 s to start under ASan).
#
#   bash scripts/sanitize.sh                 # set up, build, run those tests (extra arguments go to each program)
#   bash scripts/sanitize.sh --build-only    # what scripts/fuzz.sh needs
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [[ "${1:-}" == "--build-only" ]]; then
  build_only=1
  shift
fi
bash scripts/setup.sh
BUILD=build-sanitize
# -O1 with line tables only: reports keep file and line, and the build takes a fifth less time than at -O2 -g.
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DSNARE_SANITIZE=ON -DSNARE_FUZZ=ON \
  -DSNARE_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target test_common test_ir test_data test_fuzz fuzz_all
((build_only)) && exit 0
source scripts/sanitizer_env.sh
failed=0
for module in common ir data fuzz; do
  echo "sanitize: test_$module"
  "$BUILD/tests/$module/test_$module" --gtest_brief=1 "$@" || failed=1
done
exit $failed
