#include "fuzz/readers.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <typeinfo>

#include "analysis/stats.h"
#include "common/error.h"
#include "data/csv.h"
#include "data/idx.h"
#include "data/images.h"
#include "data/npy.h"
#include "data/user_data.h"
#include "data/wisdm.h"
#include "fuzz/seed_graphs.h"
#include "io/keras/archive.h"
#include "io/keras/keras.h"
#include "io/onnx/onnx.h"
#include "ir/graph.h"

namespace snare::fuzz {

namespace {

/// A private folder for the readers that take a path; removed when the process ends normally.
class Scratch {
 public:
  Scratch() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = fmt::format("{}/snare-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(pattern.data())) throw std::runtime_error("fuzz: cannot create a scratch folder in " + pattern);
    dir_ = pattern;
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  /// Writes `bytes` to the file `name` in the folder and returns its path.
  std::string put(const std::string& name, const std::string& bytes) const {
    std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw std::runtime_error("fuzz: cannot write " + path);
    return path;
  }

 private:
  std::string dir_;
};

const Scratch& scratch() {
  static const Scratch s;
  return s;
}

/// What `snare analyze` does with a model it has read: verify it and count its parameters and MACs.
void inspect(const ir::Graph& g) {
  ir::verify(g);
  (void)analysis::analyze(g);
}

void read_keras_h5(const std::string& bytes) { inspect(io::keras::read_keras_bytes(bytes, "input.h5")); }

void read_keras_zip(const std::string& bytes) { inspect(io::keras::read_keras_bytes(bytes, "input.keras")); }

void read_keras_config(const std::string& bytes) {
  const auto& templates = config_templates();
  if (bytes.empty()) throw ModelError("input.keras: empty input");
  const ConfigTemplate& t = templates[static_cast<unsigned char>(bytes[0]) % templates.size()];
  inspect(io::keras::read_keras_parts(bytes.substr(1), t.weights_h5, t.metadata_json, "input.keras"));
}

void read_onnx(const std::string& bytes) { inspect(io::onnx::read_onnx_bytes(bytes, "input.onnx")); }

void read_idx(const std::string& bytes) {
  // The magic's last byte is the rank; asking for that rank lets the fuzzer reach the dimensions and data.
  int rank = bytes.size() >= 4 ? static_cast<unsigned char>(bytes[3]) : 1;
  if (rank < 1 || rank > 4) rank = 3;
  (void)data::read_idx(scratch().put("input.idx", bytes), rank);
}

void read_arff(const std::string& bytes) { (void)data::read_wisdm_arff(scratch().put("input.arff", bytes)); }

void read_npy(const std::string& bytes) {
  auto source = data::open_npy(scratch().put("input.npy", bytes));
  const data::ArrayInfo info = source->info();
  if (info.shape.size() == 1) {
    (void)data::read_labels(*source, 0);
  } else {
    std::vector<int64_t> sample(info.shape.begin() + 1, info.shape.end());
    (void)data::read_inputs(*source, sample, data::Layout::kChannelsFirst);
  }
}

void read_csv(const std::string& bytes) { (void)data::read_csv_files({scratch().put("input.csv", bytes)}, {}); }

// A user's data files as `--data npz:F`, `h5:F` and `images:DIR` read them, without a model to match.
void read_npz(const std::string& bytes) { (void)data::load_user_npz(scratch().put("input.npz", bytes), {}); }

void read_h5_data(const std::string& bytes) { (void)data::load_user_h5(scratch().put("input.h5", bytes), {}); }

void read_image(const std::string& bytes) {
  // stb_image tells PNG, JPEG and BMP apart by their bytes, not by the name. Decoded as stored, then resized.
  data::ImageFolder folder{"images", {"a"}, {scratch().put("input.png", bytes)}, {0}};
  std::vector<int64_t> as_stored;
  (void)data::read_inputs(*data::open_images(folder, {}), as_stored, data::Layout::kAuto);
  data::ImageOptions resized;
  resized.height = 5;
  resized.width = 7;
  (void)data::read_inputs(*data::open_images(folder, resized), as_stored, data::Layout::kAuto);
}

std::string type_name(const std::exception& e) { return typeid(e).name(); }

size_t open_descriptors() {
  std::error_code ignored;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ignored); it != std::filesystem::directory_iterator();
       it.increment(ignored)) {
    ++n;
  }
  return n;
}

}  // namespace

const std::vector<Reader>& readers() {
  static const std::vector<Reader> all{
      {"keras_h5", "input.h5", read_keras_h5},       {"keras_zip", "input.keras", read_keras_zip},
      {"keras_config", "input.keras", read_keras_config}, {"onnx", "input.onnx", read_onnx},
      {"idx", "input.idx", read_idx},                {"arff", "input.arff", read_arff},
      {"npy", "input.npy", read_npy},                {"csv", "input.csv", read_csv},
      {"npz", "input.npz", read_npz},                {"h5_data", "input.h5", read_h5_data},
      {"image", "input.png", read_image},
  };
  return all;
}

const Reader* find_reader(const std::string& name) {
  for (const Reader& r : readers()) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

Outcome run(const Reader& reader, const std::string& bytes) {
  // A reader must close what it opens, also when it refuses (the first run may open what stays open: library set-up).
  static bool first = true;
  const size_t open_before = open_descriptors();
  auto check_descriptors = [&] {
    const size_t open_after = open_descriptors();
    if (!first && open_after > open_before) {
      throw Bug(fmt::format("{}: {} more file descriptors open after the input", reader.name, open_after - open_before));
    }
    first = false;
  };
  try {
    reader.read(bytes);
    check_descriptors();
    return Outcome::kRead;
  } catch (const Error& e) {
    const ExitCode code = e.exit_code();
    if (code != ExitCode::kModel && code != ExitCode::kUnsupported && code != ExitCode::kData) {
      throw Bug(fmt::format("{}: exit code {} ({}): {}", reader.name, static_cast<int>(code), type_name(e), e.what()));
    }
    if (std::string(e.what()).find(reader.label) == std::string::npos) {
      throw Bug(fmt::format("{}: a refusal that does not name '{}': {}", reader.name, reader.label, e.what()));
    }
    check_descriptors();
    return Outcome::kRefused;
  } catch (const std::exception& e) {
    throw Bug(fmt::format("{}: {} escaped: {}", reader.name, type_name(e), e.what()));
  }
}

const std::vector<ConfigTemplate>& config_templates() {
  static const std::vector<ConfigTemplate> all = [] {
    std::vector<ConfigTemplate> out;
    for (const ir::Graph& g : seed_graphs()) {
      std::string path = scratch().put("template.keras", "");
      try {
        io::keras::write_keras(g, path);
      } catch (const UnsupportedError&) {
        continue;  // a layer Keras 3 files cannot hold (GRU with reset_after false, say)
      }
      auto entries = io::keras::archive::read_entries(path, {"config.json", "model.weights.h5", "metadata.json"});
      out.push_back({g.name, entries["config.json"], entries["model.weights.h5"], entries["metadata.json"]});
    }
    return out;
  }();
  return all;
}

}  // namespace snare::fuzz
