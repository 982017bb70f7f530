#include "data/user_data.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <functional>
#include <numeric>

#include "common/error.h"
#include "data/csv.h"
#include "data/h5_array.h"
#include "data/images.h"
#include "data/npy.h"

namespace fs = std::filesystem;

namespace snare::data {

namespace {

/// Bytes of one block of rows read at a time when a conversion is needed.
constexpr int64_t kBlockBytes = 16 << 20;

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("({})", fmt::join(shape, ", ")); }

int64_t product(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{1}, std::multiplies<int64_t>());
}

/// The model's shape in Keras order: channels last ([C,H,W] -> [H,W,C], [C,T] -> [T,C]).
std::vector<int64_t> channels_last_of(const std::vector<int64_t>& shape) {
  if (shape.size() < 2) return shape;
  std::vector<int64_t> k(shape.begin() + 1, shape.end());
  k.push_back(shape[0]);
  return k;
}

/// Permutation taking a [N, C, d1..dk] tensor to [N, d1..dk, C].
std::vector<int64_t> to_channels_last(size_t sample_rank) {
  std::vector<int64_t> p{0};
  for (size_t i = 2; i <= sample_rank; ++i) p.push_back(static_cast<int64_t>(i));
  p.push_back(1);
  return p;
}

at::Tensor read_whole(ArraySource& source) {
  const ArrayInfo& a = source.info();
  at::Tensor t = at::empty(a.shape, at::TensorOptions().dtype(a.dtype));
  source.read_rows(0, a.rows(), t.data_ptr());
  return t;
}

void require_samples(const ArrayInfo& a) {
  if (a.rows() == 0) throw DataError(fmt::format("{}: holds no samples (shape {})", a.where, shape_text(a.shape)));
}

/// Asks the kernel for transparent huge pages under a large tensor: filling 1 GB in 4 KiB page faults costs more
/// than reading it from the page cache.
void advise_huge_pages(const at::Tensor& t) {
  constexpr uintptr_t kPage = 2 << 20;
  const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t first = (begin + kPage - 1) / kPage * kPage, end = (begin + t.nbytes()) / kPage * kPage;
  if (end > first) ::madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
}

/// Index of the first NaN or Inf among `n` floats, or -1.
int64_t first_non_finite(const float* p, int64_t n) {
  constexpr int64_t kStep = 4096;
  for (int64_t start = 0; start < n; start += kStep) {
    const int64_t end = std::min(n, start + kStep);
    bool bad = false;
    for (int64_t i = start; i < end; ++i) bad |= !(std::fabs(p[i]) <= std::numeric_limits<float>::max());
    if (bad) {
      for (int64_t i = start; i < end; ++i) {
        if (!std::isfinite(p[i])) return i;
      }
    }
  }
  return -1;
}

class TensorSource : public ArraySource {
 public:
  TensorSource(at::Tensor values, std::string where) : values_(values.contiguous()) {
    info_.where = std::move(where);
    info_.shape = values_.sizes().vec();
    info_.dtype = values_.scalar_type();
  }
  const ArrayInfo& info() const override { return info_; }
  void read_rows(int64_t begin, int64_t count, void* dst) override {
    at::from_blob(dst, values_.narrow(0, begin, count).sizes(), values_.options()).copy_(values_.narrow(0, begin, count));
  }

 private:
  at::Tensor values_;
  ArrayInfo info_;
};

void check_same_length(const Split& s, const std::string& x_where, const std::string& y_where) {
  if (s.x.size(0) != s.y.size(0)) {
    throw DataError(fmt::format("{} has {} samples but {} has {} labels", x_where, s.x.size(0), y_where, s.y.size(0)));
  }
  if (s.groups.defined() && s.groups.size(0) != s.x.size(0)) {
    throw DataError(fmt::format("{} has {} samples but its groups have {}", x_where, s.x.size(0), s.groups.size(0)));
  }
}

/// Number of classes: the model's, else one more than the largest label seen.
void set_classes(Dataset& d, const LoadOptions& o) {
  int64_t top = -1;
  for (const Split* s : {&d.train, &d.test, &d.validation}) {
    if (s->size() > 0) top = std::max(top, s->y.max().item<int64_t>());
  }
  if (!d.class_names.empty()) {
    if (o.num_classes > 0 && static_cast<int64_t>(d.class_names.size()) > o.num_classes) {
      throw DataError(fmt::format("{}: {} distinct labels ({}) but the model has {} classes", d.source,
                                  d.class_names.size(), fmt::join(d.class_names, ", "), o.num_classes));
    }
    d.num_classes = std::max<int64_t>(o.num_classes, static_cast<int64_t>(d.class_names.size()));
    for (auto i = static_cast<int64_t>(d.class_names.size()); i < d.num_classes; ++i) {
      d.class_names.push_back(std::to_string(i));
    }
    return;
  }
  // Labels are class indices 0..N-1: a largest label of a billion is a damaged or a regression file, and naming
  // every class up to it would take gigabytes.
  constexpr int64_t kMaxClasses = int64_t{1} << 20;
  if (o.num_classes == 0 && top >= kMaxClasses) {
    throw DataError(fmt::format("{}: labels go up to {}, expected class indices below {} (labels are classes 0..N-1)",
                                d.source, top, kMaxClasses));
  }
  d.num_classes = o.num_classes > 0 ? o.num_classes : top + 1;
  for (int64_t c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
}

/// Holds out `fraction` of `all` (of its groups, where given) as the test split; every class present must
/// land on both sides.
void split_off_test(Dataset& d, Split all, const LoadOptions& o, const std::string& hint) {
  if (!(o.test_split > 0 && o.test_split < 1)) {
    throw OptionError("LoadOptions::test_split", fmt::format("{}: no separate test data; {} or give "
                                                             "LoadOptions::test_split F (0 < F < 1)", d.source, hint));
  }
  Holdouts h = split_holdouts(all, o.test_split, 0.0, o.seed);
  d.train = std::move(h.fit);
  d.test = std::move(h.validation);
  const int64_t classes = all.y.max().item<int64_t>() + 1;
  std::vector<int64_t> total = class_counts(all, classes), test = class_counts(d.test, classes);
  for (int64_t c = 0; c < classes; ++c) {
    const auto i = static_cast<size_t>(c);
    if (total[i] > 0 && (test[i] == 0 || test[i] == total[i])) {
      throw DataError(fmt::format("{}: DataOptions::test_split {} leaves class {} ({} samples) empty on the {} side; use a larger "
                                  "data set or another fraction",
                                  d.source, o.test_split, c < static_cast<int64_t>(d.class_names.size())
                                                              ? d.class_names[i] : std::to_string(c),
                                  total[i], test[i] == 0 ? "test" : "training"));
    }
  }
}

/// The data sets of named arrays (NPZ members, NPY files, HDF5 datasets).
using ArrayOpener = std::function<std::unique_ptr<ArraySource>(const std::string& name)>;

Dataset assemble_named_arrays(const std::string& kind, const std::string& source, const ArrayOpener& open,
                              const std::function<std::vector<std::string>()>& list, const LoadOptions& o) {
  auto name_of = [&](const std::string& role) {
    auto it = o.array_names.find(role);
    return it == o.array_names.end() ? role : it->second;
  };
  auto required = [&](const std::string& role) {
    std::unique_ptr<ArraySource> a = open(name_of(role));
    if (!a) {
      throw DataError(fmt::format("{}: no array '{}' (found: {}); expected x_train, y_train, x_test, y_test and "
                                  "optionally x_val, y_val, groups_train",
                                  source, name_of(role), fmt::join(list(), ", ")));
    }
    require_samples(a->info());
    return a;
  };
  Dataset d;
  d.name = kind + ":" + source;
  d.source = source;
  auto read_split = [&](const std::string& suffix, bool with_groups) {
    std::unique_ptr<ArraySource> x = required("x_" + suffix), y = required("y_" + suffix);
    Split s;
    if (suffix == "train") d.default_scale = x->info().dtype == at::kByte ? Scale::kUnit : Scale::kRaw;
    s.x = read_inputs(*x, o.input_shape, o.layout);
    s.y = read_labels(*y, o.num_classes);
    if (with_groups) {
      if (std::unique_ptr<ArraySource> g = open(name_of("groups_train"))) s.groups = read_groups(*g);
    }
    check_same_length(s, x->info().where, y->info().where);
    return s;
  };
  d.train = read_split("train", true);
  d.test = read_split("test", false);
  std::unique_ptr<ArraySource> x_val = open(name_of("x_val")), y_val = open(name_of("y_val"));
  if (static_cast<bool>(x_val) != static_cast<bool>(y_val)) {
    throw DataError(fmt::format("{}: has '{}' but not '{}'; give both or neither", source,
                                x_val ? name_of("x_val") : name_of("y_val"), x_val ? name_of("y_val") : name_of("x_val")));
  }
  if (x_val) d.validation = read_split("val", false);
  set_classes(d, o);
  return d;
}

}  // namespace

bool is_user_data_kind(const std::string& kind) {
  return kind == "npz" || kind == "npy" || kind == "h5" || kind == "csv" || kind == "images";
}

InputLayout plan_input_layout(const ArrayInfo& a, const std::vector<int64_t>& model, Layout layout) {
  const std::vector<int64_t> sample(a.shape.begin() + 1, a.shape.end());
  InputLayout plan;
  plan.file_shape = sample;
  plan.model_shape = sample;
  if (model.empty()) return plan;  // nothing to match: the data's own shape
  plan.model_shape = model;
  const std::vector<int64_t> keras = channels_last_of(model);
  const bool fits_first = sample == model;
  const bool fits_last = model.size() >= 2 && sample == keras;
  if (layout == Layout::kAuto && fits_first && fits_last) {
    throw DataError(fmt::format("{}: sample shape {} reads as channels-first {} and as channels-last {}; give "
                                "DataOptions::layout channels-last or DataOptions::layout channels-first",
                                a.where, shape_text(sample), shape_text(model), shape_text(keras)));
  }
  if (fits_last && layout != Layout::kChannelsFirst) {
    plan.channels_last = true;
    return plan;
  }
  if (fits_first && layout != Layout::kChannelsLast) return plan;
  // A single channel the data leaves out: (N,28,28) for a model of [1,28,28] (Keras (28,28,1)).
  if (model.size() >= 2 && model.front() == 1 && sample == std::vector<int64_t>(model.begin() + 1, model.end())) {
    plan.file_shape = model;
    return plan;
  }
  // Flat rows: reshaped in Keras order, as x.reshape(-1, H, W, C), unless the user says channels-first.
  if (model.size() >= 2 && sample.size() == 1 && sample[0] == product(model)) {
    plan.channels_last = layout != Layout::kChannelsFirst;
    plan.file_shape = plan.channels_last ? keras : model;
    return plan;
  }
  // A model of flat inputs takes samples of the same size, flattened in the file's order (Keras' Flatten).
  if (model.size() == 1 && product(sample) == model[0]) {
    plan.file_shape = model;
    return plan;
  }
  const char* asked = layout == Layout::kAuto           ? ""
                      : layout == Layout::kChannelsLast ? " with DataOptions::layout channels-last"
                                                        : " with DataOptions::layout channels-first";
  throw DataError(fmt::format("{}: sample shape {}{} does not fit the model's input: expected {} (channels-last, "
                              "Keras) or {} (channels-first), or flat rows of {} values",
                              a.where, shape_text(sample), asked, shape_text(keras), shape_text(model),
                              product(model)));
}

at::Tensor read_inputs(ArraySource& source, const std::vector<int64_t>& model_shape, Layout layout) {
  const ArrayInfo& a = source.info();
  require_samples(a);
  if (a.shape.size() < 2 && model_shape.empty()) {
    throw DataError(fmt::format("{}: shape {} has no sample dimension", a.where, shape_text(a.shape)));
  }
  const InputLayout plan = plan_input_layout(a, model_shape, layout);
  const int64_t n = a.rows();
  std::vector<int64_t> target_shape{n};
  target_shape.insert(target_shape.end(), plan.model_shape.begin(), plan.model_shape.end());
  // float32 in file order: rows land in place, with no second copy.
  const bool direct = !plan.channels_last && a.dtype == at::kFloat;
  at::Tensor target = at::empty(target_shape, at::kFloat);
  // Fault the pages in on all threads first: on a VM, first-touch page faults cost more than reading the data.
  advise_huge_pages(target);
  target.zero_();
  const int64_t row_elements = a.row_elements();
  const int64_t block = std::max<int64_t>(1, kBlockBytes / std::max<int64_t>(1, a.row_bytes()));
  at::Tensor buffer;
  if (!direct) buffer = at::empty({std::min(block, n) * row_elements}, at::TensorOptions().dtype(a.dtype));
  const std::vector<int64_t> perm = to_channels_last(plan.model_shape.size());
  for (int64_t begin = 0; begin < n; begin += block) {
    const int64_t count = std::min(block, n - begin);
    if (direct) {
      source.read_rows(begin, count, target.data_ptr<float>() + begin * row_elements);
    } else {
      source.read_rows(begin, count, buffer.data_ptr());
      std::vector<int64_t> chunk_shape{count};
      chunk_shape.insert(chunk_shape.end(), plan.file_shape.begin(), plan.file_shape.end());
      at::Tensor chunk = buffer.narrow(0, 0, count * row_elements).view(chunk_shape);
      at::Tensor dest = target.narrow(0, begin, count);
      if (plan.channels_last) dest = dest.permute(perm);
      dest.copy_(chunk);
    }
    // Checked per block, while the rows are in cache, with no tensor-sized temporaries.
    if (at::isFloatingType(a.dtype)) {
      const int64_t bad = first_non_finite(target.data_ptr<float>() + begin * row_elements, count * row_elements);
      if (bad >= 0) {
        throw DataError(fmt::format("{}: sample {} holds NaN or Inf values; clean the data first", a.where,
                                    begin + bad / row_elements));
      }
    }
  }
  return target;
}

at::Tensor read_labels(ArraySource& source, int64_t num_classes) {
  const ArrayInfo& a = source.info();
  require_samples(a);
  at::Tensor y = read_whole(source);
  if (y.dim() == 2 && y.size(1) == 1) y = y.squeeze(1);
  if (y.dim() == 2) {
    // One-hot rows: exactly one 1 per row, zeros elsewhere.
    if (num_classes > 0 && y.size(1) != num_classes) {
      throw DataError(fmt::format("{}: one-hot rows of {} columns but the model has {} classes", a.where, y.size(1),
                                  num_classes));
    }
    at::Tensor f = y.to(at::kDouble);
    at::Tensor bad = ((f != 0) & (f != 1)).any(1) | (f.sum(1) != 1);
    if (bad.any().item<bool>()) {
      const int64_t row = bad.nonzero()[0][0].item<int64_t>();
      throw DataError(fmt::format("{}: row {} of the labels is not one-hot (shape {}: expected one 1 and zeros)",
                                  a.where, row, shape_text(a.shape)));
    }
    return f.argmax(1);
  }
  if (y.dim() != 1) {
    throw DataError(fmt::format("{}: labels of shape {}; expected (N,) class numbers or (N, classes) one-hot rows",
                                a.where, shape_text(a.shape)));
  }
  if (at::isFloatingType(y.scalar_type())) {
    at::Tensor f = y.to(at::kDouble);
    at::Tensor bad = at::isfinite(f).logical_not_() | (f != f.round());
    if (bad.any().item<bool>()) {
      const int64_t i = bad.nonzero()[0][0].item<int64_t>();
      throw DataError(fmt::format("{}: label {} at index {} is not an integer class number", a.where,
                                  f[i].item<double>(), i));
    }
  }
  at::Tensor labels = y.to(at::kLong);
  at::Tensor out_of_range = labels < 0;
  if (num_classes > 0) out_of_range |= labels >= num_classes;
  if (out_of_range.any().item<bool>()) {
    const int64_t i = out_of_range.nonzero()[0][0].item<int64_t>();
    throw DataError(fmt::format("{}: label {} at index {} is out of range: expected 0..{}", a.where,
                                labels[i].item<int64_t>(), i,
                                num_classes > 0 ? std::to_string(num_classes - 1) : std::string("(non-negative)")));
  }
  return labels.contiguous();
}

at::Tensor read_groups(ArraySource& source) {
  const ArrayInfo& a = source.info();
  at::Tensor g = read_whole(source);
  if (g.dim() == 2 && g.size(1) == 1) g = g.squeeze(1);
  if (g.dim() != 1) throw DataError(fmt::format("{}: groups of shape {}; expected (N,)", a.where, shape_text(a.shape)));
  if (at::isFloatingType(g.scalar_type()) && (g != g.round()).any().item<bool>()) {
    throw DataError(fmt::format("{}: group ids must be integers", a.where));
  }
  return g.to(at::kLong).contiguous();
}

std::unique_ptr<ArraySource> tensor_source(at::Tensor values, std::string where) {
  return std::make_unique<TensorSource>(std::move(values), std::move(where));
}

Dataset load_user_npz(const std::string& path, const LoadOptions& o) {
  if (path.empty()) throw OptionError("DataOptions::spec", "npz:FILE.npz: no file given");
  if (!fs::is_regular_file(path)) throw DataError(fmt::format("{}: NPZ file not found", path));
  if (!is_zip_file(path)) throw DataError(fmt::format("{}: not an NPZ archive (no zip signature)", path));
  return assemble_named_arrays(
      "npz", path, [&](const std::string& name) { return open_npz_member(path, name); },
      [&] { return npz_members(path); }, o);
}

Dataset load_user_npy(const std::string& dir, const LoadOptions& o) {
  if (dir.empty()) throw OptionError("DataOptions::spec", "npy:DIR: no folder given");
  if (!fs::is_directory(dir)) throw DataError(fmt::format("{}: folder of .npy files not found", dir));
  auto open = [&](const std::string& name) -> std::unique_ptr<ArraySource> {
    fs::path p = fs::path(dir) / (name + ".npy");
    return fs::exists(p) ? open_npy(p.string()) : nullptr;
  };
  auto list = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".npy") names.push_back(e.path().stem().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  return assemble_named_arrays("npy", dir, open, list, o);
}

Dataset load_user_h5(const std::string& path, const LoadOptions& o) {
  if (path.empty()) throw OptionError("DataOptions::spec", "h5:FILE.h5: no file given");
  if (!fs::is_regular_file(path)) throw DataError(fmt::format("{}: HDF5 file not found", path));
  const H5File file(path);  // one heap scan and one open for all its datasets
  return assemble_named_arrays(
      "h5", path, [&](const std::string& name) { return file.dataset(name); }, [&] { return file.dataset_names(); },
      o);
}

Dataset load_user_csv(const std::string& spec, const LoadOptions& o) {
  if (spec.empty()) throw OptionError("DataOptions::spec", "csv:TRAIN.csv[,TEST.csv]: no file given");
  std::vector<std::string> paths;
  for (size_t start = 0;;) {
    size_t comma = spec.find(',', start);
    paths.push_back(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (paths.size() > 2) throw OptionError("DataOptions::spec", fmt::format("csv:{}: expected TRAIN.csv or TRAIN.csv,TEST.csv", spec));
  CsvData csv = read_csv_files(paths, CsvOptions{o.label_column, o.group_column});
  Dataset d;
  d.name = "csv:" + spec;
  d.source = paths[0];
  d.default_scale = Scale::kRaw;
  d.class_names = csv.class_names;
  auto split_of = [&](const CsvTable& t) {
    Split s;
    s.x = read_inputs(*tensor_source(t.x, t.path), o.input_shape, o.layout);
    s.y = t.y;
    s.groups = t.groups;
    return s;
  };
  Split first = split_of(csv.tables[0]);
  if (csv.tables.size() == 2) {
    d.train = std::move(first);
    d.test = split_of(csv.tables[1]);
    d.test.groups = at::Tensor();
  } else {
    split_off_test(d, std::move(first), o, "give csv:TRAIN.csv,TEST.csv");
  }
  set_classes(d, o);
  if (o.num_classes > 0) {
    for (const Split* s : {&d.train, &d.test}) {
      if (s->y.max().item<int64_t>() >= o.num_classes) {
        throw DataError(fmt::format("{}: label {} is out of range: the model has {} classes", d.source,
                                    s->y.max().item<int64_t>(), o.num_classes));
      }
    }
  }
  return d;
}

Dataset load_user_images(const std::string& dir, const LoadOptions& o) {
  if (dir.empty()) throw OptionError("DataOptions::spec", "images:DIR: no folder given");
  if (!fs::is_directory(dir)) throw DataError(fmt::format("{}: image folder not found", dir));
  ImageOptions io;
  const std::vector<int64_t>& m = o.input_shape;
  if (m.size() == 3 && (m[0] == 1 || m[0] == 3)) io.channels = static_cast<int>(m[0]);
  io.height = o.resize_height;
  io.width = o.resize_width;
  Dataset d;
  d.name = "images:" + dir;
  d.source = dir;
  d.default_scale = Scale::kUnit;
  auto split_of = [&](const ImageFolder& folder) {
    Split s;
    std::unique_ptr<ArraySource> images = open_images(folder, io);
    s.x = read_inputs(*images, o.input_shape, o.layout);
    s.y = at::tensor(folder.labels, at::kLong);
    return s;
  };
  const fs::path train_dir = fs::path(dir) / "train", test_dir = fs::path(dir) / "test";
  if (fs::is_directory(train_dir) && fs::is_directory(test_dir)) {
    ImageFolder train = scan_image_folder(train_dir.string());
    ImageFolder test = scan_image_folder(test_dir.string(), train.class_names);
    d.class_names = train.class_names;
    d.train = split_of(train);
    d.test = split_of(test);
  } else {
    ImageFolder all = scan_image_folder(dir);
    d.class_names = all.class_names;
    split_off_test(d, split_of(all), o, "make DIR/train/<class> and DIR/test/<class> folders");
  }
  set_classes(d, o);
  return d;
}

}  // namespace snare::data
