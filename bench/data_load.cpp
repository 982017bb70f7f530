// Loads one data spec as `snare train/eval/reduce --data SPEC` would (data::load_dataset with the model's input
// shape) and prints one JSON line: seconds, samples, float32 bytes held, resident memory before and at peak.
//   bench_data_load SPEC C,H,W [CLASSES]
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <ATen/Parallel.h>

#include "data/dataset.h"

namespace {

/// A field of /proc/self/status in bytes ("VmRSS", "VmHWM").
int64_t status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_data_load SPEC C,H,W [CLASSES]\n");
    return 2;
  }
  at::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));  // as the CLI does
  snare::data::LoadOptions o;
  o.scale = snare::data::Scale::kRaw;
  std::stringstream shape(argv[2]);
  for (std::string d; std::getline(shape, d, ',');) o.input_shape.push_back(std::stoll(d));
  o.num_classes = argc > 3 ? std::stoll(argv[3]) : 10;
  const int64_t rss_before = status_bytes("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  snare::data::Dataset d = snare::data::load_dataset(argv[1], o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t held = static_cast<int64_t>(d.train.x.nbytes() + d.test.x.nbytes());
  fmt::print("{{\"spec\": \"{}\", \"seconds\": {:.3f}, \"samples\": {}, \"float32_bytes\": {}, \"rss_before\": {}, "
             "\"rss_peak\": {}}}\n",
             argv[1], seconds, d.train.size() + d.test.size(), held, rss_before, status_bytes("VmHWM"));
  return 0;
}
