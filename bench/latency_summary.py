"""Summaries for bench/latency, reading the JSON lines of bench_latency and ort_latency.js.
  floor           stdin: ort_latency lines of the one-node model -> ONNX Runtime's fixed cost per call
  row             stdin: all lines of one model -> one object of medians ("1t" one thread, "mt" default)
  pair A B ROW_A ROW_B -> the comparison line: medians, speed-ups, speed-up over the MAC reduction
"""
import json
import sys


def key(r):
    one = r.get("threads") in (1, "1")
    name = {"onnxruntime": "ort", "onnxruntime-c++": "ort_cxx"}.get(r["runtime"], "libtorch")
    return f"{name}_{'1t' if one else 'mt'}_b{r['batch']}_ms"


def main(argv):
    if argv[1] == "floor":
        rows = [json.loads(l) for l in sys.stdin]
        print(json.dumps({"onnxruntime_call_floor_ms": {key(r)[:-3]: r["median_ms"] for r in rows}}))
    elif argv[1] == "row":
        out = {}
        for line in sys.stdin:
            r = json.loads(line)
            out[key(r)] = r["median_ms"]
            if "macs" in r:
                out["macs"] = r["macs"]
        print(json.dumps(out))
    elif argv[1] == "pair":
        a, b = json.loads(argv[4]), json.loads(argv[5])
        mac = a["macs"] / b["macs"]
        out = {"original": argv[2], "reduced": argv[3], "mac_reduction": round(mac, 3)}
        for k in sorted(a):
            if k == "macs" or k not in b:
                continue
            speedup = a[k] / b[k]
            out[k] = [a[k], b[k]]
            out[k.replace("_ms", "_speedup")] = round(speedup, 3)
            out[k.replace("_ms", "_speedup_over_mac_reduction")] = round(speedup / mac, 3)
        print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
