// Helpers for the Keras I/O tests: the fixture files, a temporary folder removed on exit, and
// a check that a call throws a given snare::Error kind whose message names what it should.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace snare::test {

inline const std::string kFixtureDir = "../shared/models/keras";
inline const std::string kLenetKeras2 = kFixtureDir + "/lenet5_mnist_keras2.3.1_ryecatcher.h5";
inline const std::string kLenetKeras3Zip = kFixtureDir + "/lenet5_mnist_tanh_avgpool_keras3.10.0_jambrr.keras";
inline const std::string kHarMlp = kFixtureDir + "/har_uci561_mlp_keras3.10.0_niteshg97.h5";
inline const std::string kHarLstm = kFixtureDir + "/har_conv1d_lstm_keras3.12.1_nithish.h5";

/// Every file in the fixture folder, sorted.
inline std::vector<std::string> keras_fixtures() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kFixtureDir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

class KerasTempDir {
 public:
  KerasTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "snare_keras_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~KerasTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  KerasTempDir(const KerasTempDir&) = delete;
  KerasTempDir& operator=(const KerasTempDir&) = delete;
  std::string str(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

inline std::string read_bytes(const std::string& path, size_t limit = std::string::npos) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.size() > limit) s.resize(limit);
  return s;
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
