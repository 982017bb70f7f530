// snare::data — labelled CSV tables: a header row, numeric feature columns, one label column and an
// optional group column (subject/user ids).
//
// Format: ',' separated, RFC-4180 double quotes ("" escapes; commas and newlines inside quotes), CRLF or LF,
// spaces around cells trimmed, a UTF-8 BOM skipped, blank lines skipped. Every file must have the same header.
// Features are numbers (NaN/Inf rejected), stored as float32 in file order.
// Labels: if every label cell of every file is a number, each must be an integer >= 0 and y holds it
// (class_names empty); otherwise class_names = the sorted distinct label texts of all files and y indexes it.
// Groups: integer ids kept; otherwise the sorted distinct texts of all files, numbered 0.. in that order.
// Malformed data throws DataError naming the file, the line (header = line 1), the column and what was found.
//
//   CsvData d = read_csv_files({"train.csv", "test.csv"}, {.label_column = "activity"});
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace snare::data {

struct CsvOptions {
  std::string label_column;  ///< header name of the label column; empty: the last column
  std::string group_column;  ///< header name of the group column; empty: none
};

struct CsvTable {
  std::string path;
  at::Tensor x;       ///< float32 [N, F], the feature columns in file order
  at::Tensor y;       ///< int64 [N]
  at::Tensor groups;  ///< int64 [N]; undefined without a group column
};

struct CsvData {
  std::vector<CsvTable> tables;            ///< one per path, same order
  std::vector<std::string> feature_names;  ///< header names of the feature columns
  std::vector<std::string> class_names;    ///< string labels: the distinct labels of ALL files, sorted (byte order),
                                           ///< y indexes this; numeric labels: empty and y holds the numbers
};

/// Reads the labelled CSV files at `paths` (at least one). Throws DataError for a missing file, differing
/// headers, a missing label/group column, a ragged row, a bad number or label, or a file without data rows.
CsvData read_csv_files(const std::vector<std::string>& paths, const CsvOptions& options);

}  // namespace snare::data
