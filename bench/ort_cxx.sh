# Sourced by bench/latency: builds bench/ort_latency.cpp against ONNX Runtime's C++ API.
# The library is the libonnxruntime of the npm onnxruntime-node package (node_modules, installed by
# scripts/setup.sh); the official headers of the same API come from the npm package
# com.github.asus4.onnxruntime (ONNX Runtime's release headers, API version 29, which the 1.30 library
# serves), unpacked once into .cache/onnxruntime-headers. Prints the binary's path, or nothing (with a
# reason on stderr) when the headers cannot be had.
ORT_HEADERS_PACKAGE=com.github.asus4.onnxruntime@0.4.9

ort_cxx_binary() {
  local build=${SNARE_BUILD:-build} cache=.cache/onnxruntime-headers
  local lib=node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
  local bin=$build/bench/ort_latency_cxx
  [[ -f $lib ]] || { echo "ort_cxx: $lib missing (bash scripts/setup.sh)" >&2; return 0; }
  if [[ ! -f $cache/onnxruntime_cxx_api.h ]]; then
    local tmp
    tmp=$(mktemp -d)
    if (cd "$tmp" && npm pack --silent "$ORT_HEADERS_PACKAGE" >/dev/null 2>&1); then
      mkdir -p "$cache.tmp"
      tar xzf "$tmp"/*.tgz -C "$tmp" --wildcards 'package/LICENSE' \
        'package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/*'
      cp "$tmp"/package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/*.h \
        "$tmp/package/LICENSE" "$cache.tmp/"
      rm -rf "$cache" && mv "$cache.tmp" "$cache"
    fi
    rm -rf "$tmp"
    [[ -f $cache/onnxruntime_cxx_api.h ]] || { echo "ort_cxx: could not fetch $ORT_HEADERS_PACKAGE" >&2; return 0; }
  fi
  if [[ ! -x $bin || bench/ort_latency.cpp -nt $bin ]]; then
    mkdir -p "$(dirname "$bin")"
    g++ -std=c++17 -O2 -I"$cache" bench/ort_latency.cpp "$(realpath "$lib")" \
      -Wl,-rpath,"$(realpath "$(dirname "$lib")")" -o "$bin" || { echo "ort_cxx: build failed" >&2; return 0; }
  fi
  echo "$bin"
}
