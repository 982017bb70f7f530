// Writing: read -> write -> read is the identity (text dump and outputs, bit for bit), written
// files have the structure of the files Keras writes, configs keep every field, and snare's own
// additions (meta, masks) travel in attributes Keras ignores.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include "arch/builder.h"
#include "arch/zoo.h"
#include "exec/network.h"
#include "io/keras/archive.h"
#include "io/keras/config.h"
#include "io/keras/hdf5.h"
#include "io/keras/keras.h"
#include "reduce/factorize.h"
#include "keras_test_util.h"
#include "support/layer_graphs.h"

namespace {

namespace keras = snare::io::keras;
namespace h5 = snare::io::keras::h5;
namespace t = snare::test;
using snare::ir::Graph;

at::Tensor random_batch(const Graph& g, int64_t n = 8) {
  Graph c = g;
  c.infer_shapes();
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), c.input_shape().begin(), c.input_shape().end());
  return at::rand(shape) * 4.0;
}

void expect_same_model(const Graph& a, const Graph& b) {
  EXPECT_EQ(snare::ir::dump(a), snare::ir::dump(b));
  at::manual_seed(11);
  at::Tensor x = random_batch(a);
  at::Tensor ya = snare::exec::predict(a, x), yb = snare::exec::predict(b, x);
  EXPECT_EQ((ya - yb).abs().max().item<float>(), 0.0f);
}

std::string extension_of(const std::string& path) { return path.substr(path.rfind('.')); }

TEST(KerasRoundTrip, EveryFixtureSurvivesReadWriteRead) {
  t::TempDir dir;
  for (const std::string& f : t::keras_fixtures()) {
    SCOPED_TRACE(f);
    Graph g1 = keras::read_keras(f);
    std::string out = dir.str("out" + extension_of(f));
    keras::write_keras(g1, out);
    Graph g2 = keras::read_keras(out);
    expect_same_model(g1, g2);
    EXPECT_EQ(g2.meta, g1.meta);
  }
}

TEST(KerasRoundTrip, FixturesConvertBetweenContainers) {
  t::TempDir dir;
  for (const std::string& f : t::keras_fixtures()) {
    SCOPED_TRACE(f);
    Graph g1 = keras::read_keras(f);
    std::string out = dir.str(extension_of(f) == ".keras" ? "other.h5" : "other.keras");
    keras::write_keras(g1, out);
    expect_same_model(g1, keras::read_keras(out));
  }
}

TEST(KerasRoundTrip, EveryBuiltInArchitectureSurvives) {
  t::TempDir dir;
  for (const auto& a : snare::arch::architectures()) {
    for (const char* ext : {".h5", ".keras"}) {
      SCOPED_TRACE(std::string(a.name) + ext);
      Graph g0 = snare::arch::build(a.name, 7);
      keras::write_keras(g0, dir.str(std::string("a") + ext));
      Graph g1 = keras::read_keras(dir.str(std::string("a") + ext));
      expect_same_model(g0, g1);  // the built graph itself comes back unchanged
      keras::write_keras(g1, dir.str(std::string("b") + ext));
      expect_same_model(g1, keras::read_keras(dir.str(std::string("b") + ext)));
    }
  }
}

TEST(KerasRoundTrip, TheSameModelWrittenTwiceGivesTheSameBytes) {
  // HDF5 stamps objects and zip stamps entries with the time of writing unless told not to; a user comparing
  // checksums of two runs of the same seed must see the same file. A .keras file says when it was saved, as Keras
  // writes it; SOURCE_DATE_EPOCH fixes that time.
  t::TempDir dir;
  Graph g = snare::arch::build("lenet5", 3);
  auto write_twice = [&](const std::string& ext) {
    keras::write_keras(g, dir.str("first" + ext));
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // both formats store whole seconds
    keras::write_keras(g, dir.str("second" + ext));
    std::string first = t::read_file(dir.str("first" + ext));
    EXPECT_FALSE(first.empty());
    return first == t::read_file(dir.str("second" + ext));
  };
  unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_TRUE(write_twice(".h5"));
  EXPECT_FALSE(write_twice(".keras"));  // without a fixed time the dates differ: the check below is not vacuous
  setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  EXPECT_TRUE(write_twice(".keras"));
  std::string meta = keras::archive::read_entries(dir.str("first.keras"), {"metadata.json"}).at("metadata.json");
  unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_NE(meta.find("\"2023-11-14@22:13:20\""), std::string::npos) << meta;
}

TEST(KerasRoundTrip, MergesCroppingUpSamplingKeepdimsPoolsAndSeparableConvsSurvive) {
  t::TempDir dir;
  for (const Graph& g0 : t::new_layer_graphs()) {
    for (const char* ext : {".h5", ".keras"}) {
      SCOPED_TRACE(g0.name + ext);
      keras::write_keras(g0, dir.str(std::string("a") + ext));
      Graph g1 = keras::read_keras(dir.str(std::string("a") + ext));
      expect_same_model(g0, g1);
      keras::write_keras(g1, dir.str(std::string("b") + ext));
      expect_same_model(g1, keras::read_keras(dir.str(std::string("b") + ext)));
    }
  }
  // The classes and fields Keras reads.
  keras::write_keras(t::merge_graph_2d(), dir.str("c.h5"));
  h5::File f = h5::File::open(dir.str("c.h5"));
  keras::Json config = keras::Json::parse(f.root().attr_string("model_config"));
  std::map<std::string, keras::Json> by_class;
  for (const keras::Json& l : config.at("config").at("layers")) by_class[l.at("class_name")] = l.at("config");
  for (const char* cls : {"Multiply", "Add", "Average", "Maximum", "Minimum", "Cropping2D", "UpSampling2D",
                          "Reshape", "GlobalAveragePooling2D"}) {
    EXPECT_TRUE(by_class.count(cls)) << cls;
  }
  EXPECT_EQ(by_class["Cropping2D"]["cropping"], keras::Json::parse("[[1,2],[0,3]]"));
  EXPECT_EQ(by_class["UpSampling2D"]["size"], keras::Json::parse("[2,1]"));
  EXPECT_EQ(by_class["UpSampling2D"]["interpolation"], "nearest");
}

/// "G path", "D path [shape]" and "A path@name=values" lines for a subtree, values only for the name
/// lists Keras reads back.
void structure(const h5::Group& g, std::vector<std::string>& out) {
  for (const std::string& a : g.attr_names()) {
    std::string line = "A " + g.path() + "@" + a;
    if (a.find("_names") != std::string::npos || a == "name") {
      for (const std::string& v : g.attr_strings(a)) line += " " + v;
    }
    out.push_back(line);
  }
  for (const std::string& m : g.members()) {
    if (g.has_group(m)) {
      out.push_back("G " + g.group(m).path());
      structure(g.group(m), out);
    } else {
      at::Tensor d = g.dataset(m);
      std::vector<int64_t> s(d.sizes().begin(), d.sizes().end());
      out.push_back("D " + g.path() + "/" + m + " " + snare::ir::shape_string(s));
    }
  }
}

std::vector<std::string> structure(const h5::Group& g) {
  std::vector<std::string> out;
  structure(g, out);
  return out;
}

void expect_same_datasets(const h5::Group& a, const h5::Group& b) {
  for (const std::string& m : a.members()) {
    if (a.has_group(m)) {
      expect_same_datasets(a.group(m), b.group(m));
    } else {
      EXPECT_TRUE(at::equal(a.dataset(m), b.dataset(m))) << a.path() << "/" << m;
    }
  }
}

TEST(KerasStructure, WrittenH5HasTheStructureKerasWrote) {
  t::TempDir dir;
  for (const std::string& f : {t::kLenetKeras2, t::kHarMlp, t::kHarLstm}) {
    SCOPED_TRACE(f);
    keras::write_keras(keras::read_keras(f), dir.str("out.h5"));
    h5::File original = h5::File::open(f), written = h5::File::open(dir.str("out.h5"));
    h5::Group ro = original.root(), rw = written.root();
    for (const char* attr : {"backend", "keras_version", "model_config", "training_config"}) {
      ASSERT_TRUE(rw.has_attr(attr)) << attr;
      if (std::string(attr) != "model_config") {
        EXPECT_EQ(rw.attr_string(attr), ro.attr_string(attr)) << attr;
      }
    }
    EXPECT_EQ(keras::Json::parse(rw.attr_string("model_config")), keras::Json::parse(ro.attr_string("model_config")));
    EXPECT_EQ(structure(rw.group("model_weights")), structure(ro.group("model_weights")));
    expect_same_datasets(ro.group("model_weights"), rw.group("model_weights"));
  }
}

TEST(KerasStructure, WrittenZipHasTheStructureKerasWrote) {
  t::TempDir dir;
  keras::write_keras(keras::read_keras(t::kLenetKeras3Zip), dir.str("out.keras"));
  auto original = keras::archive::read_entries(t::kLenetKeras3Zip, {"config.json", "metadata.json", "model.weights.h5"});
  auto written = keras::archive::read_entries(dir.str("out.keras"), {"config.json", "metadata.json", "model.weights.h5"});
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(keras::Json::parse(written["config.json"]), keras::Json::parse(original["config.json"]));
  EXPECT_EQ(written["metadata.json"], original["metadata.json"]);
  h5::File wo = h5::File::open_image(original["model.weights.h5"], "original");
  h5::File ww = h5::File::open_image(written["model.weights.h5"], "written");
  EXPECT_EQ(structure(ww.root().group("layers")), structure(wo.root().group("layers")));
  expect_same_datasets(wo.root().group("layers"), ww.root().group("layers"));
  EXPECT_EQ(ww.root().group("vars").attr_string("name"), "sequential");
}

TEST(KerasStructure, GeneratedFileLooksLikeAKeras2File) {
  t::TempDir dir;
  Graph g = snare::arch::build("lenet5", 1);
  keras::write_keras(g, dir.str("lenet5.h5"));
  h5::File f = h5::File::open(dir.str("lenet5.h5"));
  h5::Group root = f.root();
  keras::Json config = keras::Json::parse(root.attr_string("model_config"));
  EXPECT_EQ(config["class_name"], "Sequential");
  const keras::Json& layers = config["config"]["layers"];
  EXPECT_EQ(layers[0]["class_name"], "InputLayer");
  EXPECT_EQ(layers[0]["config"]["batch_input_shape"], keras::Json::parse("[null, 28, 28, 1]"));
  EXPECT_EQ(layers[1]["class_name"], "Conv2D");
  EXPECT_EQ(layers[1]["config"]["filters"], 6);
  EXPECT_EQ(layers[1]["config"]["padding"], "same");
  EXPECT_EQ(root.attr_string("backend"), "tensorflow");
  h5::Group mw = root.group("model_weights");
  EXPECT_EQ(mw.attr_strings("layer_names"),
            (std::vector<std::string>{"conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dense",
                                      "dense_1", "dense_2"}));
  EXPECT_EQ(mw.group("conv2d").attr_strings("weight_names"),
            (std::vector<std::string>{"conv2d/kernel:0", "conv2d/bias:0"}));
  EXPECT_EQ(mw.group("conv2d").dataset("conv2d/kernel:0").sizes(), (std::vector<int64_t>{5, 5, 1, 6}));
  EXPECT_EQ(mw.group("dense").dataset("dense/kernel:0").sizes(), (std::vector<int64_t>{400, 120}));
  EXPECT_TRUE(mw.group("flatten").attr_strings("weight_names").empty());
}

/// Graph with two branches, Add and Concatenate: written as a Functional model.
Graph branching_graph() {
  snare::arch::GraphBuilder b("branches", {3, 8, 8}, 5);
  b.conv2d(4, 3, snare::ir::Padding::kSame, snare::ir::Activation::kRelu);
  Graph g = b.finish();
  snare::ir::Layer other = g.layers[1];
  other.name = "conv2d_other";
  other.activation = snare::ir::Activation::kTanh;
  other.weights["weight"] = at::randn({4, 3, 3, 3});
  other.weights["bias"] = at::randn({4});
  g.layers.push_back(other);
  snare::ir::Layer add;
  add.name = "add";
  add.kind = snare::ir::LayerKind::kAdd;
  add.inputs = {"conv2d", "conv2d_other"};
  g.layers.push_back(add);
  snare::ir::Layer cat;
  cat.name = "concatenate";
  cat.kind = snare::ir::LayerKind::kConcatenate;
  cat.inputs = {"add", "conv2d"};
  g.layers.push_back(cat);
  snare::ir::Layer bn;
  bn.name = "batch_normalization";
  bn.kind = snare::ir::LayerKind::kBatchNorm;
  bn.inputs = {"concatenate"};
  bn.weights = {{"weight", at::rand({8}) + 0.5}, {"bias", at::randn({8})}, {"running_mean", at::randn({8})},
                {"running_var", at::rand({8}) + 0.5}};
  g.layers.push_back(bn);
  snare::ir::Layer gap;
  gap.name = "global_average_pooling2d";
  gap.kind = snare::ir::LayerKind::kGlobalAvgPool2D;
  gap.inputs = {"batch_normalization"};
  g.layers.push_back(gap);
  snare::ir::Layer dense;
  dense.name = "dense";
  dense.kind = snare::ir::LayerKind::kDense;
  dense.units = 3;
  dense.activation = snare::ir::Activation::kSoftmax;
  dense.inputs = {"global_average_pooling2d"};
  dense.weights = {{"weight", at::randn({3, 8})}, {"bias", at::randn({3})}};
  g.layers.push_back(dense);
  g.infer_shapes();
  snare::ir::verify(g);
  return g;
}

TEST(KerasRoundTrip, FunctionalModelsInBothDialects) {
  t::TempDir dir;
  Graph g = branching_graph();
  for (const char* name : {"f.h5", "f.keras"}) {
    SCOPED_TRACE(name);
    keras::write_keras(g, dir.str(name));
    Graph g1 = keras::read_keras(dir.str(name));
    EXPECT_EQ(g1.meta.at("keras.model_class"), "Functional");
    expect_same_model(g, g1);
    keras::write_keras(g1, dir.str(std::string("again_") + name));
    expect_same_model(g1, keras::read_keras(dir.str(std::string("again_") + name)));
  }
}

TEST(KerasRoundTrip, SnareFactsAndMasksTravelInRootAttributes) {
  t::TempDir dir;
  Graph g = snare::reduce::factorize(snare::arch::build("lenet5", 3), "dense_1", 8);
  g.input_scaling = {snare::ir::InputScaling::Scale::kStandard, {33.3}, {78.5}};
  g.trained_on = "mnist";
  g.class_names = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
  g.meta["snare.from_a_newer_snare"] = "kept as it came";
  snare::ir::Layer& dense = g.layer("dense");
  at::Tensor mask = (at::rand(dense.weights.at("weight").sizes()) > 0.5).to(at::kFloat);
  dense.weights["weight"] = dense.weights.at("weight") * mask;
  dense.masks["weight"] = mask;
  for (const char* name : {"m.h5", "m.keras"}) {
    SCOPED_TRACE(name);
    keras::write_keras(g, dir.str(name));
    Graph g1 = keras::read_keras(dir.str(name));
    expect_same_model(g, g1);
    EXPECT_EQ(g1.input_scaling.scale, snare::ir::InputScaling::Scale::kStandard);
    EXPECT_EQ(g1.input_scaling.mean, std::vector<double>{33.3});
    EXPECT_EQ(g1.input_scaling.stddev, std::vector<double>{78.5});
    EXPECT_EQ(g1.trained_on, "mnist");
    EXPECT_EQ(g1.class_names, g.class_names);
    EXPECT_EQ(g1.layer("dense_1_lowrank").factorized_from, "dense_1");
    EXPECT_EQ(g1.meta.at("snare.from_a_newer_snare"), "kept as it came");
    ASSERT_TRUE(g1.layer("dense").masks.count("weight"));
    EXPECT_TRUE(at::equal(g1.layer("dense").masks.at("weight"), mask));
    EXPECT_TRUE(g1.layer("conv2d").masks.empty());
  }
}

/// Removes the last `drop` units of Dense `name` and the matching inputs of Dense `next`.
void shrink_dense(Graph& g, const std::string& name, const std::string& next, int64_t drop) {
  snare::ir::Layer& l = g.layer(name);
  l.units -= drop;
  l.weights["weight"] = l.weights.at("weight").narrow(0, 0, l.units).contiguous();
  l.weights["bias"] = l.weights.at("bias").narrow(0, 0, l.units).contiguous();
  snare::ir::Layer& n = g.layer(next);
  n.weights["weight"] = n.weights.at("weight").narrow(1, 0, l.units).contiguous();
  g.infer_shapes();
}

TEST(KerasReduced, OnlyTheChangedUnitsChangeInTheConfig) {
  t::TempDir dir;
  Graph g = keras::read_keras(t::kLenetKeras2);
  shrink_dense(g, "dense_1", "dense_2", 20);
  keras::write_keras(g, dir.str("small.h5"));
  h5::File original = h5::File::open(t::kLenetKeras2), written = h5::File::open(dir.str("small.h5"));
  keras::Json expected = keras::Json::parse(original.root().attr_string("model_config"));
  for (keras::Json& l : expected["config"]["layers"]) {
    if (l["config"]["name"] == "dense_1") l["config"]["units"] = 100;
  }
  EXPECT_EQ(keras::Json::parse(written.root().attr_string("model_config")), expected);
  expect_same_model(g, keras::read_keras(dir.str("small.h5")));
}

TEST(KerasReduced, Keras3BuildShapesFollowTheReduction) {
  t::TempDir dir;
  Graph g = keras::read_keras(t::kLenetKeras3Zip);
  shrink_dense(g, "dense", "dense_1", 4);
  keras::write_keras(g, dir.str("small.keras"));
  auto written = keras::archive::read_entries(dir.str("small.keras"), {"config.json"});
  keras::Json config = keras::Json::parse(written["config.json"]);
  const keras::Json& dense_1 = config["config"]["layers"][8];
  ASSERT_EQ(dense_1["config"]["name"], "dense_1");
  EXPECT_EQ(dense_1["build_config"]["input_shape"], keras::Json::parse("[null, 80]"));
  EXPECT_EQ(config["config"]["layers"][7]["config"]["units"], 80);
  expect_same_model(g, keras::read_keras(dir.str("small.keras")));
}

TEST(KerasRoundTrip, ChannelsFirstFlattenIsWrittenInKerasOrder) {
  t::TempDir dir;
  Graph g = snare::arch::build("lenet5", 2);
  g.layer("flatten").channels_last = false;  // as an ONNX import would have it
  keras::write_keras(g, dir.str("cf.h5"));
  Graph g1 = keras::read_keras(dir.str("cf.h5"));
  EXPECT_TRUE(g1.layer("flatten").channels_last);
  at::Tensor x = random_batch(g);
  EXPECT_TRUE(at::allclose(snare::exec::predict(g, x), snare::exec::predict(g1, x), 1e-5, 1e-6));
}

}  // namespace
