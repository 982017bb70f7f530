// Broken and unsupported files: each fails with the right snare::Error kind and a message naming
// the file (and the layer, with expected vs got, where there is one). Nothing crashes or prints.
#include <ATen/ATen.h>
#include <hdf5.h>
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "arch/zoo.h"
#include "common/error.h"
#include "io/keras/archive.h"
#include "io/keras/config.h"
#include "io/keras/hdf5.h"
#include "io/keras/keras.h"
#include "keras_test_util.h"

namespace {

namespace keras = snare::io::keras;
namespace h5 = snare::io::keras::h5;
namespace t = snare::test;

using t::copy_h5;
using t::layer_config;

TEST(KerasBadInput, CopyOfAGoodFileStillReads) {
  // The helper itself must not break files, or the tests below would pass for the wrong reason.
  t::TempDir dir;
  copy_h5(t::kLenetKeras2, dir.str("copy.h5"), [](keras::Json&) {});
  EXPECT_EQ(snare::ir::dump(keras::read_keras(dir.str("copy.h5"))), snare::ir::dump(keras::read_keras(t::kLenetKeras2)));
}

TEST(KerasBadInput, MissingFile) {
  EXPECT_THROW_WITH(keras::read_keras("no/such/model.h5"), snare::ModelError, "no/such/model.h5", "cannot open");
}

TEST(KerasBadInput, TruncatedFile) {
  t::TempDir dir;
  std::string path = dir.str("truncated.h5");
  t::write_file(path, t::read_file(t::kLenetKeras2, 1000));
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "truncated");
}

TEST(KerasBadInput, TruncatedZip) {
  t::TempDir dir;
  std::string path = dir.str("truncated.keras");
  t::write_file(path, t::read_file(t::kLenetKeras3Zip, 1000));
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path);
}

TEST(KerasBadInput, NotHdf5) {
  t::TempDir dir;
  std::string path = dir.str("notes.h5");
  t::write_file(path, "these are not the weights you are looking for\n");
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "neither an HDF5 file nor a .keras zip");
}

TEST(KerasBadInput, Hdf5WithoutModelConfig) {
  t::TempDir dir;
  std::string path = dir.str("weights_only.h5");
  {
    h5::File f = h5::File::create(path);
    f.root().create_group("dense").write_dataset("kernel", at::zeros({2, 2}));
  }
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "model_config");
}

TEST(KerasBadInput, UnparsableJson) {
  t::TempDir dir;
  std::string path = dir.str("bad_json.h5");
  {
    h5::File f = h5::File::create(path);
    f.root().set_attr_string("model_config", "{\"class_name\": \"Sequential\", \"config\": {", h5::StringStorage::kVariableAscii);
  }
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "model_config is not valid JSON");
}

TEST(KerasBadInput, WeightShapeContradictsConfig) {
  t::TempDir dir;
  std::string path = dir.str("units.h5");
  copy_h5(t::kLenetKeras2, path, [](keras::Json& m) { layer_config(m, "dense_1")["config"]["units"] = 84; });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "layer 'dense_1' (Dense)",
                    "kernel has shape [400,120] but config says units=84");
}

TEST(KerasBadInput, KernelSizeContradictsConfig) {
  t::TempDir dir;
  std::string path = dir.str("kernel.h5");
  copy_h5(t::kLenetKeras2, path, [](keras::Json& m) { layer_config(m, "conv2d_2")["config"]["kernel_size"] = {3, 3}; });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "layer 'conv2d_2' (Conv2D)",
                    "kernel has shape [5,5,6,16] but config says kernel_size=[3,3]");
}

// Window attributes out of range were a SIGFPE (stride 0) in analyze, eval and export: now a ModelError naming the
// file, the layer and the attribute.
TEST(KerasBadInput, WindowAttributesOutOfRange) {
  t::TempDir dir;
  struct Edit {
    const char* layer;
    const char* key;
    keras::Json value;
    const char* named;
  };
  const std::vector<Edit> edits = {{"conv2d_2", "strides", {0, 0}, "strides"},
                                   {"conv2d_2", "dilation_rate", {0, 1}, "dilation"},
                                   {"max_pooling2d_1", "pool_size", {0, 0}, "kernel"},
                                   {"max_pooling2d_1", "strides", {2, 0}, "strides"},
                                   {"conv2d_2", "strides", {1 << 30, 1}, "strides"}};
  for (const Edit& e : edits) {
    SCOPED_TRACE(std::string(e.layer) + " " + e.key);
    const std::string path = dir.str("window.h5");
    copy_h5(t::kLenetKeras2, path, [&](keras::Json& m) { layer_config(m, e.layer)["config"][e.key] = e.value; });
    try {
      keras::read_keras(path);
      ADD_FAILURE() << "read";
    } catch (const snare::ModelError& err) {
      const std::string what = err.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(e.layer), std::string::npos) << what;
      EXPECT_NE(what.find(e.named), std::string::npos) << what;
    }
  }
}

// A file of a few kilobytes that declares a 6.4 GB weight (chunked, compressed, never written: HDF5 stores
// nothing for it) is refused before anything is allocated.
TEST(KerasBadInput, DeclaredWeightLargerThanTheFileCanHoldIsRefusedBeforeAllocating) {
  t::TempDir dir;
  const std::string path = dir.str("huge.h5");
  {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {40000, 40000}, chunk[2] = {1000, 1000};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 9);
    hid_t d = H5Dcreate2(file, "kernel", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(file);
  }
  ASSERT_LT(std::filesystem::file_size(path), 100000u);
  h5::File f = h5::File::open(path);
  try {
    f.root().dataset("kernel");
    ADD_FAILURE() << "read a 6.4 GB dataset from a small file";
  } catch (const snare::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("kernel"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("6400000000 bytes"), std::string::npos) << e.what();
  }
}

TEST(KerasBadInput, MissingWeight) {
  t::TempDir dir;
  std::string path = dir.str("missing.h5");
  copy_h5(t::kLenetKeras2, path, [](keras::Json&) {}, "dense_2/dense_2/kernel:0");
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "layer 'dense_2' (Dense)", "missing weight",
                    "dense_2/kernel:0");
}

TEST(KerasBadInput, UnknownLayersAreListedTogether) {
  t::TempDir dir;
  std::string path = dir.str("unknown.h5");
  copy_h5(t::kLenetKeras2, path, [](keras::Json& m) {
    layer_config(m, "max_pooling2d_1")["class_name"] = "FractionalMaxPooling2D";
    layer_config(m, "flatten_1")["class_name"] = "Flatten3D";
  });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::UnsupportedError, path, "2 unsupported layers",
                    "'max_pooling2d_1' (FractionalMaxPooling2D)", "'flatten_1' (Flatten3D)");
}

TEST(KerasBadInput, ZipWithoutConfig) {
  t::TempDir dir;
  std::string path = dir.str("no_config.keras");
  keras::archive::write_entries(path, {{"metadata.json", "{}"}, {"model.weights.h5", "x"}}, std::time(nullptr));
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "config.json");
}

// A .keras whose zip headers claim a 4 GB config.json (both the local and the central header, so the archive is
// consistent) is refused before the 4 GB are allocated.
TEST(KerasBadInput, ZipEntryClaimingGigabytesIsRefusedBeforeReading) {
  t::TempDir dir;
  const std::string path = dir.str("claims.keras");
  keras::archive::write_entries(path, {{"config.json", std::string(1000, ' ') + "{}"}, {"model.weights.h5", "x"}}, std::time(nullptr));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto u16 = [&](size_t at) { return static_cast<size_t>(static_cast<uint8_t>(bytes[at])) | static_cast<size_t>(static_cast<uint8_t>(bytes[at + 1])) << 8; };
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  int patched = 0;
  for (size_t at = 0; at + 46 < bytes.size(); ++at) {
    if (bytes.compare(at, 4, std::string("PK\x03\x04", 4)) == 0 && bytes.compare(at + 30, u16(at + 26), "config.json") == 0) {
      put32(at + 22, 0xF0000000u);
      ++patched;
    }
    if (bytes.compare(at, 4, std::string("PK\x01\x02", 4)) == 0 && bytes.compare(at + 46, u16(at + 28), "config.json") == 0) {
      put32(at + 24, 0xF0000000u);
      ++patched;
    }
  }
  ASSERT_EQ(patched, 2);
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "config.json", "claims 4026531840 bytes");
}

// snare_meta values that are not what the facts need: ModelError naming the file, the attribute and the key
// (these used to end as an internal error from a JSON parse inside the data loader).
TEST(KerasBadInput, MalformedSnareMetaFacts) {
  t::TempDir dir;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"snare.scale", "bogus"},          {"snare.mean", "[1, \"x\"]"},       {"snare.stddev", "[0]"},
      {"snare.mean", "not json"},        {"snare.class_names", "[1, 2]"},     {"snare.factorized_from", "{\"nope\": \"dense\"}"},
      {"snare.factorized_from", "[]"}};
  for (const auto& [key, value] : bad) {
    SCOPED_TRACE(key + " = " + value);
    snare::ir::Graph g = snare::arch::build("lenet5", 1);
    g.meta[key] = value;  // written as it is: the writer keeps snare.* entries it does not know as facts
    const std::string path = dir.str("bad_meta.h5");
    keras::write_keras(g, path);
    try {
      keras::read_keras(path);
      ADD_FAILURE() << "read";
    } catch (const snare::ModelError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("snare_meta " + key), std::string::npos) << what;
    }
  }
}

TEST(KerasBadOutput, UnwritableDirectory) {
  snare::ir::Graph g = snare::arch::build("wisdm-mlp", 1);
  EXPECT_THROW(keras::write_keras(g, "no/such/dir/model.h5"), snare::OutputError);
  EXPECT_THROW(keras::write_keras(g, "model.onnx.txt"), snare::OutputError);
}

TEST(KerasBadOutput, InexpressibleLayerLeavesNothingBehind) {
  t::TempDir dir;
  snare::ir::Graph g = snare::arch::build("wisdm-mlp", 1);
  g.layers[1].activation = snare::ir::Activation::kLeakyRelu;  // Keras 2 has no fused leaky_relu
  g.layers[1].alpha = 0.1;
  std::string path = dir.str("leaky.h5");
  EXPECT_THROW(keras::write_keras(g, path), snare::UnsupportedError);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
