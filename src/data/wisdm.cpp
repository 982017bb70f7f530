#include "data/wisdm.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>

#include "common/error.h"
#include "data/shared_data.h"

namespace snare::data {

namespace {

const char* const kArff = "wisdm/WISDM_ar_v1.1_transformed.arff";

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// `@attribute NAME [TYPE]`: the name, unquoted.
std::string attribute_name(const std::string& line, const std::string& where) {
  std::string rest = trim(line.substr(std::string("@attribute").size()));
  if (rest.empty()) throw DataError(where + ": @attribute without a name");
  if (rest[0] == '"' || rest[0] == '\'') {
    size_t close = rest.find(rest[0], 1);
    if (close == std::string::npos) throw DataError(where + ": unterminated quoted attribute name");
    return rest.substr(1, close - 1);
  }
  return rest.substr(0, rest.find_first_of(" \t"));
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = line.find(',', start);
    out.push_back(trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool parse_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  const char* b = s.data() + (s[0] == '+' ? 1 : 0);
  auto [next, ec] = std::from_chars(b, s.data() + s.size(), v);
  return ec == std::errc() && next == s.data() + s.size() && std::isfinite(v);
}

}  // namespace

const std::vector<std::string>& wisdm_class_names() {
  static const std::vector<std::string> kNames = {"Walking", "Jogging", "Upstairs", "Downstairs", "Sitting", "Standing"};
  return kNames;
}

const std::vector<int64_t>& wisdm_test_users() {
  static const std::vector<int64_t> kUsers = {27, 28, 29, 30, 31, 32, 33, 34, 35, 36};
  return kUsers;
}

Dataset read_wisdm_arff(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError(fmt::format("{}: file not found or not readable", path));
  std::vector<std::string> attributes;
  std::string line;
  int64_t lineno = 0;
  bool in_data = false;
  while (!in_data && std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '%') continue;
    std::string head = lower(t.substr(0, t.find_first_of(" \t")));
    if (head == "@attribute") {
      attributes.push_back(attribute_name(t, fmt::format("{} line {}", path, lineno)));
    } else if (head == "@data") {
      in_data = true;
    } else if (head != "@relation") {
      throw DataError(fmt::format("{} line {}: expected @relation, @attribute or @data, got '{}'", path, lineno, t));
    }
  }
  if (!in_data) throw DataError(fmt::format("{}: no @data section (not an ARFF file?)", path));

  int user_col = -1, class_col = -1;
  std::vector<int> feature_cols;
  for (int i = 0; i < static_cast<int>(attributes.size()); ++i) {
    std::string n = lower(attributes[static_cast<size_t>(i)]);
    if (n == "user") user_col = i;
    else if (n == "class") class_col = i;
    else if (n != "unique_id") feature_cols.push_back(i);
  }
  if (user_col < 0 || class_col < 0 || static_cast<int64_t>(feature_cols.size()) != kWisdmFeatures) {
    throw DataError(fmt::format("{}: expected attributes 'user', 'class' and {} features (besides UNIQUE_ID), got {} "
                                "attributes with{} user, with{} class and {} features",
                                path, kWisdmFeatures, attributes.size(), user_col < 0 ? "out" : "",
                                class_col < 0 ? "out" : "", feature_cols.size()));
  }

  const auto& names = wisdm_class_names();
  const auto& test_users = wisdm_test_users();
  std::vector<float> x[2];
  std::vector<int64_t> y[2], g[2];
  const float kMissing = std::numeric_limits<float>::quiet_NaN();
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '%') continue;
    std::vector<std::string> f = split_commas(t);
    if (f.size() != attributes.size()) {
      throw DataError(fmt::format("{} line {}: expected {} comma-separated values, got {}", path, lineno,
                                  attributes.size(), f.size()));
    }
    double user = 0.0;
    if (!parse_number(f[static_cast<size_t>(user_col)], user) || user < 1 || user != std::floor(user)) {
      throw DataError(fmt::format("{} line {}: expected a user id >= 1, got '{}'", path, lineno,
                                  f[static_cast<size_t>(user_col)]));
    }
    const std::string& cls = f[static_cast<size_t>(class_col)];
    auto it = std::find(names.begin(), names.end(), cls);
    if (it == names.end()) {
      throw DataError(fmt::format("{} line {}: unknown class '{}' (expected one of Walking, Jogging, Upstairs, "
                                  "Downstairs, Sitting, Standing)",
                                  path, lineno, cls));
    }
    const int side = std::count(test_users.begin(), test_users.end(), static_cast<int64_t>(user)) ? 1 : 0;
    for (int c : feature_cols) {
      const std::string& s = f[static_cast<size_t>(c)];
      double v = 0.0;
      if (s == "?") {
        x[side].push_back(kMissing);
      } else if (parse_number(s, v)) {
        x[side].push_back(static_cast<float>(v));
      } else {
        throw DataError(fmt::format("{} line {}: attribute '{}': expected a number or '?', got '{}'", path, lineno,
                                    attributes[static_cast<size_t>(c)], s));
      }
    }
    y[side].push_back(it - names.begin());
    g[side].push_back(static_cast<int64_t>(user));
  }

  Dataset d;
  d.name = "wisdm";
  d.source = path;
  d.num_classes = static_cast<int64_t>(names.size());
  d.class_names = names;
  Split* splits[2] = {&d.train, &d.test};
  for (int side = 0; side < 2; ++side) {
    const auto n = static_cast<int64_t>(y[side].size());
    splits[side]->x = at::from_blob(x[side].data(), {n, kWisdmFeatures}, at::kFloat).clone();
    splits[side]->y = at::from_blob(y[side].data(), {n}, at::kLong).clone();
    splits[side]->groups = at::from_blob(g[side].data(), {n}, at::kLong).clone();
  }
  if (d.train.size() == 0 || d.test.size() == 0) {
    throw DataError(fmt::format("{}: the split by user left {} train and {} test rows (test users 27..36)", path,
                                d.train.size(), d.test.size()));
  }
  // Missing values: the training users' mean of the present values of that feature.
  at::Tensor missing_train = d.train.x.isnan(), missing_test = d.test.x.isnan();
  at::Tensor present = missing_train.logical_not();
  at::Tensor count = present.sum(0);
  at::Tensor mean = at::where(present, d.train.x, at::zeros_like(d.train.x)).sum(0) / count.clamp_min(1).to(at::kFloat);
  d.train.x = at::where(missing_train, mean.expand_as(d.train.x), d.train.x);
  d.test.x = at::where(missing_test, mean.expand({d.test.size(), kWisdmFeatures}), d.test.x);
  return d;
}

Dataset load_wisdm(const std::string& arg) {
  if (!arg.empty()) return read_wisdm_arff(arg);
  std::string found = find_shared_data(kArff);
  if (found.empty()) {
    std::string where;
    for (const std::string& c : shared_data_candidates(kArff)) where += "\n  " + c;
    throw DataError(fmt::format("wisdm: ARFF not found; looked for:{}\nset SNARE_SHARED to the shared folder or pass "
                                "DataOptions::spec wisdm:PATH",
                                where));
  }
  return read_wisdm_arff(found);
}

}  // namespace snare::data
