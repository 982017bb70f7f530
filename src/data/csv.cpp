#include "data/csv.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string_view>
#include <utility>

#include "common/error.h"

namespace snare::data {

namespace {

// Integers above 2^53 do not survive the trip through double, so they are not trusted as ids.
constexpr double kMaxId = 9007199254740992.0;
constexpr int kLabel = -1;
constexpr int kGroup = -2;

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw DataError(fmt::format("{}: is a folder, expected a CSV file", path));
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(fmt::format("{}: file not found or not readable", path));
  const std::streamoff size = in.tellg();
  if (size < 0) throw DataError(fmt::format("{}: file not readable", path));
  std::string buf(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (size > 0 && !in.read(buf.data(), size)) throw DataError(fmt::format("{}: read failed", path));
  return buf;
}

/// A cell's text for a message: long cells are cut, so one bad row cannot flood the terminal.
std::string shown(std::string_view s) {
  constexpr size_t kMax = 60;
  return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "...";
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

/// Parses all of `s` as a double; "+1.5" too, as printf-style writers emit it. "nan" and "inf" parse: callers
/// decide. An exponent beyond double's range gives +-inf or 0, as strtod would.
bool parse_number(std::string_view s, double& v) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') {
    ++b;
    if (b != e && (*b == '+' || *b == '-')) return false;
  }
  if (b == e) return false;
  auto [next, ec] = std::from_chars(b, e, v);
  if (next != e) return false;
  if (ec == std::errc()) return true;
  if (ec != std::errc::result_out_of_range) return false;
  // from_chars leaves v untouched when out of range; this rare path asks strtod for the overflow/underflow value.
  v = std::strtod(std::string(s).c_str(), nullptr);
  return true;
}

/// A label or group text that is an integral number small enough to be exact in a double.
bool parse_integral(std::string_view s, double& v) {
  return parse_number(s, v) && std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= kMaxId;
}

/// Splits a CSV buffer into records of cells. Quoted cells are unescaped in place (the text only shrinks), so
/// every cell is a view into the buffer and no cell allocates.
class Records {
 public:
  Records(const std::string& path, std::string& buf) : path_(path), p_(buf.data()), end_(buf.data() + buf.size()) {
    if (buf.compare(0, 3, "\xEF\xBB\xBF") == 0) p_ += 3;
  }

  /// The next record that is not blank; false at the end. `line` is where it starts (1-based).
  bool next(std::vector<std::string_view>& cells, int64_t& line) {
    while (p_ != end_) {
      line = record_line_ = line_;
      const bool quoted = read_record(cells);
      if (quoted || cells.size() > 1 || !cells[0].empty()) return true;
    }
    return false;
  }

 private:
  // '\r' counts as a blank so that CRLF needs no special case.
  static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

  /// Reads cells up to the end of the record; true if any cell was quoted (then the record is not blank).
  bool read_record(std::vector<std::string_view>& cells) {
    cells.clear();
    bool any_quoted = false;
    for (;;) {
      while (p_ != end_ && blank(*p_)) ++p_;
      if (p_ != end_ && *p_ == '"') {
        any_quoted = true;
        char* const start = ++p_;
        char* out = start;
        for (;;) {
          if (p_ == end_) throw DataError(fmt::format("{} line {}: unterminated quoted cell", path_, record_line_));
          if (*p_ == '"') {
            if (p_ + 1 != end_ && p_[1] == '"') {
              *out++ = '"';
              p_ += 2;
              continue;
            }
            ++p_;
            break;
          }
          if (*p_ == '\n') ++line_;
          *out++ = *p_++;
        }
        cells.emplace_back(start, static_cast<size_t>(out - start));
        while (p_ != end_ && blank(*p_)) ++p_;
        if (p_ != end_ && *p_ != ',' && *p_ != '\n') {
          throw DataError(fmt::format("{} line {}: unexpected '{}' after a closing quote", path_, line_, *p_));
        }
      } else {
        char* const start = p_;
        while (p_ != end_ && *p_ != ',' && *p_ != '\n') ++p_;
        char* e = p_;
        while (e != start && blank(e[-1])) --e;
        cells.emplace_back(start, static_cast<size_t>(e - start));
      }
      if (p_ == end_) return any_quoted;
      if (*p_ == '\n') {
        ++p_;
        ++line_;
        return any_quoted;
      }
      ++p_;  // the ','
    }
  }

  const std::string& path_;
  char* p_;
  char* const end_;
  int64_t line_ = 1;
  int64_t record_line_ = 1;
};

/// The distinct texts of one column of one file, numbered in order of appearance, with the line of the first.
class Dictionary {
 public:
  int64_t id(std::string_view text, int64_t line) {
    // Labels and groups come in runs of the same value: check the last one before the map.
    if (!texts_.empty() && text == texts_[static_cast<size_t>(last_)]) return last_;
    auto it = ids_.find(text);
    if (it == ids_.end()) {
      it = ids_.emplace(std::string(text), static_cast<int64_t>(texts_.size())).first;
      texts_.emplace_back(text);
      lines_.push_back(line);
    }
    last_ = it->second;
    return last_;
  }
  const std::vector<std::string>& texts() const { return texts_; }
  const std::vector<int64_t>& lines() const { return lines_; }

 private:
  std::map<std::string, int64_t, std::less<>> ids_;
  std::vector<std::string> texts_;
  std::vector<int64_t> lines_;
  int64_t last_ = 0;
};

struct Layout {
  std::vector<std::string> header;
  std::vector<int> role;  ///< per column: the feature index, kLabel or kGroup
  size_t label = 0;
  bool has_group = false;
  size_t group = 0;
  std::vector<std::string> feature_names;
};

struct ParsedFile {
  std::string path;
  std::vector<float> x;
  std::vector<int64_t> labels, groups;  ///< ids into label_texts / group_texts until resolved
  Dictionary label_texts, group_texts;
};

size_t find_column(const std::string& path, const std::vector<std::string>& header, const std::string& name,
                   const char* what) {
  const auto count = std::count(header.begin(), header.end(), name);
  if (count == 1) return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  if (count > 1) throw DataError(fmt::format("{}: {} column '{}' appears {} times in the header", path, what, name, count));
  throw DataError(fmt::format("{}: {} column '{}' not in the header (columns: {})", path, what, name, join(header)));
}

Layout make_layout(const std::string& path, int64_t line, std::vector<std::string> header, const CsvOptions& options) {
  if (header.size() < 2) {
    throw DataError(fmt::format("{} line {}: the header has {} column, expected at least 2 (features and a label)",
                                path, line, header.size()));
  }
  Layout l;
  l.header = std::move(header);
  l.label = options.label_column.empty() ? l.header.size() - 1 : find_column(path, l.header, options.label_column, "label");
  if (!options.group_column.empty()) {
    l.has_group = true;
    l.group = find_column(path, l.header, options.group_column, "group");
    if (l.group == l.label) {
      throw DataError(fmt::format("{}: the label and the group column are both '{}'; they must differ", path,
                                  l.header[l.label]));
    }
  }
  l.role.resize(l.header.size());
  for (size_t c = 0; c < l.header.size(); ++c) {
    if (c == l.label) {
      l.role[c] = kLabel;
    } else if (l.has_group && c == l.group) {
      l.role[c] = kGroup;
    } else {
      l.role[c] = static_cast<int>(l.feature_names.size());
      l.feature_names.push_back(l.header[c]);
    }
  }
  if (l.feature_names.empty()) {
    throw DataError(fmt::format("{}: no feature columns besides the label '{}' and the group '{}'", path,
                                l.header[l.label], l.header[l.group]));
  }
  return l;
}

void check_same_header(const std::string& first_path, const std::vector<std::string>& first, const std::string& path,
                       int64_t line, const std::vector<std::string>& header) {
  if (header == first) return;
  size_t i = 0;
  while (i < header.size() && i < first.size() && header[i] == first[i]) ++i;
  auto name = [i](const std::vector<std::string>& h) { return i < h.size() ? "'" + h[i] + "'" : std::string("none"); };
  throw DataError(fmt::format("{} line {}: the header differs from the header of {}: column {} is {} here but {} there "
                              "({} vs {} columns)",
                              path, line, first_path, i + 1, name(header), name(first), header.size(), first.size()));
}

float parse_feature(const std::string& path, int64_t line, const std::string& column, std::string_view text) {
  double v = 0.0;
  if (!parse_number(text, v)) {
    throw DataError(fmt::format("{} line {}, column '{}': expected a number, found '{}'{}", path, line, column,
                                shown(text), text.empty() ? " (an empty cell)" : ""));
  }
  if (!std::isfinite(v)) {
    throw DataError(fmt::format("{} line {}, column '{}': found '{}'; NaN or Inf is not allowed in a feature", path,
                                line, column, shown(text)));
  }
  // Checked before the cast: converting a double beyond float's range is undefined.
  if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
    throw DataError(fmt::format("{} line {}, column '{}': '{}' is beyond the float32 range", path, line, column,
                                shown(text)));
  }
  return static_cast<float>(v);
}

ParsedFile parse_rows(const std::string& path, Records& records, const std::string& buf, const Layout& layout) {
  ParsedFile f;
  f.path = path;
  const size_t columns = layout.header.size();
  // A newline count bounds the rows, so the vectors grow once.
  const auto rows = static_cast<size_t>(std::count(buf.begin(), buf.end(), '\n')) + 1;
  f.x.reserve(rows * layout.feature_names.size());
  f.labels.reserve(rows);
  if (layout.has_group) f.groups.reserve(rows);
  std::vector<std::string_view> cells;
  cells.reserve(columns);
  int64_t line = 0;
  while (records.next(cells, line)) {
    if (cells.size() != columns) {
      throw DataError(fmt::format("{} line {}: expected {} cells as in the header, found {}", path, line, columns,
                                  cells.size()));
    }
    for (size_t c = 0; c < columns; ++c) {
      const int role = layout.role[c];
      if (role >= 0) {
        f.x.push_back(parse_feature(path, line, layout.header[c], cells[c]));
        continue;
      }
      if (cells[c].empty()) {
        throw DataError(fmt::format("{} line {}, column '{}': empty {}", path, line, layout.header[c],
                                    role == kLabel ? "label" : "group id"));
      }
      if (role == kLabel) f.labels.push_back(f.label_texts.id(cells[c], line));
      else f.groups.push_back(f.group_texts.id(cells[c], line));
    }
  }
  if (f.labels.empty()) throw DataError(fmt::format("{}: no data rows after the header", path));
  return f;
}

/// Replaces each file's text ids by the sorted index of the text among the texts of all files.
std::vector<std::string> index_sorted(std::vector<ParsedFile>& files, bool labels) {
  std::vector<std::string> names;
  for (const ParsedFile& f : files) {
    const auto& texts = (labels ? f.label_texts : f.group_texts).texts();
    names.insert(names.end(), texts.begin(), texts.end());
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (ParsedFile& f : files) {
    std::vector<int64_t> index;
    for (const std::string& t : (labels ? f.label_texts : f.group_texts).texts()) {
      index.push_back(std::lower_bound(names.begin(), names.end(), t) - names.begin());
    }
    for (int64_t& id : labels ? f.labels : f.groups) id = index[static_cast<size_t>(id)];
  }
  return names;
}

/// Labels: numbers if every label of every file is one (then integers >= 0), else indices of sorted texts.
std::vector<std::string> resolve_labels(std::vector<ParsedFile>& files, const std::string& column) {
  double v = 0.0;
  for (const ParsedFile& f : files) {
    for (const std::string& t : f.label_texts.texts()) {
      if (!parse_number(t, v)) return index_sorted(files, true);
    }
  }
  for (ParsedFile& f : files) {
    const auto& texts = f.label_texts.texts();
    std::vector<int64_t> value(texts.size());
    size_t bad = texts.size();  // the bad label on the earliest line, if any
    for (size_t k = 0; k < texts.size(); ++k) {
      parse_number(texts[k], v);
      if (std::isfinite(v) && v == std::floor(v) && v >= 0 && v <= kMaxId) {
        value[k] = static_cast<int64_t>(v);
      } else if (bad == texts.size() || f.label_texts.lines()[k] < f.label_texts.lines()[bad]) {
        bad = k;
      }
    }
    if (bad != texts.size()) {
      throw DataError(fmt::format("{} line {}, column '{}': numeric labels must be integers >= 0, found '{}'", f.path,
                                  f.label_texts.lines()[bad], column, shown(texts[bad])));
    }
    for (int64_t& id : f.labels) id = value[static_cast<size_t>(id)];
  }
  return {};
}

/// Groups: integer ids if every group of every file is one, else indices of sorted texts.
void resolve_groups(std::vector<ParsedFile>& files) {
  double v = 0.0;
  for (const ParsedFile& f : files) {
    for (const std::string& t : f.group_texts.texts()) {
      if (!parse_integral(t, v)) {
        index_sorted(files, false);
        return;
      }
    }
  }
  for (ParsedFile& f : files) {
    std::vector<int64_t> value;
    for (const std::string& t : f.group_texts.texts()) {
      parse_integral(t, v);
      value.push_back(static_cast<int64_t>(v));
    }
    for (int64_t& id : f.groups) id = value[static_cast<size_t>(id)];
  }
}

/// A tensor that takes over the vector's buffer: no copy of a possibly large table.
template <typename T>
at::Tensor take(std::vector<T>&& v, at::IntArrayRef sizes, at::ScalarType type) {
  auto* owner = new std::vector<T>(std::move(v));
  return at::from_blob(owner->data(), sizes, [owner](void*) { delete owner; }, at::TensorOptions().dtype(type));
}

}  // namespace

CsvData read_csv_files(const std::vector<std::string>& paths, const CsvOptions& options) {
  if (paths.empty()) throw DataError("read_csv_files: no CSV files given");
  Layout layout;
  std::vector<ParsedFile> files;
  files.reserve(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    // One file's text at a time: rows keep only numbers and label/group ids.
    std::string buf = read_whole_file(path);
    Records records(path, buf);
    std::vector<std::string_view> cells;
    int64_t line = 0;
    if (!records.next(cells, line)) throw DataError(fmt::format("{}: empty file, expected a header row", path));
    std::vector<std::string> header(cells.begin(), cells.end());
    if (i == 0) layout = make_layout(path, line, std::move(header), options);
    else check_same_header(paths[0], layout.header, path, line, header);
    files.push_back(parse_rows(path, records, buf, layout));
  }

  CsvData d;
  d.feature_names = layout.feature_names;
  d.class_names = resolve_labels(files, layout.header[layout.label]);
  if (layout.has_group) resolve_groups(files);
  const auto features = static_cast<int64_t>(layout.feature_names.size());
  for (ParsedFile& f : files) {
    const auto n = static_cast<int64_t>(f.labels.size());
    CsvTable t;
    t.path = f.path;
    t.x = take(std::move(f.x), {n, features}, at::kFloat);
    t.y = take(std::move(f.labels), {n}, at::kLong);
    if (layout.has_group) t.groups = take(std::move(f.groups), {n}, at::kLong);
    d.tables.push_back(std::move(t));
  }
  return d;
}

}  // namespace snare::data
