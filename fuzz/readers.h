// snare::fuzz — every reader of untrusted bytes as a function of those bytes, for libFuzzer targets
// (fuzz/fuzz_target.cpp), the seed corpora (fuzz/make_seeds.cpp) and the regression test that replays the inputs
// fuzzing once broke (tests/fuzz).
//
// A reader either reads the bytes or refuses them as the user's fault: ModelError, UnsupportedError or DataError
// (exit codes 3, 4, 5) whose message names the input. Anything else escaping it (another exception, a crash, a
// sanitizer report) is a bug in snare.
//
//   const fuzz::Reader* r = fuzz::find_reader("onnx");
//   fuzz::Outcome o = fuzz::run(*r, bytes);   // throws fuzz::Bug for anything but a read or a refusal
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace snare::fuzz {

struct Reader {
  const char* name;   ///< "keras_h5", "keras_zip", "keras_config", "onnx", "idx", "arff", "npy", "csv", "npz", "h5_data",
                      ///< "image"
  const char* label;  ///< how the input is named in messages (each reader's refusal must name it)
  void (*read)(const std::string& bytes);
};

/// Every reader, in a fixed order.
const std::vector<Reader>& readers();
/// nullptr for unknown names.
const Reader* find_reader(const std::string& name);

enum class Outcome { kRead, kRefused };

/// What escaped a reader that must not have: its type and message.
struct Bug : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Runs `reader` on `bytes`. Returns kRead, or kRefused for a ModelError / UnsupportedError / DataError whose message
/// names the input; throws Bug for anything else (another snare error kind, a foreign exception, a refusal that does
/// not say which input it refuses, a file descriptor left open).
Outcome run(const Reader& reader, const std::string& bytes);

/// The Keras architectures the keras_config reader fills with weights: the input's first byte picks one (modulo
/// their count), the rest is the config.json put in its place. Each is a name and its .keras archive's parts.
struct ConfigTemplate {
  std::string name;
  std::string config_json;
  std::string weights_h5;
  std::string metadata_json;
};
const std::vector<ConfigTemplate>& config_templates();

}  // namespace snare::fuzz
