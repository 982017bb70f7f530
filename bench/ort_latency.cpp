// Median CPU latency of an ONNX model in ONNX Runtime called through its C++ API, as a C++ application
// would deploy it: no JavaScript binding between the caller and the runtime. Batch 1 and 64, after
// warm-up, with one intra-op thread and with the runtime's default. One JSON line per setting, the
// keys of bench/ort_latency.js. Built by bench/latency against the libonnxruntime of the npm
// onnxruntime-node package and the official headers (bench/ort_headers.sh).
//   ort_latency_cxx MODEL.onnx [RUNS]
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

double median_ms(Ort::Session& session, const char* input, const char* output, std::vector<int64_t> shape, int runs) {
  size_t count = 1;
  for (int64_t d : shape) count *= static_cast<size_t>(d);
  std::vector<float> data(count);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  for (float& v : data) v = uniform(rng);
  Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value x = Ort::Value::CreateTensor<float>(memory, data.data(), data.size(), shape.data(), shape.size());
  Ort::RunOptions options;
  auto run = [&] { return session.Run(options, &input, &x, 1, &output, 1); };
  for (int i = 0; i < runs / 5; ++i) run();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto y = run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + runs / 2, ms.end());
  return ms[static_cast<size_t>(runs / 2)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ort_latency_cxx MODEL.onnx [RUNS]\n");
    return 2;
  }
  const std::string model = argv[1];
  const int runs = argc > 2 ? std::stoi(argv[2]) : 2000;
  try {
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "snare-bench");
    for (int threads : {1, 0}) {
      Ort::SessionOptions so;
      so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
      if (threads > 0) {
        so.SetIntraOpNumThreads(threads);
        so.SetInterOpNumThreads(1);
      }
      Ort::Session session(env, model.c_str(), so);
      Ort::AllocatorWithDefaultOptions alloc;
      std::string input = session.GetInputNameAllocated(0, alloc).get();
      std::string output = session.GetOutputNameAllocated(0, alloc).get();
      std::vector<int64_t> dims = session.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
      for (int64_t batch : {1, 64}) {
        if (dims[0] > 0 && dims[0] != batch) continue;  // a model exported with a fixed batch size
        std::vector<int64_t> shape = dims;
        shape[0] = batch;
        int n = batch == 1 ? runs : std::max(50, runs / 10);
        double ms = median_ms(session, input.c_str(), output.c_str(), shape, n);
        std::printf(
            "{\"runtime\":\"onnxruntime-c++\",\"model\":\"%s\",\"batch\":%lld,\"threads\":%s,\"median_ms\":%.4f,"
            "\"runs\":%d,\"ort_version\":\"%s\"}\n",
            model.c_str(), static_cast<long long>(batch), threads > 0 ? "1" : "\"default\"", ms, n,
            Ort::GetVersionString().c_str());
      }
    }
  } catch (const Ort::Exception& e) {
    std::fprintf(stderr, "ort_latency_cxx: %s: %s\n", model.c_str(), e.what());
    return 1;
  }
  return 0;
}
