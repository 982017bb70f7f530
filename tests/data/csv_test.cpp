#include "data/csv.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "temp_dir.h"

namespace snare::data {
namespace {

using test::TempDir;
using test::values;
using test::write_file;
using Strings = std::vector<std::string>;

/// The DataError message of reading `paths`, or "" (and a test failure) when nothing is thrown.
std::string error_of(const std::vector<std::string>& paths, const CsvOptions& options = {}) {
  try {
    read_csv_files(paths, options);
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

/// Writes `text` to `name` in `tmp` and returns the DataError message of reading it.
std::string error_of_text(const TempDir& tmp, const std::string& text, const CsvOptions& options = {}) {
  write_file(tmp.str("bad.csv"), text);
  return error_of({tmp.str("bad.csv")}, options);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Csv, NumericLabelsInTheLastColumnByDefault) {
  TempDir tmp;
  write_file(tmp.str("t.csv"), "a,b,label\n1,2.5,0\n-3,4e2,2\n+0.125,-1E-3,1\n");
  CsvData d = read_csv_files({tmp.str("t.csv")}, {});
  ASSERT_EQ(d.tables.size(), 1u);
  const CsvTable& t = d.tables[0];
  EXPECT_EQ(t.path, tmp.str("t.csv"));
  EXPECT_EQ(d.feature_names, (Strings{"a", "b"}));
  EXPECT_TRUE(d.class_names.empty());
  EXPECT_EQ(t.x.scalar_type(), at::kFloat);
  EXPECT_EQ(t.x.sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_EQ(values<float>(t.x), (std::vector<float>{1.0f, 2.5f, -3.0f, 400.0f, 0.125f, -1e-3f}));
  EXPECT_EQ(t.y.scalar_type(), at::kLong);
  EXPECT_EQ(values<int64_t>(t.y), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_FALSE(t.groups.defined());
}

TEST(Csv, NamedLabelColumnInTheMiddle) {
  TempDir tmp;
  write_file(tmp.str("t.csv"), "f1,activity,f2\n1,3,2\n4,3.0,5\n7,0,8\n");
  CsvData d = read_csv_files({tmp.str("t.csv")}, {"activity", ""});
  EXPECT_EQ(d.feature_names, (Strings{"f1", "f2"}));
  EXPECT_TRUE(d.class_names.empty());
  EXPECT_EQ(values<float>(d.tables[0].x), (std::vector<float>{1, 2, 4, 5, 7, 8}));
  EXPECT_EQ(values<int64_t>(d.tables[0].y), (std::vector<int64_t>{3, 3, 0}));
}

TEST(Csv, StringLabelsAreIndexedConsistentlyAcrossFiles) {
  TempDir tmp;
  write_file(tmp.str("train.csv"), "x,y\n1,walk\n2,sit\n3,walk\n");
  write_file(tmp.str("test.csv"), "x,y\n4,sit\n5,run\n");  // "run" only here, still sorted first
  CsvData d = read_csv_files({tmp.str("train.csv"), tmp.str("test.csv")}, {});
  ASSERT_EQ(d.tables.size(), 2u);
  EXPECT_EQ(d.tables[0].path, tmp.str("train.csv"));
  EXPECT_EQ(d.tables[1].path, tmp.str("test.csv"));
  EXPECT_EQ(d.class_names, (Strings{"run", "sit", "walk"}));
  EXPECT_EQ(values<int64_t>(d.tables[0].y), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_EQ(values<int64_t>(d.tables[1].y), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(values<float>(d.tables[1].x), (std::vector<float>{4, 5}));
}

TEST(Csv, OneTextLabelMakesAllLabelsStrings) {
  TempDir tmp;
  // 1.5 and -2 would be bad numeric labels, but "B" in the second file makes them class names.
  write_file(tmp.str("a.csv"), "x,y\n1,10\n2,1.5\n3,-2\n");
  write_file(tmp.str("b.csv"), "x,y\n4,B\n5,10\n");
  CsvData d = read_csv_files({tmp.str("a.csv"), tmp.str("b.csv")}, {});
  EXPECT_EQ(d.class_names, (Strings{"-2", "1.5", "10", "B"}));  // byte order
  EXPECT_EQ(values<int64_t>(d.tables[0].y), (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(values<int64_t>(d.tables[1].y), (std::vector<int64_t>{3, 2}));
}

TEST(Csv, NumericGroupsKeepTheirIds) {
  TempDir tmp;
  write_file(tmp.str("train.csv"), "subject,f1,f2,label\n7,1,2,0\n7,3,4,1\n-3,5,6,1\n");
  write_file(tmp.str("test.csv"), "subject,f1,f2,label\n12.0,7,8,0\n");
  CsvData d = read_csv_files({tmp.str("train.csv"), tmp.str("test.csv")}, {"", "subject"});
  EXPECT_EQ(d.feature_names, (Strings{"f1", "f2"}));
  EXPECT_EQ(values<float>(d.tables[0].x), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(values<int64_t>(d.tables[0].y), (std::vector<int64_t>{0, 1, 1}));
  ASSERT_TRUE(d.tables[0].groups.defined());
  EXPECT_EQ(d.tables[0].groups.scalar_type(), at::kLong);
  EXPECT_EQ(values<int64_t>(d.tables[0].groups), (std::vector<int64_t>{7, 7, -3}));
  EXPECT_EQ(values<int64_t>(d.tables[1].groups), (std::vector<int64_t>{12}));
}

TEST(Csv, TextGroupsAreIndexedInSortedOrderAcrossFiles) {
  TempDir tmp;
  write_file(tmp.str("train.csv"), "f,user,label\n1,u2,a\n2,u10,b\n3,u2,a\n");
  write_file(tmp.str("test.csv"), "f,user,label\n4,5,b\n5,u1,a\n");  // the number 5 becomes the text "5"
  CsvData d = read_csv_files({tmp.str("train.csv"), tmp.str("test.csv")}, {"label", "user"});
  // Sorted: "5" < "u1" < "u10" < "u2".
  EXPECT_EQ(values<int64_t>(d.tables[0].groups), (std::vector<int64_t>{3, 2, 3}));
  EXPECT_EQ(values<int64_t>(d.tables[1].groups), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(d.class_names, (Strings{"a", "b"}));
  EXPECT_EQ(values<int64_t>(d.tables[1].y), (std::vector<int64_t>{1, 0}));
}

TEST(Csv, QuotedFields) {
  TempDir tmp;
  write_file(tmp.str("q.csv"),
             "\"f,1\", \"f \"\"2\"\"\" ,label\n"
             "\"1.5\", 2 ,\"a \"\"b\"\", c\"\n"
             "  3  ,\"4\",\"two\nlines\"\n"
             "5,6,\"zz\"\n");
  CsvData d = read_csv_files({tmp.str("q.csv")}, {});
  EXPECT_EQ(d.feature_names, (Strings{"f,1", "f \"2\""}));
  EXPECT_EQ(values<float>(d.tables[0].x), (std::vector<float>{1.5f, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.class_names, (Strings{"a \"b\", c", "two\nlines", "zz"}));
  EXPECT_EQ(values<int64_t>(d.tables[0].y), (std::vector<int64_t>{0, 1, 2}));
}

TEST(Csv, QuotedNewlinesCountInLineNumbers) {
  TempDir tmp;
  std::string m = error_of_text(tmp, "a,label\n1,\"x\ny\"\nbad,z\n");
  EXPECT_TRUE(contains(m, "line 4")) << m;
  EXPECT_TRUE(contains(m, "'bad'")) << m;
}

TEST(Csv, CrlfBomAndBlankLines) {
  TempDir tmp;
  write_file(tmp.str("w.csv"), "\xEF\xBB\xBF" "a,b,y\r\n1,2,0\r\n\r\n  \r\n3,4,1\r\n\r\n\n\n");
  CsvData d = read_csv_files({tmp.str("w.csv")}, {});
  EXPECT_EQ(d.feature_names, (Strings{"a", "b"}));
  EXPECT_EQ(values<float>(d.tables[0].x), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(values<int64_t>(d.tables[0].y), (std::vector<int64_t>{0, 1}));
  // No newline at the end, string labels with CRLF: the '\r' must not stick to the label.
  write_file(tmp.str("s.csv"), "a,y\r\n1,walk\r\n2,sit");
  CsvData s = read_csv_files({tmp.str("s.csv")}, {});
  EXPECT_EQ(s.class_names, (Strings{"sit", "walk"}));
  EXPECT_EQ(values<int64_t>(s.tables[0].y), (std::vector<int64_t>{1, 0}));
}

TEST(Csv, DifferentHeadersAreADataError) {
  TempDir tmp;
  write_file(tmp.str("train.csv"), "a,b,y\n1,2,0\n");
  write_file(tmp.str("test.csv"), "a,c,y\n1,2,0\n");
  std::string m = error_of({tmp.str("train.csv"), tmp.str("test.csv")});
  EXPECT_TRUE(contains(m, tmp.str("train.csv"))) << m;
  EXPECT_TRUE(contains(m, tmp.str("test.csv"))) << m;
  EXPECT_TRUE(contains(m, "column 2 is 'c'")) << m;
  EXPECT_TRUE(contains(m, "'b'")) << m;
  write_file(tmp.str("test.csv"), "a,b,y,z\n1,2,0,3\n");
  m = error_of({tmp.str("train.csv"), tmp.str("test.csv")});
  EXPECT_TRUE(contains(m, "column 4 is 'z'")) << m;
}

TEST(Csv, MissingLabelOrGroupColumnIsADataError) {
  TempDir tmp;
  write_file(tmp.str("t.csv"), "a,b,y\n1,2,0\n");
  std::string m = error_of({tmp.str("t.csv")}, {"activity", ""});
  EXPECT_TRUE(contains(m, tmp.str("t.csv"))) << m;
  EXPECT_TRUE(contains(m, "'activity'")) << m;
  EXPECT_TRUE(contains(m, "'a', 'b', 'y'")) << m;
  m = error_of({tmp.str("t.csv")}, {"", "subject"});
  EXPECT_TRUE(contains(m, "group column 'subject'")) << m;
  EXPECT_TRUE(contains(m, "'a', 'b', 'y'")) << m;
  m = error_of({tmp.str("t.csv")}, {"b", "b"});
  EXPECT_TRUE(contains(m, tmp.str("t.csv"))) << m;
  EXPECT_TRUE(contains(m, "must differ")) << m;
  m = error_of({tmp.str("t.csv")}, {"", "y"});  // the default label is the last column
  EXPECT_TRUE(contains(m, "must differ")) << m;
}

TEST(Csv, BadFeatureCellsAreADataError) {
  TempDir tmp;
  const std::string path = tmp.str("bad.csv");
  std::string m = error_of_text(tmp, "a,b,y\n1,2,0\n3,,1\n");
  EXPECT_TRUE(contains(m, path + " line 3")) << m;
  EXPECT_TRUE(contains(m, "column 'b'")) << m;
  EXPECT_TRUE(contains(m, "empty")) << m;
  m = error_of_text(tmp, "a,b,y\n1,2,0\n\n3,4x,1\n");  // the blank line still counts
  EXPECT_TRUE(contains(m, path + " line 4")) << m;
  EXPECT_TRUE(contains(m, "column 'b'")) << m;
  EXPECT_TRUE(contains(m, "found '4x'")) << m;
  for (const char* text : {"nan", "NaN", "inf", "-inf", "+Infinity"}) {
    m = error_of_text(tmp, std::string("a,b,y\n1,2,0\n") + text + ",4,1\n");
    EXPECT_TRUE(contains(m, path + " line 3")) << m;
    EXPECT_TRUE(contains(m, "column 'a'")) << m;
    EXPECT_TRUE(contains(m, "NaN or Inf")) << m;
    EXPECT_TRUE(contains(m, std::string("'") + text + "'")) << m;
  }
  m = error_of_text(tmp, "a,b,y\n1,1e39,0\n");
  EXPECT_TRUE(contains(m, path + " line 2")) << m;
  EXPECT_TRUE(contains(m, "float32")) << m;
  m = error_of_text(tmp, "a,b,y\n1,+-2,0\n");
  EXPECT_TRUE(contains(m, "found '+-2'")) << m;
}

TEST(Csv, BadNumericLabelsAreADataError) {
  TempDir tmp;
  const std::string path = tmp.str("bad.csv");
  std::string m = error_of_text(tmp, "a,y\n1,0\n2,1.5\n3,1\n");
  EXPECT_TRUE(contains(m, path + " line 3")) << m;
  EXPECT_TRUE(contains(m, "column 'y'")) << m;
  EXPECT_TRUE(contains(m, "'1.5'")) << m;
  m = error_of_text(tmp, "a,y\n1,0\n2,1\n3,-1\n4,-1\n");
  EXPECT_TRUE(contains(m, path + " line 4")) << m;
  EXPECT_TRUE(contains(m, "'-1'")) << m;
  m = error_of_text(tmp, "a,y\n1,0\n2,\n");
  EXPECT_TRUE(contains(m, path + " line 3")) << m;
  EXPECT_TRUE(contains(m, "empty label")) << m;
}

TEST(Csv, RaggedRowsAreADataError) {
  TempDir tmp;
  const std::string path = tmp.str("bad.csv");
  std::string m = error_of_text(tmp, "a,b,y\n1,2,0\n1,2,3,0\n");
  EXPECT_TRUE(contains(m, path + " line 3")) << m;
  EXPECT_TRUE(contains(m, "expected 3")) << m;
  EXPECT_TRUE(contains(m, "found 4")) << m;
  m = error_of_text(tmp, "a,b,y\r\n1,2,0\r\n1,2\r\n");
  EXPECT_TRUE(contains(m, path + " line 3")) << m;
  EXPECT_TRUE(contains(m, "found 2")) << m;
}

TEST(Csv, FilesWithoutDataAreADataError) {
  TempDir tmp;
  const std::string path = tmp.str("bad.csv");
  std::string m = error_of_text(tmp, "a,b,y\n\n");
  EXPECT_TRUE(contains(m, path)) << m;
  EXPECT_TRUE(contains(m, "no data rows")) << m;
  m = error_of_text(tmp, "");
  EXPECT_TRUE(contains(m, path)) << m;
  EXPECT_TRUE(contains(m, "header")) << m;
  m = error_of_text(tmp, "label\n1\n");
  EXPECT_TRUE(contains(m, path + " line 1")) << m;
  EXPECT_TRUE(contains(m, "at least 2")) << m;
  m = error_of({tmp.str("missing.csv")});
  EXPECT_TRUE(contains(m, tmp.str("missing.csv"))) << m;
  m = error_of({tmp.str()});
  EXPECT_TRUE(contains(m, tmp.str())) << m;
}

TEST(Csv, MalformedQuotesAreADataError) {
  TempDir tmp;
  const std::string path = tmp.str("bad.csv");
  std::string m = error_of_text(tmp, "a,y\n1,0\n2,\"open\n3,1\n");
  EXPECT_TRUE(contains(m, path + " line 3")) << m;
  EXPECT_TRUE(contains(m, "unterminated")) << m;
  m = error_of_text(tmp, "a,y\n1,\"0\"x\n");
  EXPECT_TRUE(contains(m, path + " line 2")) << m;
  EXPECT_TRUE(contains(m, "'x'")) << m;
}

TEST(Csv, ReadsWhatNumpySavetxtWrites) {
  const char* python = "/usr/bin/python3";
  if (!std::filesystem::exists(python) || std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  }
  TempDir tmp;
  // numpy writes '%.18e' text; the raw float32 of the same values lets the test compare exactly.
  write_file(tmp.str("make.py"),
             "import numpy as np, sys\n"
             "out = sys.argv[1]\n"
             "rng = np.random.default_rng(3)\n"
             "x = rng.normal(size=(50, 4)) * np.array([1e-3, 1.0, 1e3, 1e6])\n"
             "y = rng.integers(0, 5, size=50)\n"
             "g = rng.integers(1, 9, size=50)\n"
             "np.savetxt(out + '/t.csv', np.column_stack([g, x, y]), delimiter=',', header='user,a,b,c,d,label', "
             "comments='')\n"
             "x.astype(np.float32).tofile(out + '/x.f32')\n"
             "y.astype(np.int64).tofile(out + '/y.i64')\n"
             "g.astype(np.int64).tofile(out + '/g.i64')\n");
  const std::string cmd = std::string(python) + " " + tmp.str("make.py") + " " + tmp.str();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  CsvData d = read_csv_files({tmp.str("t.csv")}, {"label", "user"});
  EXPECT_EQ(d.feature_names, (Strings{"a", "b", "c", "d"}));
  EXPECT_TRUE(d.class_names.empty());
  auto raw = [&](const std::string& name, size_t bytes) {
    std::string s = test::read_file(tmp.str(name));
    EXPECT_EQ(s.size(), bytes) << name;
    return s;
  };
  std::string xs = raw("x.f32", 200 * sizeof(float)), ys = raw("y.i64", 50 * 8), gs = raw("g.i64", 50 * 8);
  std::vector<float> x(200);
  std::vector<int64_t> y(50), g(50);
  std::memcpy(x.data(), xs.data(), std::min(xs.size(), x.size() * sizeof(float)));
  std::memcpy(y.data(), ys.data(), std::min(ys.size(), y.size() * 8));
  std::memcpy(g.data(), gs.data(), std::min(gs.size(), g.size() * 8));
  EXPECT_EQ(d.tables[0].x.sizes(), (at::IntArrayRef{50, 4}));
  EXPECT_EQ(values<float>(d.tables[0].x), x);
  EXPECT_EQ(values<int64_t>(d.tables[0].y), y);
  EXPECT_EQ(values<int64_t>(d.tables[0].groups), g);
}

}  // namespace
}  // namespace snare::data
