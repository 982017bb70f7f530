# Sourced by bench/lenet5_mnist, bench/lenet5_caffe_mnist and bench/har: runs `snare reduce` from
# scratch on a built-in architecture for one or more seeds and prints, per seed and as the last line,
# one JSON object with the keys of docs/benchmarks.md (mean and standard deviation over seeds).
#   reduce_bench ARCH DATA MAX_LOSS SEEDS [extra snare reduce flags...]
# SEEDS: N for seeds 1..N, or a list of seeds ("3 4 5"). Runs seeds one after the other; to use more cores, start
# one bench per seed list (with SNARE_THREADS=1).
source "$(dirname "${BASH_SOURCE[0]}")/machine.sh"

reduce_bench() {
  local arch=$1 data=$2 max_loss=$3 seeds=$4
  shift 4
  local build=${SNARE_BUILD:-build} outdir=${SNARE_BENCH_OUT:-out/bench}
  [[ -x $build/snare ]] || { echo "build first: cmake --build $build --target snare" >&2; return 1; }
  mkdir -p "$outdir"
  local machine lines=()
  machine=$(machine_description)
  echo "machine: $machine" >&2
  local seed_list=($seeds)
  ((${#seed_list[@]} == 1)) && seed_list=($(seq 1 "$seeds"))
  for seed in "${seed_list[@]}"; do
    local out="$outdir/${arch}_s${seed}.h5" report="$outdir/${arch}_s${seed}_report" t0 t1
    rm -rf "$report"
    t0=$(date +%s.%N)
    "$build/snare" reduce --arch "$arch" --data "$data" --seed "$seed" --max-loss "$max_loss" -o "$out" \
      --report "$report" "$@" >&2
    t1=$(date +%s.%N)
    local line
    line=$(python3 - "$report/report.json" "$arch" "$machine" "$t0" "$t1" "$seed" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
b, f = r["baseline"], r["final"]
out = {"model": sys.argv[2], "seed": int(sys.argv[6]),
       "baseline_test_accuracy": b["test_accuracy"], "final_test_accuracy": f["test_accuracy"],
       "test_accuracy_loss_pp": round(100 * (b["test_accuracy"] - f["test_accuracy"]), 3),
       "baseline_val_accuracy": b["val_accuracy"], "final_val_accuracy": f["val_accuracy"],
       "baseline_params": b["params"], "final_params": f["params"], "final_nonzero_params": f["nonzero_params"],
       "final_macs": f["macs"],
       "param_reduction": round(b["params"] / f["params"], 3),
       "nonzero_reduction": round(b["params"] / max(1, f["nonzero_params"]), 3),
       "mac_reduction": round(b["macs"] / max(1, f["macs"]), 3),
       "test_only_baseline_correct": r.get("test_comparison", {}).get("baseline_only_correct"),
       "test_only_final_correct": r.get("test_comparison", {}).get("final_only_correct"),
       "test_mcnemar_p": r.get("test_comparison", {}).get("mcnemar_p"),
       "final_confirm_accuracy": f.get("confirm_accuracy"),
       "val_loss_pp": round(100 * (b["val_accuracy"] - f["val_accuracy"]), 3),
       "confirm_loss_pp": (round(100 * (b["confirm_accuracy"] - f["confirm_accuracy"]), 3)
                           if b.get("confirm_accuracy") is not None else None),
       "rule": r["options"].get("rule", "accuracy-se"),
       "walked_back": r.get("tolerance", {}).get("walked_back", False),
       "steps": len(r["steps"]), "wall_seconds": round(float(sys.argv[5]) - float(sys.argv[4]), 1),
       "timing": {k: round(v, 1) for k, v in r.get("timing", {}).items()},
       "machine": sys.argv[3]}
print(json.dumps(out))
PYEOF
)
    echo "$line"
    lines+=("$line")
  done
  if ((${#seed_list[@]} > 1)); then
    python3 - "${lines[@]}" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
out = dict(runs[-1]); out.pop("seed")
out["seeds"] = len(runs)
for k in ("final_test_accuracy", "test_accuracy_loss_pp", "param_reduction", "nonzero_reduction", "mac_reduction",
          "final_nonzero_params", "wall_seconds", "baseline_test_accuracy"):
    vals = [r[k] for r in runs]
    out[k] = round(statistics.mean(vals), 4)
    out[k + "_std"] = round(statistics.stdev(vals), 4)
print(json.dumps(out))
PYEOF
  fi
}
