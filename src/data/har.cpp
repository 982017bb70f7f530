#include "data/har.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <set>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fingerprint.h"
#include "data/filters.h"
#include "data/shared_data.h"
#include "data/tar_xz.h"

namespace fs = std::filesystem;

namespace snare::data {

namespace {

const char* const kTarball = "hapt/hapt-v2.1-rawdata.tar.xz";
const char* const kTarballName = "hapt-v2.1-rawdata.tar.xz";
constexpr int kMedianWidth = 3;
constexpr int kNoiseOrder = 3;
constexpr double kNoiseCutoffHz = 20.0;
constexpr int kGravityOrder = 3;
constexpr double kGravityCutoffHz = 0.3;
constexpr int64_t kNumClasses = 6;

// ---- text tables -------------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: file not found or not readable", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Whitespace-separated numbers, `cols` per non-empty line, row-major. `where` names the file.
std::vector<double> parse_table(const std::string& text, size_t cols, const std::string& where, int64_t& rows) {
  std::vector<double> out;
  rows = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  int64_t line = 0;
  while (p < end) {
    ++line;
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!eol) eol = end;
    size_t got = 0;
    const char* q = p;
    for (;;) {
      while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r')) ++q;
      if (q == eol) break;
      double v = 0.0;
      auto [next, ec] = std::from_chars(q, eol, v);
      if (ec != std::errc() || (next < eol && *next != ' ' && *next != '\t' && *next != '\r')) {
        const char* tok_end = q;
        while (tok_end < eol && *tok_end != ' ' && *tok_end != '\t' && *tok_end != '\r') ++tok_end;
        throw DataError(fmt::format("{} line {}: expected a number, got '{}'", where, line, std::string(q, tok_end)));
      }
      out.push_back(v);
      ++got;
      q = next;
    }
    if (got != 0 && got != cols) {
      throw DataError(fmt::format("{} line {}: expected {} values, got {}", where, line, cols, got));
    }
    if (got != 0) ++rows;
    p = eol + 1;
  }
  return out;
}

// ---- HAPT raw recordings -----------------------------------------------------------------------

std::string recording_name(const char* sensor, int64_t experiment, int64_t user) {
  return fmt::format("{}_exp{:02d}_user{:02d}.txt", sensor, experiment, user);
}

std::vector<HaptSegment> parse_labels(const std::string& text, const std::string& where) {
  int64_t rows = 0;
  std::vector<double> v = parse_table(text, 5, where, rows);
  std::vector<HaptSegment> segs;
  // parse_table skips blank lines; recover line numbers by counting non-empty lines.
  std::vector<int64_t> lines;
  {
    int64_t line = 0;
    std::istringstream in(text);
    std::string s;
    while (std::getline(in, s)) {
      ++line;
      if (s.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    const double* f = &v[static_cast<size_t>(r * 5)];
    HaptSegment s{static_cast<int64_t>(f[0]), static_cast<int64_t>(f[1]), static_cast<int64_t>(f[2]),
                  static_cast<int64_t>(f[3]), static_cast<int64_t>(f[4]), lines[static_cast<size_t>(r)]};
    if (s.activity < 1 || s.activity > 12 || s.start < 1 || s.end < s.start || s.user < 1) {
      throw DataError(fmt::format("{} line {}: expected 'experiment user activity(1-12) start end' with "
                                  "1 <= start <= end, got {} {} {} {} {}",
                                  where, s.line, s.experiment, s.user, s.activity, s.start, s.end));
    }
    segs.push_back(s);
  }
  if (segs.empty()) throw DataError(fmt::format("{}: no labelled segments", where));
  return segs;
}

/// Builds a HaptRaw from labels text and a getter for member files (by bare file name).
template <typename GetFile>
HaptRaw assemble_hapt(const std::string& source, const std::string& labels_where, const std::string& labels_text,
                      GetFile get_file) {
  HaptRaw raw;
  raw.source = source;
  raw.segments = parse_labels(labels_text, labels_where);
  for (const HaptSegment& s : raw.segments) {
    auto it = raw.recordings.find(s.experiment);
    if (it != raw.recordings.end()) {
      if (it->second.user != s.user) {
        throw DataError(fmt::format("{} line {}: experiment {} listed with user {}, earlier with user {}", labels_where,
                                    s.line, s.experiment, s.user, it->second.user));
      }
    } else {
      HaptRecording rec;
      rec.experiment = s.experiment;
      rec.user = s.user;
      int64_t acc_rows = 0, gyro_rows = 0;
      auto [acc_text, acc_where] = get_file(recording_name("acc", s.experiment, s.user), s.line);
      rec.acc = parse_table(acc_text, 3, acc_where, acc_rows);
      auto [gyro_text, gyro_where] = get_file(recording_name("gyro", s.experiment, s.user), s.line);
      rec.gyro = parse_table(gyro_text, 3, gyro_where, gyro_rows);
      if (acc_rows != gyro_rows) {
        throw DataError(fmt::format("{}: {} rows but {} has {}", acc_where, acc_rows, gyro_where, gyro_rows));
      }
      rec.rows = acc_rows;
      it = raw.recordings.emplace(s.experiment, std::move(rec)).first;
    }
    if (s.end > it->second.rows) {
      throw DataError(fmt::format("{} line {}: segment ends at row {} but {} has {} rows", labels_where, s.line, s.end,
                                  recording_name("acc", s.experiment, s.user), it->second.rows));
    }
  }
  return raw;
}

std::string base_name(const std::string& member) {
  auto slash = member.find_last_of('/');
  return slash == std::string::npos ? member : member.substr(slash + 1);
}

// ---- cache ---------------------------------------------------------------------------------------

const char kCacheMagic[8] = {'S', 'N', 'A', 'R', 'E', 'H', 'A', 'R'};
constexpr uint32_t kCacheFormat = 1;
/// Bump whenever the windows built from the same input would change (filters, windowing, split).
constexpr uint32_t kPipelineVersion = 1;

std::string file_stamp(const fs::path& p) {
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  auto time = fs::last_write_time(p, ec);
  return fmt::format("{}|{}|{}", fs::weakly_canonical(p, ec).string(), ec ? 0 : size,
                     static_cast<int64_t>(time.time_since_epoch().count()));
}

template <typename T>
void put(std::ostream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool get(std::istream& in, T& v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

void write_cache(const std::string& path, const std::string& key, const Dataset& d) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(kCacheMagic, sizeof kCacheMagic);
    put(out, kCacheFormat);
    put(out, kPipelineVersion);
    put(out, static_cast<uint64_t>(key.size()));
    out.write(key.data(), static_cast<std::streamsize>(key.size()));
    for (const Split* s : {&d.train, &d.test}) {
      put(out, static_cast<int64_t>(s->size()));
      at::Tensor x = s->x.contiguous(), y = s->y.contiguous(), g = s->groups.contiguous();
      out.write(static_cast<const char*>(x.data_ptr()), static_cast<std::streamsize>(x.nbytes()));
      out.write(static_cast<const char*>(y.data_ptr()), static_cast<std::streamsize>(y.nbytes()));
      out.write(static_cast<const char*>(g.data_ptr()), static_cast<std::streamsize>(g.nbytes()));
    }
    out.close();
    if (!out) throw OutputError(fmt::format("cannot write '{}': write to temporary file failed", path));
  });
}

/// The cached splits, or false when the file is missing, of another version or key, or short.
bool read_cache(const std::string& path, const std::string& key, Dataset& d) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[8];
  uint32_t format = 0, pipeline = 0;
  uint64_t key_len = 0;
  if (!in.read(magic, sizeof magic) || std::memcmp(magic, kCacheMagic, sizeof magic) != 0) return false;
  if (!get(in, format) || format != kCacheFormat || !get(in, pipeline) || pipeline != kPipelineVersion) return false;
  if (!get(in, key_len) || key_len != key.size()) return false;
  std::string stored(key_len, '\0');
  if (!in.read(stored.data(), static_cast<std::streamsize>(key_len)) || stored != key) return false;
  for (Split* s : {&d.train, &d.test}) {
    int64_t n = 0;
    if (!get(in, n) || n <= 0 || n > (int64_t{1} << 24)) return false;
    s->x = at::empty({n, kHarChannels, kHarWindow}, at::kFloat);
    s->y = at::empty({n}, at::kLong);
    s->groups = at::empty({n}, at::kLong);
    for (at::Tensor* t : {&s->x, &s->y, &s->groups}) {
      if (!in.read(static_cast<char*>(t->data_ptr()), static_cast<std::streamsize>(t->nbytes()))) return false;
    }
  }
  if (in.peek() != std::char_traits<char>::eof()) return false;
  if (d.train.y.min().item<int64_t>() < 0 || d.train.y.max().item<int64_t>() >= kNumClasses) return false;
  if (d.test.y.min().item<int64_t>() < 0 || d.test.y.max().item<int64_t>() >= kNumClasses) return false;
  return true;
}

Split make_split(std::vector<float>& x, std::vector<int64_t>& y, std::vector<int64_t>& g) {
  const auto n = static_cast<int64_t>(y.size());
  Split s;
  s.x = at::from_blob(x.data(), {n, kHarChannels, kHarWindow}, at::kFloat).clone();
  s.y = at::from_blob(y.data(), {n}, at::kLong).clone();
  s.groups = at::from_blob(g.data(), {n}, at::kLong).clone();
  return s;
}

void describe(Dataset& d, const std::string& source) {
  d.name = "har";
  d.source = source;
  d.num_classes = kNumClasses;
  d.class_names = har_class_names();
}

// ---- UCI HAR folder ------------------------------------------------------------------------------

Split read_uci_split(const fs::path& dir, const std::string& split) {
  static const char* const kSignals[kHarChannels] = {"body_acc_x",  "body_acc_y",  "body_acc_z",
                                                     "body_gyro_x", "body_gyro_y", "body_gyro_z",
                                                     "total_acc_x", "total_acc_y", "total_acc_z"};
  auto load = [&](const fs::path& p, size_t cols, int64_t& rows) {
    if (!fs::is_regular_file(p)) throw DataError(fmt::format("{}: file not found in the UCI HAR folder", p.string()));
    return parse_table(read_file(p.string()), cols, p.string(), rows);
  };
  int64_t n = 0, rows = 0;
  fs::path y_path = dir / split / ("y_" + split + ".txt");
  fs::path subject_path = dir / split / ("subject_" + split + ".txt");
  std::vector<double> yv = load(y_path, 1, n);
  std::vector<double> sv = load(subject_path, 1, rows);
  if (rows != n) throw DataError(fmt::format("{}: {} rows but {} has {}", subject_path.string(), rows, y_path.string(), n));
  std::vector<float> x(static_cast<size_t>(n * kHarChannels * kHarWindow));
  for (int c = 0; c < kHarChannels; ++c) {
    fs::path p = dir / split / "Inertial Signals" / (std::string(kSignals[c]) + "_" + split + ".txt");
    std::vector<double> v = load(p, kHarWindow, rows);
    if (rows != n) throw DataError(fmt::format("{}: {} windows but {} has {} labels", p.string(), rows, y_path.string(), n));
    for (int64_t i = 0; i < n; ++i) {
      for (int t = 0; t < kHarWindow; ++t) {
        x[static_cast<size_t>((i * kHarChannels + c) * kHarWindow + t)] =
            static_cast<float>(v[static_cast<size_t>(i * kHarWindow + t)]);
      }
    }
  }
  std::vector<int64_t> y(static_cast<size_t>(n)), g(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double label = yv[static_cast<size_t>(i)];
    if (label < 1 || label > kNumClasses || label != std::floor(label)) {
      throw DataError(fmt::format("{} line {}: expected an activity 1..6, got {}", y_path.string(), i + 1, label));
    }
    y[static_cast<size_t>(i)] = static_cast<int64_t>(label) - 1;
    g[static_cast<size_t>(i)] = static_cast<int64_t>(sv[static_cast<size_t>(i)]);
  }
  return make_split(x, y, g);
}

// ---- source resolution ---------------------------------------------------------------------------

enum class HarSourceKind { kTarball, kHaptFolder, kUciFolder };
struct HarSource {
  HarSourceKind kind;
  fs::path path;  ///< tarball, RawData folder, or UCI HAR root
};

HarSource resolve_source(const std::string& arg) {
  if (arg.empty()) {
    std::string found = find_shared_data(kTarball);
    if (found.empty()) {
      std::string where;
      for (const std::string& c : shared_data_candidates(kTarball)) where += "\n  " + c;
      throw DataError(fmt::format("har: HAPT tarball not found; looked for:{}\nset SNARE_SHARED to the shared folder or "
                                  "pass DataOptions::spec har:DIR",
                                  where));
    }
    return {HarSourceKind::kTarball, found};
  }
  fs::path p(arg);
  if (fs::is_regular_file(p)) return {HarSourceKind::kTarball, p};
  if (!fs::is_directory(p)) throw DataError(fmt::format("{}: HAR data not found (no such file or folder)", arg));
  for (const fs::path& root : {p, p / "UCI HAR Dataset"}) {
    if (fs::is_directory(root / "train" / "Inertial Signals") || fs::is_directory(root / "test" / "Inertial Signals")) {
      return {HarSourceKind::kUciFolder, root};
    }
  }
  if (fs::is_regular_file(p / "RawData" / "labels.txt")) return {HarSourceKind::kHaptFolder, p / "RawData"};
  if (fs::is_regular_file(p / "labels.txt")) return {HarSourceKind::kHaptFolder, p};
  if (fs::is_regular_file(p / kTarballName)) return {HarSourceKind::kTarball, p / kTarballName};
  throw DataError(fmt::format("{}: not a HAR folder: expected RawData/labels.txt (HAPT), train/Inertial Signals "
                              "(UCI HAR Dataset) or {}",
                              arg, kTarballName));
}

}  // namespace

const std::vector<int64_t>& har_test_subjects() {
  static const std::vector<int64_t> kSubjects = {2, 4, 9, 10, 12, 13, 18, 20, 24};
  return kSubjects;
}

const std::vector<std::string>& har_class_names() {
  static const std::vector<std::string> kNames = {"WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS",
                                                  "SITTING", "STANDING",         "LAYING"};
  return kNames;
}

const std::vector<std::string>& har_channel_names() {
  static const std::vector<std::string> kNames = {"body_acc_x",  "body_acc_y",  "body_acc_z",
                                                  "body_gyro_x", "body_gyro_y", "body_gyro_z",
                                                  "total_acc_x", "total_acc_y", "total_acc_z"};
  return kNames;
}

HaptRaw read_hapt_tarball(const std::string& path) {
  // Only the RawData/ members are needed; the rest (README, activity labels) is skipped unread.
  auto members = read_tar_members(path, [](const std::string& name) {
    std::string base = base_name(name);
    return base == "labels.txt" || base.rfind("acc_exp", 0) == 0 || base.rfind("gyro_exp", 0) == 0;
  });
  std::map<std::string, std::string> by_base;
  std::map<std::string, std::string> member_of;
  for (auto& [name, text] : members) {
    member_of[base_name(name)] = name;
    by_base[base_name(name)] = std::move(text);
  }
  auto labels = by_base.find("labels.txt");
  if (labels == by_base.end()) throw DataError(fmt::format("{}: no RawData/labels.txt in the archive", path));
  std::string labels_where = fmt::format("{}: {}", path, member_of["labels.txt"]);
  return assemble_hapt(path, labels_where, labels->second, [&](const std::string& file, int64_t line) {
    auto it = by_base.find(file);
    if (it == by_base.end()) {
      throw DataError(fmt::format("{}: no member {} (needed by labels.txt line {})", path, file, line));
    }
    return std::pair<std::string, std::string>(it->second, fmt::format("{}: {}", path, member_of[file]));
  });
}

HaptRaw read_hapt_folder(const std::string& raw_data_dir) {
  fs::path dir(raw_data_dir);
  fs::path labels = dir / "labels.txt";
  if (!fs::is_regular_file(labels)) throw DataError(fmt::format("{}: file not found", labels.string()));
  return assemble_hapt(raw_data_dir, labels.string(), read_file(labels.string()), [&](const std::string& file, int64_t line) {
    fs::path p = dir / file;
    if (!fs::is_regular_file(p)) {
      throw DataError(fmt::format("{}: file not found (needed by {} line {})", p.string(), labels.string(), line));
    }
    return std::pair<std::string, std::string>(read_file(p.string()), p.string());
  });
}

std::vector<std::vector<double>> har_channels(const HaptRecording& rec) {
  static const IirFilter noise = butter_lowpass(kNoiseOrder, kNoiseCutoffHz, kHarSampleRate);
  static const IirFilter gravity = butter_lowpass(kGravityOrder, kGravityCutoffHz, kHarSampleRate);
  const auto rows = static_cast<size_t>(rec.rows);
  auto column = [&](const std::vector<double>& v, size_t axis) {
    std::vector<double> c(rows);
    for (size_t r = 0; r < rows; ++r) c[r] = v[r * 3 + axis];
    return c;
  };
  std::vector<std::vector<double>> ch(kHarChannels);
  for (size_t axis = 0; axis < 3; ++axis) {
    std::vector<double> total = filtfilt(noise, median_filter(column(rec.acc, axis), kMedianWidth));
    std::vector<double> grav = filtfilt(gravity, total);
    std::vector<double> body(rows);
    for (size_t r = 0; r < rows; ++r) body[r] = total[r] - grav[r];
    ch[axis] = std::move(body);
    ch[3 + axis] = filtfilt(noise, median_filter(column(rec.gyro, axis), kMedianWidth));
    ch[6 + axis] = std::move(total);
  }
  return ch;
}

Dataset build_har_windows(const HaptRaw& raw) {
  const std::set<int64_t> test_subjects(har_test_subjects().begin(), har_test_subjects().end());
  std::vector<float> x[2];
  std::vector<int64_t> y[2], g[2];
  for (const auto& [experiment, rec] : raw.recordings) {
    const std::vector<std::vector<double>> ch = har_channels(rec);
    const int side = test_subjects.count(rec.user) ? 1 : 0;
    for (const HaptSegment& s : raw.segments) {
      if (s.experiment != experiment || s.activity > kNumClasses) continue;
      // Rows are 1-based inclusive: samples s.start-1 .. s.end-1.
      for (int64_t w = s.start - 1; w + kHarWindow <= s.end; w += kHarStep) {
        for (int c = 0; c < kHarChannels; ++c) {
          for (int t = 0; t < kHarWindow; ++t) {
            x[side].push_back(static_cast<float>(ch[static_cast<size_t>(c)][static_cast<size_t>(w + t)]));
          }
        }
        y[side].push_back(s.activity - 1);
        g[side].push_back(rec.user);
      }
    }
  }
  Dataset d;
  describe(d, raw.source);
  d.train = make_split(x[0], y[0], g[0]);
  d.test = make_split(x[1], y[1], g[1]);
  return d;
}

Dataset read_uci_har_folder(const std::string& dir) {
  Dataset d;
  describe(d, dir);
  d.train = read_uci_split(dir, "train");
  d.test = read_uci_split(dir, "test");
  return d;
}

Dataset load_har(const std::string& arg) {
  const HarSource src = resolve_source(arg);
  std::string key, stem;
  switch (src.kind) {
    case HarSourceKind::kTarball:
      key = "hapt-tarball|" + file_stamp(src.path);
      stem = "hapt";
      break;
    case HarSourceKind::kHaptFolder:
      key = "hapt-folder|" + file_stamp(src.path / "labels.txt");
      stem = "hapt-folder";
      break;
    case HarSourceKind::kUciFolder:
      key = "uci-har|" + file_stamp(src.path / "train" / "y_train.txt") + "|" + file_stamp(src.path / "test" / "y_test.txt");
      stem = "uci-har";
      break;
  }
  const fs::path cache_dir = fs::path(data_root()) / "har";
  const std::string cache = (cache_dir / fmt::format("{}-{:016x}.bin", stem, fnv1a(key))).string();

  Dataset d;
  describe(d, src.path.string());
  if (read_cache(cache, key, d)) return d;

  switch (src.kind) {
    case HarSourceKind::kTarball: d = build_har_windows(read_hapt_tarball(src.path.string())); break;
    case HarSourceKind::kHaptFolder: d = build_har_windows(read_hapt_folder(src.path.string())); break;
    case HarSourceKind::kUciFolder: d = read_uci_har_folder(src.path.string()); break;
  }
  // The cache only saves time: a data root that cannot be written is not an error.
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (!ec && d.train.size() > 0 && d.test.size() > 0) {
    try {
      write_cache(cache, key, d);
    } catch (const OutputError&) {
    }
  }
  return d;
}

}  // namespace snare::data
