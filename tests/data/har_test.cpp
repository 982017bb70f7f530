#include "data/har.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "data/shared_data.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace snare::data {
namespace {

using test::ScopedDataRoot;
using test::TempDir;
using test::write_file;

std::vector<int64_t> read_ints(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<int64_t> v;
  for (int64_t x; in >> x;) v.push_back(x);
  return v;
}

/// UCI HAR's own labels and subjects (../shared/data/uci-har-meta).
struct UciMeta {
  std::vector<int64_t> y_train, y_test, subject_train, subject_test;
};
const UciMeta& uci_meta() {
  static const UciMeta m = [] {
    std::string dir = "../shared/data/uci-har-meta/";
    return UciMeta{read_ints(dir + "train/y_train.txt"), read_ints(dir + "test/y_test.txt"),
                   read_ints(dir + "train/subject_train.txt"), read_ints(dir + "test/subject_test.txt")};
  }();
  return m;
}

std::vector<int64_t> counts_of(const std::vector<int64_t>& labels_1_to_6) {
  std::vector<int64_t> c(6, 0);
  for (int64_t y : labels_1_to_6) ++c[static_cast<size_t>(y - 1)];
  return c;
}

std::set<int64_t> groups_of(const Split& s) {
  at::Tensor g = std::get<0>(at::_unique(s.groups));
  std::set<int64_t> out;
  for (int64_t i = 0; i < g.numel(); ++i) out.insert(g[i].item<int64_t>());
  return out;
}

/// The HAR windows from the shared tarball (built once; cached in data/har/ between runs).
const Dataset& shared_har() {
  static const Dataset d = load_har("");
  return d;
}

bool have_shared_har() { return !find_shared_data("hapt/hapt-v2.1-rawdata.tar.xz").empty(); }

TEST(HarShared, UciMetaFilesHoldTheDocumentedCounts) {
  const UciMeta& m = uci_meta();
  EXPECT_EQ(m.y_train.size(), 7352u);
  EXPECT_EQ(m.y_test.size(), 2947u);
  EXPECT_EQ(counts_of(m.y_train), (std::vector<int64_t>{1226, 1073, 986, 1286, 1374, 1407}));
  EXPECT_EQ(counts_of(m.y_test), (std::vector<int64_t>{496, 471, 420, 491, 532, 537}));
  std::set<int64_t> test_subjects(m.subject_test.begin(), m.subject_test.end());
  EXPECT_EQ(test_subjects, std::set<int64_t>(har_test_subjects().begin(), har_test_subjects().end()));
}

TEST(HarShared, WindowShapeAndLabels) {
  if (!have_shared_har()) GTEST_SKIP() << "../shared HAPT tarball not present";
  const Dataset& d = shared_har();
  EXPECT_EQ(d.name, "har");
  EXPECT_EQ(d.num_classes, 6);
  EXPECT_EQ(d.class_names, har_class_names());
  for (const Split* s : {&d.train, &d.test}) {
    EXPECT_EQ(s->x.sizes(), (at::IntArrayRef{s->size(), 9, 128}));
    EXPECT_EQ(s->x.scalar_type(), at::kFloat);
    EXPECT_EQ(s->y.scalar_type(), at::kLong);
    ASSERT_TRUE(s->groups.defined());
    EXPECT_EQ(s->groups.size(0), s->size());
    EXPECT_TRUE(s->x.isfinite().all().item<bool>());
  }
}

// Windows inside each labelled segment: 7415 / 2996 (UCI HAR: 7352 / 2947). Totals are within 2%;
// the walking classes match UCI HAR exactly, the static postures (re-annotated in HAPT v2.1) within 5%.
TEST(HarShared, WindowCountsPerClassAreCloseToUciHar) {
  if (!have_shared_har()) GTEST_SKIP() << "../shared HAPT tarball not present";
  const Dataset& d = shared_har();
  const UciMeta& m = uci_meta();
  EXPECT_EQ(d.train.size(), 7415);
  EXPECT_EQ(d.test.size(), 2996);
  EXPECT_NEAR(static_cast<double>(d.train.size()) / static_cast<double>(m.y_train.size()), 1.0, 0.02);
  EXPECT_NEAR(static_cast<double>(d.test.size()) / static_cast<double>(m.y_test.size()), 1.0, 0.02);
  struct Side {
    const char* name;
    const Split& split;
    std::vector<int64_t> uci;
  };
  for (const Side& side : {Side{"train", d.train, counts_of(m.y_train)}, Side{"test", d.test, counts_of(m.y_test)}}) {
    std::vector<int64_t> ours = class_counts(side.split, 6);
    for (size_t c = 0; c < 6; ++c) {
      SCOPED_TRACE(fmt::format("{} {}: ours {} UCI HAR {}", side.name, har_class_names()[c], ours[c], side.uci[c]));
      EXPECT_GT(ours[c], 0);
      double tolerance = c < 3 ? 0.02 : 0.05;
      EXPECT_NEAR(static_cast<double>(ours[c]) / static_cast<double>(side.uci[c]), 1.0, tolerance);
    }
  }
}

TEST(HarShared, SplitIsTheOfficialSubjectSplit) {
  if (!have_shared_har()) GTEST_SKIP() << "../shared HAPT tarball not present";
  const Dataset& d = shared_har();
  const UciMeta& m = uci_meta();
  std::set<int64_t> train = groups_of(d.train), test = groups_of(d.test);
  EXPECT_EQ(train, std::set<int64_t>(m.subject_train.begin(), m.subject_train.end()));
  EXPECT_EQ(test, std::set<int64_t>(m.subject_test.begin(), m.subject_test.end()));
  for (int64_t s : test) EXPECT_EQ(train.count(s), 0u) << "subject " << s << " in both splits";
  EXPECT_EQ(train.size() + test.size(), 30u);
}

// Channel order: body_acc has gravity removed (mean ~ 0), total_acc keeps it (|mean| ~ 1 g at rest).
TEST(HarShared, ChannelsAreBodyAccBodyGyroTotalAcc) {
  if (!have_shared_har()) GTEST_SKIP() << "../shared HAPT tarball not present";
  const Dataset& d = shared_har();
  at::Tensor laying = d.train.x.index({d.train.y == 5});
  at::Tensor mean = laying.mean(std::vector<int64_t>{0, 2});  // [9]
  for (int c = 0; c < 6; ++c) EXPECT_LT(std::abs(mean[c].item<double>()), 0.02) << har_channel_names()[c];
  at::Tensor g = laying.index({at::indexing::Slice(), at::indexing::Slice(6, 9)}).pow(2).sum(1).sqrt().mean();
  EXPECT_NEAR(g.item<double>(), 1.0, 0.1);
}

TEST(HarShared, CorruptTarballIsADataErrorNamingTheFile) {
  std::string src = find_shared_data("hapt/hapt-v2.1-rawdata.tar.xz");
  if (src.empty()) GTEST_SKIP() << "../shared HAPT tarball not present";
  TempDir tmp;
  ScopedDataRoot root(tmp.str());
  std::string truncated = tmp.str("hapt-truncated.tar.xz");
  {
    std::ifstream in(src, std::ios::binary);
    std::string head(2 << 20, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    write_file(truncated, head);
  }
  try {
    load_har(truncated);
    FAIL() << "no error for a truncated tarball";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(truncated), std::string::npos) << e.what();
  }
  std::string garbage = tmp.str("garbage.tar.xz");
  write_file(garbage, std::string(4096, 'x'));
  try {
    read_hapt_tarball(garbage);
    FAIL() << "no error for a file that is not an archive";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(garbage), std::string::npos) << e.what();
  }
}

// ---- a tiny synthetic HAPT folder ----------------------------------------------------------------

std::string table(int64_t rows, const std::function<std::string(int64_t)>& row) {
  std::string s;
  for (int64_t r = 0; r < rows; ++r) s += row(r) + "\n";
  return s;
}

/// Experiment 1 (user 1, train) and 2 (user 2, test), 400 rows each. acc x is a ramp 0.001*row so a
/// window's first total_acc_x value tells where it starts; acc y,z and the gyro are constant.
void write_tiny_hapt(const fs::path& raw) {
  write_file(raw / "labels.txt",
             "1 1 1 1 256\n"      // walking, 256 rows: windows at rows 0, 64, 128
             "1 1 7 257 400\n"    // a transition: no window
             "2 2 4 1 127\n"      // sitting, 127 rows: too short
             "2 2 6 101 228\n");  // laying, exactly 128 rows: one window at row 100
  for (int e : {1, 2}) {
    write_file(raw / fmt::format("acc_exp0{}_user0{}.txt", e, e),
               table(400, [](int64_t r) { return fmt::format("{} 0.2 0.9", 0.001 * static_cast<double>(r)); }));
    write_file(raw / fmt::format("gyro_exp0{}_user0{}.txt", e, e), table(400, [](int64_t) { return "0.01 -0.02 0.03"; }));
  }
}

TEST(HarPipeline, WindowsLieInsideSegmentsOfActivities1To6) {
  TempDir tmp;
  write_tiny_hapt(tmp.path() / "RawData");
  Dataset d = build_har_windows(read_hapt_folder(tmp.str("RawData")));
  ASSERT_EQ(d.train.size(), 3);
  ASSERT_EQ(d.test.size(), 1);
  EXPECT_EQ(test::values<int64_t>(d.train.y), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(test::values<int64_t>(d.test.y), (std::vector<int64_t>{5}));
  EXPECT_EQ(test::values<int64_t>(d.train.groups), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(test::values<int64_t>(d.test.groups), (std::vector<int64_t>{2}));
  const double starts[] = {0, 64, 128};
  for (int w = 1; w < 3; ++w) {  // window 0 starts at the recording's edge, where the filters have transients
    EXPECT_NEAR(d.train.x[w][6][0].item<double>(), 0.001 * starts[w], 1e-4) << "window " << w;
    EXPECT_NEAR(d.train.x[w][6][127].item<double>(), 0.001 * (starts[w] + 127), 1e-4) << "window " << w;
  }
  EXPECT_NEAR(d.test.x[0][6][0].item<double>(), 0.100, 1e-4);
  // total_acc y,z keep the constant; body_acc (total - gravity) is ~0; the gyro passes unchanged.
  at::Tensor x = d.train.x[1];
  EXPECT_NEAR(x[7].mean().item<double>(), 0.2, 1e-5);
  EXPECT_NEAR(x[8].mean().item<double>(), 0.9, 1e-5);
  // The constant axes have no body part at all; on the ramp the slow 0.3 Hz filter still carries an
  // edge transient of the 400-row recording into this window (the ramp reaches 0.3 here).
  EXPECT_LT(x[0].abs().max().item<double>(), 5e-3);
  for (int c = 1; c < 3; ++c) EXPECT_LT(x[c].abs().max().item<double>(), 1e-6) << har_channel_names()[c];
  EXPECT_NEAR(x[3].mean().item<double>(), 0.01, 1e-6);
  EXPECT_NEAR(x[4].mean().item<double>(), -0.02, 1e-6);
  EXPECT_NEAR(x[5].mean().item<double>(), 0.03, 1e-6);
}

TEST(HarPipeline, MissingRecordingIsADataErrorNamingTheFile) {
  TempDir tmp;
  write_tiny_hapt(tmp.path() / "RawData");
  fs::remove(tmp.path() / "RawData" / "gyro_exp02_user02.txt");
  try {
    read_hapt_folder(tmp.str("RawData"));
    FAIL() << "no error for a missing gyro file";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("gyro_exp02_user02.txt"), std::string::npos) << e.what();
  }
}

TEST(HarPipeline, SegmentBeyondTheRecordingIsADataErrorNamingTheLine) {
  TempDir tmp;
  write_tiny_hapt(tmp.path() / "RawData");
  write_file(tmp.path() / "RawData" / "labels.txt", "1 1 1 1 256\n2 2 6 101 401\n");
  try {
    read_hapt_folder(tmp.str("RawData"));
    FAIL() << "no error for a segment past the end";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("labels.txt line 2"), std::string::npos) << e.what();
  }
}

TEST(HarPipeline, MalformedRecordingRowIsADataErrorNamingFileAndLine) {
  TempDir tmp;
  write_tiny_hapt(tmp.path() / "RawData");
  write_file(tmp.path() / "RawData" / "acc_exp01_user01.txt", "0 0.2 0.9\n0.1 0.2\n");
  try {
    read_hapt_folder(tmp.str("RawData"));
    FAIL() << "no error for a short row";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("acc_exp01_user01.txt line 2"), std::string::npos) << e.what();
  }
}

TEST(HarCache, SecondLoadReadsTheCacheAndAStaleHeaderIsRebuilt) {
  TempDir tmp;
  ScopedDataRoot root(tmp.str("data"));
  fs::create_directories(tmp.path() / "data");
  write_tiny_hapt(tmp.path() / "hapt" / "RawData");
  Dataset first = load_har(tmp.str("hapt"));
  std::vector<fs::path> caches;
  for (const auto& e : fs::directory_iterator(tmp.path() / "data" / "har")) caches.push_back(e.path());
  ASSERT_EQ(caches.size(), 1u);
  // Overwrite the recordings: a load that still returns the old windows came from the cache.
  for (int e : {1, 2}) {
    write_file(tmp.path() / "hapt" / "RawData" / fmt::format("acc_exp0{}_user0{}.txt", e, e),
               table(400, [](int64_t) { return "0.5 0.5 0.5"; }));
  }
  Dataset cached = load_har(tmp.str("hapt"));
  EXPECT_TRUE(at::equal(cached.train.x, first.train.x));
  EXPECT_TRUE(at::equal(cached.test.groups, first.test.groups));
  // A cache whose header does not match (another format version) is rebuilt from the folder.
  {
    std::fstream f(caches[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    const char bad[4] = {'\x7f', 0, 0, 0};
    f.write(bad, 4);
  }
  Dataset rebuilt = load_har(tmp.str("hapt"));
  EXPECT_NEAR(rebuilt.train.x[1][6][0].item<double>(), 0.5, 1e-6);
}

// ---- an original "UCI HAR Dataset" folder ---------------------------------------------------------

void write_tiny_uci(const fs::path& root) {
  for (const std::string split : {"train", "test"}) {
    write_file(root / split / ("y_" + split + ".txt"), split == "train" ? "1\n6\n" : "3\n");
    write_file(root / split / ("subject_" + split + ".txt"), split == "train" ? "1\n3\n" : "2\n");
    const int n = split == "train" ? 2 : 1;
    for (int c = 0; c < 9; ++c) {
      std::string text;
      for (int i = 0; i < n; ++i) {
        for (int t = 0; t < 128; ++t) text += fmt::format("  {:.7e}", c * 1000 + i * 100 + t * 0.5);
        text += "\n";
      }
      write_file(root / split / "Inertial Signals" / (har_channel_names()[static_cast<size_t>(c)] + "_" + split + ".txt"), text);
    }
  }
}

TEST(HarUciFolder, ReadsInertialSignalsInChannelOrder) {
  TempDir tmp;
  ScopedDataRoot root(tmp.str());
  write_tiny_uci(tmp.path() / "UCI HAR Dataset");
  Dataset d = load_har(tmp.str());
  ASSERT_EQ(d.train.size(), 2);
  ASSERT_EQ(d.test.size(), 1);
  EXPECT_EQ(test::values<int64_t>(d.train.y), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(test::values<int64_t>(d.train.groups), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(test::values<int64_t>(d.test.y), (std::vector<int64_t>{2}));
  EXPECT_FLOAT_EQ(d.train.x[1][4][10].item<float>(), 4000 + 100 + 5.0f);
  EXPECT_FLOAT_EQ(d.test.x[0][8][127].item<float>(), 8000 + 63.5f);
}

TEST(HarUciFolder, MissingFileIsADataErrorNamingIt) {
  TempDir tmp;
  ScopedDataRoot root(tmp.str());
  write_tiny_uci(tmp.path());
  fs::remove(tmp.path() / "test" / "Inertial Signals" / "body_gyro_y_test.txt");
  try {
    load_har(tmp.str());
    FAIL() << "no error for a missing inertial signal file";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("body_gyro_y_test.txt"), std::string::npos) << e.what();
  }
}

TEST(HarSource, FolderWithoutHarDataIsADataError) {
  TempDir tmp;
  ScopedDataRoot root(tmp.str());
  EXPECT_THROW(load_har(tmp.str()), DataError);
  EXPECT_THROW(load_har(tmp.str("no-such-folder")), DataError);
}

}  // namespace
}  // namespace snare::data
