#!/usr/bin/env bash
# Fuzzes every reader of untrusted bytes (fuzz/readers.h) with libFuzzer, under ASan and UBSan (build-sanitize/).
#
#   bash scripts/fuzz.sh --smoke                       # 10 s per reader (CI)
#   bash scripts/fuzz.sh --minutes 30 [READER...]      # a campaign: N minutes per reader
#   bash scripts/fuzz.sh --minutes 10 --parallel 2     # two readers at a time
#
# Seeds: fuzz_make_seeds' files (built-in and test models in every format, small data files), the small real
# models and data of ../shared, and tests/fuzz/regressions. New inputs grow build-sanitize/fuzz/corpus/<reader>/.
# A crash, hang, leak or sanitizer report stops that reader, saves the input under build-sanitize/fuzz/crashes/
# and fails the script; once fixed, the input goes to tests/fuzz/regressions/<reader>/, which CTest replays.
# A memory error inside HDF5 itself is counted and kept apart, and fuzzing goes on (docs/hardening.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
smoke=0
parallel=1
readers=()
while (($#)); do
  case "$1" in
    --smoke) seconds=10; smoke=1; shift ;;
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) readers+=("$1"); shift ;;
  esac
done
((${#readers[@]})) || readers=(keras_h5 keras_zip keras_config onnx idx arff npy csv npz h5_data image)

bash scripts/sanitize.sh --build-only
source scripts/sanitizer_env.sh
BUILD=build-sanitize
OUT=$BUILD/fuzz
SHARED=${SNARE_SHARED:-../shared}
rm -rf "$OUT/seeds"
"$BUILD/fuzz/fuzz_make_seeds" "$OUT/seeds" >/dev/null
# Real third-party files, up to 1.2 MB each (larger ones slow every execution more than they add).
add_shared() {  # READER FILE...
  local reader=$1; shift
  for f in "$@"; do
    [[ -f "$f" && $(stat -c %s "$f") -le 1200000 ]] && cp "$f" "$OUT/seeds/$reader/"
  done
  return 0
}
add_shared keras_h5 "$SHARED"/models/keras/*.h5 "$SHARED"/models/keras/zoo/*.h5
add_shared keras_zip "$SHARED"/models/keras/*.keras
add_shared onnx "$SHARED"/models/onnx/*.onnx
# A user's data files, written by the libraries users write them with (NumPy, h5py, Pillow; scripts/setup.sh).
/usr/bin/python3 - "$OUT/seeds" <<'PYEOF'
import io, os, sys
import h5py, numpy as np
from PIL import Image
out = sys.argv[1]
for d in ("npz", "h5_data", "image"):
    os.makedirs(os.path.join(out, d), exist_ok=True)
rng = np.random.default_rng(1)
x = rng.integers(0, 255, (6, 4, 4), dtype=np.uint8)
y = np.array([0, 1, 2, 0, 1, 2], dtype=np.int64)
np.savez(os.path.join(out, "npz", "plain.npz"), x_train=x, y_train=y, x_test=x[:3], y_test=y[:3])
np.savez_compressed(os.path.join(out, "npz", "compressed.npz"), x_train=x.astype(np.float32) / 255,
                    y_train=y.astype(np.uint8), x_test=x[:2].astype(np.float32), y_test=y[:2].astype(np.uint8))
with h5py.File(os.path.join(out, "h5_data", "arrays.h5"), "w") as f:
    f["x_train"], f["y_train"], f["x_test"], f["y_test"] = x, y, x[:3], y[:3]
with h5py.File(os.path.join(out, "h5_data", "chunked.h5"), "w") as f:
    f.create_dataset("x_train", data=x.astype(np.float16), chunks=(2, 4, 4), compression="gzip")
    f.create_dataset("y_train", data=y.astype(np.uint16))
    f.create_dataset("x_test", data=x[:2].astype(np.float64))
    f.create_dataset("y_test", data=y[:2].astype(np.int32))
rgb = rng.integers(0, 255, (5, 6, 3), dtype=np.uint8)
Image.fromarray(rgb).save(os.path.join(out, "image", "rgb.png"))
Image.fromarray(rgb[:, :, 0]).save(os.path.join(out, "image", "gray.png"))
Image.fromarray(rgb).save(os.path.join(out, "image", "rgb.jpg"), quality=90)
Image.fromarray(rgb).save(os.path.join(out, "image", "rgb.bmp"))
PYEOF
arff="$SHARED/data/wisdm/WISDM_ar_v1.1_transformed.arff"
[[ -f "$arff" ]] && head -n 60 "$arff" > "$OUT/seeds/arff/wisdm_head.arff"

# True when the log's report starts inside HDF5: its first frame past the runtimes, malloc, libc's mem* functions and
# the signal trampoline is in libhdf5. Reports: a sanitizer's; libFuzzer's out-of-memory on one huge malloc, or past
# the RSS limit (its first frame is where the most live memory was allocated); libFuzzer's timeout (where the run
# was when the alarm came). HDF5 1.10's own errors on damaged files (docs/hardening.md), not snare's: the input is
# kept apart and fuzzing goes on. (`sed -n 1p`, not `head -1`: head's early exit kills the greps before it with
# SIGPIPE, which under pipefail failed the test now and then, and HDF5's own crashes failed the run.)
inside_hdf5() {
  local first
  first=$(grep -A40 -E "ERROR: (AddressSanitizer|libFuzzer: (out-of-memory|timeout))" "$1" | grep -E "^ +#[0-9]+ " |
    grep -v -E "fuzzer::|__sanitizer|__asan|__interceptor| in (malloc|calloc|realloc|memcpy|memmove|memset)|sysdeps" |
    grep -v -E "^ +#[0-9]+ 0x[0-9a-f]+ +\(/lib/x86_64-linux-gnu/libc\.so" | sed -n 1p || true)
  [[ $first == *libhdf5* ]]
}

run_one() {  # READER: prints one summary line; returns non-zero on a finding
  local r=$1 log="$OUT/logs/$1.log"
  rm -rf "$OUT/crashes/$r"
  mkdir -p "$OUT/corpus/$r" "$OUT/crashes/$r" "$OUT/logs"
  local dirs=("$OUT/corpus/$r" "$OUT/seeds/$r")
  [[ -d tests/fuzz/regressions/$r ]] && dirs+=("tests/fuzz/regressions/$r")
  local remaining=$seconds execs=0 known=0 status cov="" started elapsed n seed_flag=()
  while ((remaining > 0)); do
    started=$(date +%s)
    status=0
    # The smoke run draws fixed seeds (1, then 2 after a restart, ...): a CI run fuzzes what the last one did, so a
    # finding there is reproducible and not luck. Campaigns draw random ones.
    ((smoke)) && seed_flag=(-seed=$((known + 1)))
    "$BUILD/fuzz/fuzz_$r" "${dirs[@]}" "${seed_flag[@]}" -max_total_time="$remaining" -timeout=30 \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$OUT/crashes/$r/" >"$log" 2>&1 ||
      status=$?
    n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    execs=$((execs + ${n:-0}))
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    ((status)) || break
    # Past the RSS limit, libFuzzer shows no allocation. Run the input once more with room to spare: a damaged object
    # header can make HDF5 grow its cache for seconds and then ask for 16 GB; that report says where it happened.
    local oom
    oom=$(ls "$OUT/crashes/$r"/oom-* 2>/dev/null | head -1 || true)
    if [[ -n $oom ]] && grep -q "libFuzzer: out-of-memory (used:" "$log"; then
      "$BUILD/fuzz/fuzz_$r" "$oom" -rss_limit_mb=8192 -malloc_limit_mb=1024 >"$log.rerun" 2>&1 || true
      cat "$log.rerun" >>"$log"
    fi
    if inside_hdf5 "$log"; then
      known=$((known + 1))
      mkdir -p "$OUT/crashes/$r/hdf5"
      mv "$OUT"/crashes/"$r"/{crash,oom,timeout}-* "$OUT/crashes/$r/hdf5/" 2>/dev/null || true
      cp "$log" "$OUT/crashes/$r/hdf5/log-$known.txt"
      # At least a second per restart: an input that crashes HDF5 as the corpus loads must not loop for ever.
      elapsed=$(($(date +%s) - started))
      remaining=$((remaining - (elapsed > 0 ? elapsed : 1)))
      continue
    fi
    echo "fuzz: $r: FINDING after ${execs} executions (${cov}); log: $log"
    grep -m3 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz: BUG" "$log" | sed 's/^/  /'
    ls "$OUT/crashes/$r" | grep -v '^hdf5$' | sed "s|^|  saved: $OUT/crashes/$r/|"
    return 1
  done
  local note=""
  ((known)) && note=", $known inside HDF5 (kept in $OUT/crashes/$r/hdf5)"
  echo "fuzz: $r: ${execs} executions in ${seconds} s, ${cov}, corpus $(ls "$OUT/corpus/$r" | wc -l) inputs, 0 findings$note"
}

failed=0
running=0
for r in "${readers[@]}"; do
  [[ -x "$BUILD/fuzz/fuzz_$r" ]] || { echo "fuzz.sh: no reader '$r'" >&2; exit 2; }
  if ((parallel > 1)); then
    run_one "$r" &
    running=$((running + 1))
    if ((running >= parallel)); then wait -n || failed=1; running=$((running - 1)); fi
  else
    run_one "$r" || failed=1
  fi
done
while ((running > 0)); do wait -n || failed=1; running=$((running - 1)); done
exit $failed
