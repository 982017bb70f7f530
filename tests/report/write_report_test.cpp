#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "report/report.h"
#include "report/sample.h"

namespace fs = std::filesystem;

namespace {

using nlohmann::json;

class WriteReport : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("snare_report_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path root_;
};

TEST_F(WriteReport, CreatesTheDirectoryAndWritesBothFiles) {
  json report = snare::test::sample_report();
  fs::path dir = root_ / "a" / "b";
  snare::report::write_report(report, dir.string());
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"report.html", "report.json"}));
  std::string text = read(dir / "report.json");
  EXPECT_EQ(json::parse(text), report);
  EXPECT_EQ(text, report.dump(2) + "\n");
  EXPECT_EQ(read(dir / "report.html"), snare::report::render_html(report));
}

TEST_F(WriteReport, ReplacesAnEarlierReport) {
  json report = snare::test::sample_report();
  snare::report::write_report(report, root_.string());
  report["stop_reason"] = "budget met";
  snare::report::write_report(report, root_.string());
  EXPECT_EQ(json::parse(read(root_ / "report.json"))["stop_reason"], "budget met");
  EXPECT_NE(read(root_ / "report.html").find("budget met"), std::string::npos);
  EXPECT_EQ(entries(root_).size(), 2u);
}

TEST_F(WriteReport, DirectoryThatCannotBeCreatedIsAnOutputErrorNamingIt) {
  std::ofstream(root_ / "file") << "x";
  std::string dir = (root_ / "file" / "report").string();
  try {
    snare::report::write_report(snare::test::sample_report(), dir);
    FAIL() << "expected OutputError";
  } catch (const snare::OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(root_), (std::vector<std::string>{"file"}));
  EXPECT_EQ(read(root_ / "file"), "x");
}

TEST_F(WriteReport, FailedJsonWriteLeavesNoPageAndNoTemporary) {
  // A non-empty directory where report.json should go: the rename onto it fails.
  fs::create_directories(root_ / "report.json" / "occupied");
  try {
    snare::report::write_report(snare::test::sample_report(), root_.string());
    FAIL() << "expected OutputError";
  } catch (const snare::OutputError& e) {
    EXPECT_NE(std::string(e.what()).find((root_ / "report.json").string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(root_), (std::vector<std::string>{"report.json"}));
  EXPECT_TRUE(fs::is_directory(root_ / "report.json"));
}

TEST_F(WriteReport, FailedHtmlWriteLeavesNothing) {
  fs::create_directories(root_ / "report.html" / "occupied");
  EXPECT_THROW(snare::report::write_report(snare::test::sample_report(), root_.string()), snare::OutputError);
  EXPECT_EQ(entries(root_), (std::vector<std::string>{"report.html"}));
}

TEST_F(WriteReport, BadDataWritesNothing) {
  fs::path dir = root_ / "never";
  EXPECT_THROW(snare::report::write_report(json::array({1, 2}), dir.string()), snare::InternalError);
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
