// Reduce your own model with snare, the library way: load a Keras or ONNX file, reduce it on your data within
// 0.5 points of accuracy, save the result and print what was gained.
//
//   reduce_my_model MODEL DATA OUT [MINUTES]
//   reduce_my_model lenet5.h5 mnist small.h5 5      (DATA as for `snare --data`: mnist, npz:my.npz, ...)
#include <snare/snare.h>

#include <cstdlib>
#include <iostream>

class Printer : public snare::ProgressSink {
 public:
  void log(const std::string& line) override { std::cout << line << "\n"; }
};

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: " << argv[0] << " MODEL DATA OUT [MINUTES]\n";
    return 2;
  }
  snare::pipeline::ReduceOptions options;
  options.source.path = argv[1];
  options.data.spec = argv[2];
  options.output = argv[3];
  options.search.max_loss_pp = 0.5;
  if (argc > 4) options.time_limit_min = std::atof(argv[4]);  // start no new step after this many minutes
  Printer printer;
  try {
    snare::exec::set_threads(0);  // every core for LibTorch's intra-op work
    snare::pipeline::ReduceResult r = snare::pipeline::reduce(options, {&printer});
    const auto& before = r.report["baseline"];
    const auto& after = r.report["final"];
    std::cout << "non-zero parameters: " << before["params"] << " -> " << after["nonzero_params"] << "\n"
              << "test accuracy: " << before["test_accuracy"] << " -> " << after["test_accuracy"] << "\n"
              << "saved " << r.output << ", report in " << r.report_dir << "\n";
  } catch (const snare::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  }
  return 0;
}
