// Helpers for the Keras I/O tests: the fixture files (temporary folders: support/temp_dir.h).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <functional>
#include <stdexcept>

#include "io/keras/config.h"
#include "io/keras/hdf5.h"
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
  // Top-level files only: keras/zoo/ holds the embedded models, enumerated by keras_zoo_models() (zoo_test.cpp).
  for (const auto& e : std::filesystem::directory_iterator(kFixtureDir)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// The embedded model zoo (tf.keras 2.x legacy HDF5 of real microcontroller models; MODELS.md).
inline const std::string kZooDir = kFixtureDir + "/zoo";
/// The zoo model with nested models (a Functional holding a Sequential holding a Functional) and a Permute layer.
inline const std::string kZooYamnet = kZooDir + "/yamnet_256_64x96_esc10_tfkeras.h5";

/// Every zoo file, sorted (all of them load).
inline std::vector<std::string> keras_zoo_models() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kZooDir)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// Copies a legacy Keras HDF5 file through the h5 helpers, letting a test edit the model config and
/// drop one dataset: the way to make files that are broken in exactly one respect.
inline void copy_h5(const std::string& src, const std::string& dst, const std::function<void(io::keras::Json&)>& edit_config,
             const std::string& drop_dataset = "") {
  io::keras::h5::File in = io::keras::h5::File::open(src);
  io::keras::h5::File out = io::keras::h5::File::create(dst);
  io::keras::h5::Group r = in.root(), w = out.root();
  for (const char* name : {"backend", "keras_version"}) {
    w.set_attr_string(name, r.attr_string(name), io::keras::h5::StringStorage::kVariableAscii);
  }
  io::keras::Json config = io::keras::Json::parse(r.attr_string("model_config"));
  edit_config(config);
  w.set_attr_string("model_config", config.dump(), io::keras::h5::StringStorage::kVariableAscii);
  io::keras::h5::Group rw = r.group("model_weights"), ww = w.create_group("model_weights");
  std::vector<std::string> layers = rw.attr_strings("layer_names");
  ww.set_attr_strings("layer_names", layers, io::keras::h5::StringStorage::kFixedAscii);
  for (const std::string& l : layers) {
    io::keras::h5::Group rl = rw.group(l), wl = ww.create_group(l);
    std::vector<std::string> names = rl.attr_strings("weight_names");
    if (names.empty()) {
      wl.set_attr_empty("weight_names");
      continue;
    }
    wl.set_attr_strings("weight_names", names, io::keras::h5::StringStorage::kFixedAscii);
    for (const std::string& n : names) {
      if (l + "/" + n != drop_dataset) wl.write_dataset(n, rl.dataset(n));
    }
  }
}

inline io::keras::Json& layer_config(io::keras::Json& model, const std::string& name) {
  for (io::keras::Json& l : model["config"]["layers"]) {
    if (l["config"]["name"] == name) return l;
  }
  throw std::runtime_error("no layer " + name);
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
