// Helpers for the Keras I/O tests: the fixture files (temporary folders: support/temp_dir.h).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace snare::test {

inline const std::string kFixtureDir = "../shared/models/keras";
inline const std::string kLenetKeras2 = kFixtureDir + "/lenet5_mnist_keras2.3.1_ryecatcher.h5";
inline const std::string kLenetKeras3Zip = kFixtureDir + "/lenet5_mnist_tanh_avgpool_keras3.10.0_jambrr.keras";
inline const std::string kHarMlp = kFixtureDir + "/har_uci561_mlp_keras3.10.0_niteshg97.h5";
inline const std::string kHarLstm = kFixtureDir + "/har_conv1d_lstm_keras3.12.1_nithish.h5";

/// Every file in the fixture folder, sorted.
inline std::vector<std::string> keras_fixtures() {
  std::vector<std::string> files;
  // Top-level files only: keras/zoo/ holds the embedded models, which need layers of their own (open issue).
  for (const auto& e : std::filesystem::directory_iterator(kFixtureDir)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace snare::test

/// Expects `stmt` to throw `Kind` whose message contains every string in `parts`.
#define EXPECT_THROW_WITH(stmt, Kind, ...)                                                   \
  do {                                                                                       \
    try {                                                                                    \
      stmt;                                                                                  \
      ADD_FAILURE() << "expected " #Kind " from " #stmt;                                     \
    } catch (const Kind& err) {                                                              \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) {                \
        EXPECT_NE(std::string(err.what()).find(part), std::string::npos)                     \
            << "message '" << err.what() << "' lacks '" << part << "'";                      \
      }                                                                                      \
    } catch (const std::exception& err) {                                                    \
      ADD_FAILURE() << "expected " #Kind " from " #stmt ", got: " << err.what();             \
    }                                                                                        \
  } while (0)
