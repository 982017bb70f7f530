#include "data/wisdm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "data/shared_data.h"
#include "temp_dir.h"

namespace snare::data {
namespace {

using test::TempDir;
using test::write_file;

const char* const kArff = "wisdm/WISDM_ar_v1.1_transformed.arff";

std::set<int64_t> groups_of(const Split& s) {
  std::set<int64_t> out;
  for (int64_t g : test::values<int64_t>(s.groups)) out.insert(g);
  return out;
}

TEST(WisdmShared, ShapeClassesAndUserSplit) {
  if (find_shared_data(kArff).empty()) GTEST_SKIP() << "../shared WISDM ARFF not present";
  Dataset d = load_dataset("wisdm", {Scale::kRaw});
  EXPECT_EQ(d.name, "wisdm");
  EXPECT_EQ(d.num_classes, 6);
  EXPECT_EQ(d.train.size() + d.test.size(), 5418);
  EXPECT_EQ(d.test.size(), 1600);
  EXPECT_EQ(d.train.x.sizes(), (at::IntArrayRef{d.train.size(), 43}));
  EXPECT_EQ(d.test.x.sizes(), (at::IntArrayRef{d.test.size(), 43}));
  // PROVENANCE.md: Walking 2081, Jogging 1625, Upstairs 632, Downstairs 528, Sitting 306, Standing 246.
  std::vector<int64_t> tr = class_counts(d.train, 6), te = class_counts(d.test, 6);
  const int64_t expected[] = {2081, 1625, 632, 528, 306, 246};
  for (size_t c = 0; c < 6; ++c) {
    EXPECT_EQ(tr[c] + te[c], expected[c]) << d.class_names[c];
    EXPECT_GT(tr[c], 0) << d.class_names[c];
    EXPECT_GT(te[c], 0) << d.class_names[c];
  }
  std::set<int64_t> train_users = groups_of(d.train), test_users = groups_of(d.test);
  EXPECT_EQ(test_users, std::set<int64_t>(wisdm_test_users().begin(), wisdm_test_users().end()));
  EXPECT_EQ(train_users.size(), 26u);
  for (int64_t u : test_users) EXPECT_EQ(train_users.count(u), 0u) << "user " << u;
  EXPECT_TRUE(d.train.x.isfinite().all().item<bool>());
  EXPECT_TRUE(d.test.x.isfinite().all().item<bool>());
}

TEST(WisdmShared, StandardScaleGivesZeroMeanUnitStdOnTrain) {
  if (find_shared_data(kArff).empty()) GTEST_SKIP() << "../shared WISDM ARFF not present";
  Dataset d = load_dataset("wisdm", {Scale::kStandard});
  EXPECT_EQ(d.mean.size(), 43u);
  EXPECT_LT(d.train.x.mean(0).abs().max().item<double>(), 1e-4);
  // XAVG (feature 30) is 0 in every row of the WISDM file; standardising leaves it at 0.
  at::Tensor sd = d.train.x.std(0);
  EXPECT_EQ(d.stddev[30], 1e-8);
  EXPECT_EQ(sd[30].item<double>(), 0.0);
  sd[30] = 1.0;
  EXPECT_LT((sd - 1).abs().max().item<double>(), 1e-3);
}

// The header of the real file, then rows written by the test.
std::string arff_header() {
  std::string h = "@relation activity_recognition_labeled\n\n@attribute \"UNIQUE_ID\" numeric\n@attribute \"user\" \n";
  for (const char* axis : {"X", "Y", "Z"}) {
    for (int i = 0; i < 10; ++i) h += "@attribute \"" + std::string(axis) + std::to_string(i) + "\" numeric\n";
  }
  for (const char* n : {"XAVG", "YAVG", "ZAVG", "XPEAK", "YPEAK", "ZPEAK", "XABSOLDEV", "YABSOLDEV", "ZABSOLDEV",
                        "XSTANDDEV", "YSTANDDEV", "ZSTANDDEV", "RESULTANT"}) {
    h += "@attribute \"" + std::string(n) + "\" numeric\n";
  }
  return h + "@attribute class\n\n@data\n";  // @data is on line 50, as in the real file
}

/// A row: id, user, 43 features all equal to `v` (or `peak` for XPEAK), class.
std::string arff_row(int id, int user, double v, const std::string& peak, const std::string& cls) {
  std::ostringstream s;
  s << id << "," << user;
  for (int f = 0; f < 43; ++f) s << "," << (f == 33 ? peak : std::to_string(v));
  s << "," << cls << "\n";
  return s.str();
}

TEST(WisdmArff, MissingValuesTakeTheTrainMean) {
  TempDir tmp;
  std::string path = tmp.str("tiny.arff");
  write_file(path, arff_header() + arff_row(1, 1, 0.1, "100", "Walking") + arff_row(2, 2, 0.2, "300", "Sitting") +
                       arff_row(3, 3, 0.3, "?", "Standing") + arff_row(4, 30, 0.4, "?", "Jogging") +
                       arff_row(5, 31, 0.5, "7000", "Walking"));
  Dataset d = read_wisdm_arff(path);
  ASSERT_EQ(d.train.size(), 3);
  ASSERT_EQ(d.test.size(), 2);
  // XPEAK mean over train users' present values: (100 + 300) / 2; the test row's 7000 does not count.
  EXPECT_FLOAT_EQ(d.train.x[2][33].item<float>(), 200.0f);
  EXPECT_FLOAT_EQ(d.test.x[0][33].item<float>(), 200.0f);
  EXPECT_FLOAT_EQ(d.test.x[1][33].item<float>(), 7000.0f);
  EXPECT_FLOAT_EQ(d.train.x[1][0].item<float>(), 0.2f);
  EXPECT_EQ(test::values<int64_t>(d.train.y), (std::vector<int64_t>{0, 4, 5}));
  EXPECT_EQ(test::values<int64_t>(d.test.y), (std::vector<int64_t>{1, 0}));
}

void expect_error_at_line(const std::string& body, const std::string& what_part) {
  TempDir tmp;
  std::string path = tmp.str("bad.arff");
  write_file(path, arff_header() + arff_row(1, 1, 0.1, "1", "Walking") + body);
  try {
    read_wisdm_arff(path);
    FAIL() << "no error for " << body;
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path + " line 52"), std::string::npos) << m;
    EXPECT_NE(m.find(what_part), std::string::npos) << m;
  }
}

TEST(WisdmArff, BadRowIsADataErrorNamingFileAndLine) {
  expect_error_at_line("2,1,0.1,0.2,Walking\n", "expected 46 comma-separated values, got 5");
  std::string non_numeric = arff_row(2, 1, 0.1, "abc", "Walking");
  expect_error_at_line(non_numeric, "'XPEAK': expected a number or '?', got 'abc'");
  expect_error_at_line(arff_row(2, 1, 0.1, "1", "Running"), "unknown class 'Running'");
  expect_error_at_line(arff_row(2, 0, 0.1, "1", "Walking"), "user id");
}

TEST(WisdmArff, NotAnArffIsADataError) {
  TempDir tmp;
  write_file(tmp.str("x.arff"), "hello\n");
  EXPECT_THROW(read_wisdm_arff(tmp.str("x.arff")), DataError);
  EXPECT_THROW(read_wisdm_arff(tmp.str("missing.arff")), DataError);
}

}  // namespace
}  // namespace snare::data
