// Loading time against graph size: a chain of N ReLU layers written by snare as ONNX and as Keras .h5, then read
// back (median of 3 reads). Prints one JSON line per format and size with the microseconds per layer, which stays
// flat when loading is linear in the number of layers.
//   bench_graph_load [N ...]   (default 1000 5000 10000 20000)
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "arch/builder.h"
#include "io/model_file.h"

namespace {

double seconds_to_load(const std::string& path) {
  std::vector<double> runs;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const snare::ir::Graph g = snare::io::load_model(path);
    runs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (g.layers.empty()) std::abort();
  }
  std::sort(runs.begin(), runs.end());
  return runs[1];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 5000, 10000, 20000};
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("snare_graph_load_{}", ::getpid());
  fs::create_directories(dir);
  for (int n : sizes) {
    snare::arch::GraphBuilder b("chain", {16}, 1);
    for (int i = 0; i < n; ++i) b.activation(snare::ir::Activation::kRelu);
    const snare::ir::Graph g = b.finish();
    for (const char* ext : {"onnx", "h5"}) {
      const std::string path = (dir / fmt::format("chain{}.{}", n, ext)).string();
      snare::io::save_model(g, path);
      const double s = seconds_to_load(path);
      fmt::print("{{\"format\": \"{}\", \"layers\": {}, \"seconds\": {:.3f}, \"us_per_layer\": {:.1f}}}\n", ext, n, s,
                 1e6 * s / n);
      std::fflush(stdout);
    }
  }
  fs::remove_all(dir);
  return 0;
}
