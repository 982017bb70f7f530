// The embedded model zoo (../shared/models/keras/zoo/, MODELS.md): real tf.keras 2.x models with
// DepthwiseConv2D, ReLU(max_value=6), BatchNormalization and residual Adds load, count the parameters
// Keras stores, and survive read -> write -> read. Plus the config mappings these models need
// (ReLU forms, the new activations, groups, depth_multiplier) on hand-made configs.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <iostream>

#include "analysis/groups.h"
#include "analysis/stats.h"
#include "common/error.h"
#include "exec/network.h"
#include "io/keras/archive.h"
#include "io/keras/config.h"
#include "io/keras/hdf5.h"
#include "io/keras/keras.h"
#include "io/keras/layout.h"
#include "io/model_file.h"
#include "keras_test_util.h"

namespace {

namespace keras = snare::io::keras;
namespace h5 = snare::io::keras::h5;
namespace t = snare::test;
using snare::ir::Activation;
using snare::ir::Graph;
using snare::ir::LayerKind;

/// Element count of every dataset below `g`: what Keras stores, so what its summary counts as params
/// (BatchNormalization's moving mean and variance included, as analysis::analyze counts them too).
int64_t stored_values(const h5::Group& g) {
  int64_t n = 0;
  for (const std::string& m : g.members()) {
    if (g.has_group(m)) n += stored_values(g.group(m));
    else if (g.has_dataset(m)) n += g.dataset(m).numel();
  }
  return n;
}

int64_t stored_params(const std::string& path) {
  h5::File f = h5::File::open(path);
  return stored_values(f.root().group("model_weights"));
}

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

TEST(KerasZoo, EveryModelLoadsWithTheParamsKerasStores) {
  std::vector<std::string> models = t::keras_zoo_models();
  ASSERT_EQ(models.size(), 7u) << "expected the seven zoo models of MODELS.md";
  for (const std::string& f : models) {
    SCOPED_TRACE(f);
    Graph g;
    ASSERT_NO_THROW(g = snare::io::load_model(f));
    int64_t expected = stored_params(f);
    int64_t params = snare::analysis::analyze(g).params;
    EXPECT_EQ(params, expected);
    EXPECT_GT(params, 0);
    std::cout << "[zoo] " << base_name(f) << ": " << g.layers.size() << " layers, " << params << " params (HDF5 "
              << expected << ")\n";
  }
}

TEST(KerasZoo, EveryModelSurvivesReadWriteRead) {
  t::TempDir dir;
  for (const std::string& f : t::keras_zoo_models()) {
    for (const char* ext : {".h5", ".keras"}) {
      SCOPED_TRACE(f + " -> " + ext);
      Graph g1 = snare::io::load_model(f);
      std::string out = dir.str(std::string("out") + ext);
      snare::io::save_model(g1, out);
      Graph g2 = snare::io::load_model(out);
      EXPECT_EQ(snare::ir::dump(g2), snare::ir::dump(g1));
      if (std::string(ext) == ".h5") {
        EXPECT_EQ(g2.meta, g1.meta);
        EXPECT_EQ(stored_params(out), stored_params(f));  // same datasets, no extra ones
      }
    }
  }
}

TEST(KerasZoo, YamnetIsReadFlat) {
  // input_1 -> Permute -> Sequential sequential_2 [InputLayer model_2_input, Functional model_2 [InputLayer
  // input_4, Conv2D layer1/conv, ...], GlobalAveragePooling2D] -> Dense new_head: read as one flat graph, the
  // nested InputLayers dropped, inner names kept, the weights found under model_weights/sequential_2.
  Graph g = keras::read_keras(t::kZooYamnet);
  EXPECT_EQ(g.meta.at("keras.model_class"), "Functional");
  for (const char* gone : {"sequential_2", "model_2", "model_2_input", "input_4"}) EXPECT_LT(g.index_of(gone), 0) << gone;
  const snare::ir::Layer& p = g.layer("permute");
  EXPECT_EQ(p.kind, LayerKind::kPermute);
  EXPECT_EQ(p.permutation, (snare::ir::Shape{0, 2, 1}));  // Keras (H,W,C) dims [2,1,3]: H and W swap
  EXPECT_EQ(p.output_shape, (snare::ir::Shape{1, 96, 64}));
  EXPECT_EQ(g.layer("layer1/conv").inputs, std::vector<std::string>{"permute"});
  EXPECT_EQ(g.layer("new_head").inputs, std::vector<std::string>{"global_average_pooling2d_3"});
  EXPECT_EQ(g.output_names(), std::vector<std::string>{"new_head"});
  // BatchNormalization with scale=False: no gamma, as stored.
  const snare::ir::Layer& bn = g.layer("layer1/conv/bn");
  EXPECT_FALSE(bn.use_scale);
  EXPECT_TRUE(bn.use_bias);
  EXPECT_EQ(bn.weights.count("weight"), 0u);
  // Weights are the nested group's datasets, element by element.
  h5::File f = h5::File::open(t::kZooYamnet);
  h5::Group sg = f.root().group("model_weights/sequential_2");
  at::Tensor kernel = sg.dataset("layer1/conv/kernel:0");  // [3,3,1,32]
  EXPECT_TRUE(at::equal(g.layer("layer1/conv").weights.at("weight"), keras::layout::conv_kernel_from_keras(kernel)));
  EXPECT_TRUE(at::equal(bn.weights.at("bias"), sg.dataset("layer1/conv/bn/beta:0")));
  EXPECT_TRUE(at::equal(g.layer("layer6/pointwise_conv/bn").weights.at("running_var"),
                        sg.dataset("layer6/pointwise_conv/bn/moving_variance:0")));
}

/// A tf.keras 2 style file: Sequential `outer` [InputLayer inp (4,4,2), Conv2D conv 1x1 -> 2, Functional block
/// [InputLayer block_in, Conv2D conv (no bias; the name clashes with the outer conv), BatchNormalization bn
/// (scale=False), Add(block_in, bn)], Permute dims [3,1,2] (moves the channels), Flatten, Dense dense 3].
struct NestedFile {
  at::Tensor k1, b1, k2, beta, mean, var, kd, bd;  // Keras layouts
};

NestedFile write_nested_h5(const std::string& path) {
  at::Generator gen = at::detail::createCPUGenerator(9);
  auto rnd = [&](std::vector<int64_t> shape) { return at::randn(shape, gen, at::TensorOptions(at::kFloat)) * 0.5; };
  NestedFile w{rnd({1, 1, 2, 2}), rnd({2}), rnd({1, 1, 2, 2}), rnd({2}), rnd({2}), rnd({2}).abs() + 0.5, rnd({32, 3}),
               rnd({3})};
  keras::Json conv = {{"class_name", "Conv2D"},
                      {"config", {{"name", "conv"}, {"filters", 2}, {"kernel_size", {1, 1}}, {"strides", {1, 1}},
                                  {"padding", "valid"}, {"data_format", "channels_last"}, {"dilation_rate", {1, 1}},
                                  {"groups", 1}, {"activation", "linear"}, {"use_bias", true}}}};
  keras::Json inner_conv = conv;
  inner_conv["config"]["use_bias"] = false;
  inner_conv["name"] = "conv";
  inner_conv["inbound_nodes"] = keras::Json::parse(R"([[["block_in", 0, 0, {}]]])");
  keras::Json block = keras::Json::parse(R"({"class_name": "Functional", "config": {"name": "block", "layers": [
      {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 4, 2], "dtype": "float32",
       "name": "block_in"}, "name": "block_in", "inbound_nodes": []}],
      "input_layers": [["block_in", 0, 0]], "output_layers": [["add", 0, 0]]}})");
  keras::Json& inner = block["config"]["layers"];
  inner.push_back(inner_conv);
  inner.push_back(keras::Json::parse(R"({"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [3],
      "momentum": 0.99, "epsilon": 0.001, "center": true, "scale": false}, "name": "bn",
      "inbound_nodes": [[["conv", 0, 0, {}]]]})"));
  inner.push_back(keras::Json::parse(R"({"class_name": "Add", "config": {"name": "add"}, "name": "add",
      "inbound_nodes": [[["block_in", 0, 0, {}], ["bn", 0, 0, {}]]]})"));
  keras::Json model = keras::Json::parse(R"({"class_name": "Sequential", "config": {"name": "outer", "layers": [
      {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 4, 2], "dtype": "float32",
       "name": "inp"}}]}})");
  keras::Json& layers = model["config"]["layers"];
  layers.push_back(conv);
  layers.push_back(block);
  layers.push_back(keras::Json::parse(R"({"class_name": "Permute", "config": {"name": "permute", "dims": [3, 1, 2]}})"));
  layers.push_back(keras::Json::parse(R"({"class_name": "Flatten", "config": {"name": "flatten",
      "data_format": "channels_last"}})"));
  layers.push_back(keras::Json::parse(R"({"class_name": "Dense", "config": {"name": "dense", "units": 3,
      "activation": "linear", "use_bias": true}})"));

  h5::File f = h5::File::create(path);
  h5::Group root = f.root();
  root.set_attr_string("backend", "tensorflow", h5::StringStorage::kVariableAscii);
  root.set_attr_string("keras_version", "2.8.0", h5::StringStorage::kVariableAscii);
  root.set_attr_string("model_config", model.dump(), h5::StringStorage::kVariableAscii);
  h5::Group mw = root.create_group("model_weights");
  mw.set_attr_strings("layer_names", {"conv", "block", "permute", "flatten", "dense"}, h5::StringStorage::kFixedAscii);
  auto group = [&](const std::string& name, const std::vector<std::pair<std::string, at::Tensor>>& weights) {
    h5::Group g = mw.create_group(name);
    std::vector<std::string> names;
    for (const auto& [n, t] : weights) {
      g.write_dataset(n, t);
      names.push_back(n);
    }
    if (names.empty()) g.set_attr_empty("weight_names");
    else g.set_attr_strings("weight_names", names, h5::StringStorage::kFixedAscii);
  };
  group("conv", {{"conv/kernel:0", w.k1}, {"conv/bias:0", w.b1}});
  group("block", {{"conv/kernel:0", w.k2}, {"bn/beta:0", w.beta}, {"bn/moving_mean:0", w.mean},
                  {"bn/moving_variance:0", w.var}});
  group("permute", {});
  group("flatten", {});
  group("dense", {{"dense/kernel:0", w.kd}, {"dense/bias:0", w.bd}});
  return w;
}

TEST(KerasNested, SequentialHoldingAFunctionalIsReadFlatAndComputesWhatKerasComputes) {
  t::TempDir dir;
  std::string path = dir.str("nested.h5");
  NestedFile w = write_nested_h5(path);
  Graph g = keras::read_keras(path);
  // Flat: the nested InputLayer dropped, the clashing inner name prefixed, a Functional now (the block branches).
  std::vector<std::string> names;
  for (const auto& l : g.layers) names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"inp", "conv", "block/conv", "bn", "add", "permute", "flatten", "dense"}));
  EXPECT_EQ(g.meta.at("keras.model_class"), "Functional");
  EXPECT_EQ(g.layer("block/conv").inputs, std::vector<std::string>{"conv"});
  EXPECT_EQ(g.layer("add").inputs, (std::vector<std::string>{"conv", "bn"}));
  EXPECT_EQ(g.layer("permute").inputs, std::vector<std::string>{"add"});
  EXPECT_EQ(g.layer("permute").permutation, (snare::ir::Shape{2, 0, 1}));
  EXPECT_TRUE(at::equal(g.layer("block/conv").weights.at("weight"), keras::layout::conv_kernel_from_keras(w.k2)));
  EXPECT_TRUE(at::equal(g.layer("conv").weights.at("weight"), keras::layout::conv_kernel_from_keras(w.k1)));
  EXPECT_EQ(snare::analysis::analyze(g).params, stored_params(path));

  // Keras' arithmetic by hand, channels_last.
  at::Generator gen = at::detail::createCPUGenerator(4);
  at::Tensor x = at::rand({2, 4, 4, 2}, gen, at::TensorOptions(at::kFloat));
  at::Tensor c1 = at::einsum("nhwc,co->nhwo", {x, w.k1.reshape({2, 2})}) + w.b1;
  at::Tensor c2 = at::einsum("nhwc,co->nhwo", {c1, w.k2.reshape({2, 2})});
  at::Tensor bn = (c2 - w.mean) / at::sqrt(w.var + 1e-3) + w.beta;
  at::Tensor permuted = (c1 + bn).permute({0, 3, 1, 2});  // dims [3,1,2]
  at::Tensor expected = at::matmul(permuted.reshape({2, -1}), w.kd) + w.bd;
  at::Tensor y = snare::exec::predict(g, x.permute({0, 3, 1, 2}).contiguous());
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-5)) << y << expected;

  // Written flat (a Functional with the prefixed name), read back the same.
  std::string out = dir.str("flat.h5");
  snare::io::save_model(g, out);
  Graph back = keras::read_keras(out);
  EXPECT_EQ(snare::ir::dump(back), snare::ir::dump(g));
  h5::File written = h5::File::open(out);
  keras::Json config = keras::Json::parse(written.root().attr_string("model_config"));
  EXPECT_EQ(config["class_name"], "Functional");
  EXPECT_EQ(t::layer_config(config, "block/conv")["config"]["name"], "block/conv");
  EXPECT_EQ(t::layer_config(config, "permute")["config"]["dims"], keras::Json::parse("[3, 1, 2]"));
  EXPECT_EQ(t::layer_config(config, "bn")["config"]["scale"], false);
}

TEST(KerasNested, UnitGroupsPassAPermuteThatKeepsTheChannelsAndStopAtOneThatMovesThem) {
  auto graph = [](snare::ir::Shape perm) {
    Graph g;
    g.name = "g";
    snare::ir::Layer in;
    in.name = "input";
    in.kind = LayerKind::kInput;
    in.input_shape = {2, 4, 4};
    snare::ir::Layer c;
    c.name = "c";
    c.kind = LayerKind::kConv2D;
    c.inputs = {"input"};
    c.units = 3;
    c.kernel = {1, 1};
    c.strides = {1, 1};
    c.dilation = {1, 1};
    c.weights["weight"] = at::ones({3, 2, 1, 1});
    c.weights["bias"] = at::zeros({3});
    snare::ir::Layer p;
    p.name = "p";
    p.kind = LayerKind::kPermute;
    p.inputs = {"c"};
    p.permutation = std::move(perm);
    snare::ir::Layer f;
    f.name = "f";
    f.kind = LayerKind::kFlatten;
    f.inputs = {"p"};
    snare::ir::Layer d;
    d.name = "d";
    d.kind = LayerKind::kDense;
    d.inputs = {"f"};
    d.units = 2;
    d.weights["weight"] = at::ones({2, 48});
    d.weights["bias"] = at::zeros({2});
    g.layers = {in, c, p, f, d};
    g.infer_shapes();
    return g;
  };
  std::vector<snare::analysis::UnitGroup> passing = snare::analysis::unit_groups(graph({0, 2, 1}));
  const snare::analysis::UnitGroup& kept = snare::analysis::group_of(passing, "c");
  EXPECT_TRUE(kept.prunable) << kept.reason;
  std::vector<snare::analysis::UnitGroup> groups = snare::analysis::unit_groups(graph({1, 0, 2}));
  const snare::analysis::UnitGroup& moved = snare::analysis::group_of(groups, "c");
  EXPECT_FALSE(moved.prunable);
  EXPECT_NE(moved.reason.find("Permute 'p' moves the channel axis"), std::string::npos) << moved.reason;
}

TEST(KerasZoo, UnsupportedClassesInsideNestedModelsAreListedWithTheOthers) {
  t::TempDir dir;
  std::string path = dir.str("nested_lambda.h5");
  t::copy_h5(t::kZooYamnet, path, [](keras::Json& model) {
    keras::Json& outer = model["config"]["layers"];
    outer[1]["class_name"] = "Lambda";  // the Permute
    keras::Json& inner = outer[2]["config"]["layers"][1]["config"]["layers"];
    inner[2]["class_name"] = "MyCustomLayer";  // layer1/conv/bn
  });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::UnsupportedError, "2 unsupported layers",
                    "'permute' (Lambda): unknown layer class", "'layer1/conv/bn' (MyCustomLayer): unknown layer class");
}

TEST(KerasZoo, ZooUsesTheNewLayers) {
  // Guards the fixtures' purpose: depthwise convolutions and relu6 are really read as such.
  Graph v1 = keras::read_keras(t::kZooDir + "/mobilenet_v1_0.25_96_vww_tfkeras.h5");
  Graph v2 = keras::read_keras(t::kZooDir + "/mobilenet_v2_0.35_128_flowers_tfkeras.h5");
  auto count = [](const Graph& g, auto pred) { return std::count_if(g.layers.begin(), g.layers.end(), pred); };
  auto depthwise = [](const snare::ir::Layer& l) { return l.kind == LayerKind::kDepthwiseConv2D; };
  auto relu6 = [](const snare::ir::Layer& l) { return l.kind == LayerKind::kActivation && l.activation == Activation::kRelu6; };
  EXPECT_EQ(count(v1, depthwise), 13);
  EXPECT_EQ(count(v2, depthwise), 17);
  EXPECT_EQ(count(v2, relu6), 35);
  const snare::ir::Layer& d = v2.layer("depthwise_conv2d");
  EXPECT_EQ(d.multiplier, 1);
  EXPECT_FALSE(d.use_bias);
  EXPECT_EQ(d.padding, snare::ir::Padding::kSame);
}

TEST(KerasZoo, DepthwiseKernelMatchesTheHdf5DatasetElementByElement) {
  std::string path = t::kZooDir + "/mobilenet_v1_0.25_96_vww_tfkeras.h5";
  Graph g = keras::read_keras(path);
  auto it = std::find_if(g.layers.begin(), g.layers.end(),
                         [](const snare::ir::Layer& l) { return l.kind == LayerKind::kDepthwiseConv2D; });
  ASSERT_NE(it, g.layers.end());
  h5::File f = h5::File::open(path);
  h5::Group lg = f.root().group("model_weights").group(it->name);
  std::vector<std::string> names = lg.attr_strings("weight_names");
  ASSERT_FALSE(names.empty());
  EXPECT_NE(names[0].find("depthwise_kernel"), std::string::npos) << names[0];
  at::Tensor k = lg.dataset(names[0]);  // [kh, kw, C, M]
  at::Tensor w = it->weights.at("weight");  // [C*M, 1, kh, kw]
  ASSERT_EQ(k.dim(), 4);
  int64_t kh = k.size(0), kw = k.size(1), c = k.size(2), m = k.size(3);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{c * m, 1, kh, kw}));
  auto ka = k.accessor<float, 4>();
  auto wa = w.accessor<float, 4>();
  for (int64_t ci = 0; ci < c; ++ci) {
    for (int64_t mi = 0; mi < m; ++mi) {
      for (int64_t i = 0; i < kh; ++i) {
        for (int64_t j = 0; j < kw; ++j) ASSERT_EQ(wa[ci * m + mi][0][i][j], ka[i][j][ci][mi]) << ci << "," << mi << "," << i << "," << j;
      }
    }
  }
}

TEST(KerasZoo, WrittenReluLayersKeepTheirKerasForm) {
  t::TempDir dir;
  Graph g = keras::read_keras(t::kZooDir + "/mobilenet_v2_0.35_128_flowers_tfkeras.h5");
  keras::write_keras(g, dir.str("v2.h5"));
  h5::File f = h5::File::open(dir.str("v2.h5"));
  keras::Json model = keras::Json::parse(f.root().attr_string("model_config"));
  keras::Json& relu = t::layer_config(model, "re_lu");
  EXPECT_EQ(relu["class_name"], "ReLU");
  EXPECT_EQ(relu["config"]["max_value"], 6);
  keras::Json& dw = t::layer_config(model, "depthwise_conv2d");
  EXPECT_EQ(dw["class_name"], "DepthwiseConv2D");
  EXPECT_EQ(dw["config"]["depth_multiplier"], 1);
}

// --- Config mappings on hand-made entries ----------------------------------------------------------

keras::LayerEntry entry(const std::string& cls, const keras::Json& config) {
  keras::Json c = config;
  c["name"] = "x";
  keras::Json model = {{"class_name", "Sequential"},
                       {"config",
                        {{"name", "s"},
                         {"layers",
                          {{{"class_name", "InputLayer"}, {"config", {{"batch_input_shape", {nullptr, 8, 8, 4}}, {"name", "in"}}}},
                           {{"class_name", cls}, {"config", c}}}}}}};
  return keras::parse_model_config(model, "m.h5").layers.at(1);
}

snare::ir::Layer ir_layer(const std::string& cls, const keras::Json& config) {
  keras::LayerEntry e = entry(cls, config);
  std::string why = keras::unsupported_reason(e);
  if (!why.empty()) throw std::runtime_error(why);
  return keras::to_ir_layer(e, {{4, 8, 8}}, "m.h5");
}

TEST(KerasZooConfig, ReluLayerForms) {
  struct Case {
    keras::Json config;
    Activation activation;
    double alpha;
  };
  const Case cases[] = {
      {keras::Json::object(), Activation::kRelu, 0.0},
      {{{"max_value", nullptr}, {"negative_slope", 0}, {"threshold", 0}}, Activation::kRelu, 0.0},
      {{{"max_value", 6}, {"negative_slope", 0}, {"threshold", 0}}, Activation::kRelu6, 0.0},  // tf.keras 2.8 writes ints
      {{{"max_value", 6.0}, {"negative_slope", 0.0}, {"threshold", 0.0}}, Activation::kRelu6, 0.0},  // Keras 3
      {{{"max_value", nullptr}, {"negative_slope", 0.1}, {"threshold", 0.0}}, Activation::kLeakyRelu, 0.1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.config.dump());
    snare::ir::Layer l = ir_layer("ReLU", c.config);
    EXPECT_EQ(l.kind, LayerKind::kActivation);
    EXPECT_EQ(l.activation, c.activation);
    EXPECT_DOUBLE_EQ(l.alpha, c.alpha);
  }
}

TEST(KerasZooConfig, UnsupportedReluFormsNameTheirValues) {
  struct Case {
    keras::Json config;
    std::string part;
  };
  const Case cases[] = {
      {{{"max_value", 5}}, "max_value=5"},
      {{{"max_value", 6}, {"threshold", 1}}, "threshold=1"},
      {{{"max_value", 6}, {"negative_slope", 0.1}}, "negative_slope=0.1"},
      {{{"negative_slope", 0.1}, {"threshold", 0.5}}, "threshold=0.5"},
      {{{"negative_slope", -1}}, "negative_slope=-1"},
      {{{"max_value", "six"}}, "max_value \"six\" is not a number"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.config.dump());
    std::string why = keras::unsupported_reason(entry("ReLU", c.config));
    EXPECT_NE(why.find(c.part), std::string::npos) << why;
  }
}

TEST(KerasZooConfig, ActivationNamesOfBothDialects) {
  const std::pair<const char*, Activation> cases[] = {
      {"relu6", Activation::kRelu6},       {"swish", Activation::kSwish},          {"silu", Activation::kSwish},
      {"hard_swish", Activation::kHardSwish}, {"hard_silu", Activation::kHardSwish}, {"gelu", Activation::kGelu},
      {"softplus", Activation::kSoftplus}, {"softsign", Activation::kSoftsign},    {"exponential", Activation::kExponential},
  };
  for (const auto& [name, activation] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ir_layer("Activation", {{"activation", name}}).activation, activation);
    // Keras 3 may wrap built-ins as objects.
    EXPECT_EQ(ir_layer("Activation", {{"activation", {{"module", "keras.activations"}, {"class_name", "function"},
                                                      {"config", name}, {"registered_name", "function"}}}})
                  .activation,
              activation);
    // fused into a convolution
    snare::ir::Layer conv = ir_layer("Conv2D", {{"filters", 2}, {"kernel_size", {3, 3}}, {"activation", name}});
    EXPECT_EQ(conv.activation, activation);
  }
  std::string why = keras::unsupported_reason(entry("Activation", {{"activation", "mish"}}));
  EXPECT_NE(why.find("mish"), std::string::npos) << why;
}

TEST(KerasZooConfig, DepthwiseAndGroupedConvolutions) {
  snare::ir::Layer d = ir_layer("DepthwiseConv2D", {{"kernel_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "same"},
                                                   {"dilation_rate", {1, 1}}, {"depth_multiplier", 3},
                                                   {"use_bias", false}, {"activation", "relu6"}, {"groups", 1}});
  EXPECT_EQ(d.kind, LayerKind::kDepthwiseConv2D);
  EXPECT_EQ(d.multiplier, 3);
  EXPECT_EQ(d.units, 12);  // 4 input channels x 3
  EXPECT_EQ(d.kernel, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(d.strides, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(d.padding, snare::ir::Padding::kSame);
  EXPECT_FALSE(d.use_bias);
  EXPECT_EQ(d.activation, Activation::kRelu6);

  snare::ir::Layer dil = ir_layer("DepthwiseConv2D", {{"kernel_size", 3}, {"dilation_rate", 2}});
  EXPECT_EQ(dil.dilation, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(dil.multiplier, 1);

  snare::ir::Layer g = ir_layer("Conv2D", {{"filters", 6}, {"kernel_size", {3, 3}}, {"groups", 2}, {"dilation_rate", {2, 2}}});
  EXPECT_EQ(g.groups, 2);
  EXPECT_EQ(g.dilation, (std::vector<int64_t>{2, 2}));
  EXPECT_THROW_WITH(ir_layer("Conv2D", {{"filters", 6}, {"kernel_size", 3}, {"groups", 4}}), snare::ModelError,
                    "groups 4 does not divide filters 6");
  EXPECT_THROW_WITH(ir_layer("Conv2D", {{"filters", 6}, {"kernel_size", 3}, {"groups", 3}}), snare::ModelError,
                    "groups 3 does not divide the input channels");
  EXPECT_NE(keras::unsupported_reason(entry("Conv2D", {{"filters", 6}, {"kernel_size", 3}, {"groups", 0}})).find("groups 0"),
            std::string::npos);
  EXPECT_NE(keras::unsupported_reason(entry("DepthwiseConv2D", {{"kernel_size", 3}, {"depth_multiplier", 0}}))
                .find("depth_multiplier 0"),
            std::string::npos);
  EXPECT_NE(keras::unsupported_reason(entry("DepthwiseConv2D", {{"kernel_size", 3}, {"data_format", "channels_first"}}))
                .find("channels_first"),
            std::string::npos);
}

TEST(KerasZooConfig, EveryUnsupportedReluIsListedAtOnce) {
  t::TempDir dir;
  std::string src = t::kZooDir + "/stmnist_v1_emnist_tfkeras.h5";
  std::vector<std::string> relus;
  {
    h5::File f = h5::File::open(src);
    keras::Json model = keras::Json::parse(f.root().attr_string("model_config"));
    for (const keras::Json& l : model["config"]["layers"]) {
      if (l["class_name"] == "ReLU") relus.push_back(l["config"]["name"].get<std::string>());
    }
  }
  ASSERT_GE(relus.size(), 2u);
  t::copy_h5(src, dir.str("bad.h5"), [&](keras::Json& model) {
    t::layer_config(model, relus[0])["config"]["max_value"] = 1.0;
    t::layer_config(model, relus[1])["config"]["threshold"] = 0.5;
    t::layer_config(model, "depthwise_conv2d")["config"]["activation"] = "mish";
  });
  EXPECT_THROW_WITH(keras::read_keras(dir.str("bad.h5")), snare::UnsupportedError, "3 unsupported layers",
                    "'" + relus[0] + "' (ReLU): ReLU with max_value=1", "'" + relus[1] + "' (ReLU)", "threshold=0.5",
                    "'depthwise_conv2d' (DepthwiseConv2D): activation \"mish\"");
}

// --- Writing layers snare built ----------------------------------------------------------------------

/// Input (4, 8, 8) -> depthwise 3x3 x2 -> grouped conv (groups 2) -> relu6 Activation layer -> flatten -> dense.
Graph built_graph() {
  at::manual_seed(3);
  Graph g;
  g.name = "built";
  snare::ir::Layer in;
  in.name = "in";
  in.kind = LayerKind::kInput;
  in.input_shape = {4, 8, 8};
  snare::ir::Layer d;
  d.name = "dw";
  d.kind = LayerKind::kDepthwiseConv2D;
  d.inputs = {"in"};
  d.multiplier = 2;
  d.units = 8;
  d.kernel = {3, 3};
  d.strides = {1, 1};
  d.dilation = {1, 1};
  d.padding = snare::ir::Padding::kSame;
  d.activation = Activation::kRelu6;
  d.weights["weight"] = at::randn({8, 1, 3, 3});
  d.weights["bias"] = at::randn({8});
  snare::ir::Layer c;
  c.name = "gconv";
  c.kind = LayerKind::kConv2D;
  c.inputs = {"dw"};
  c.units = 6;
  c.groups = 2;
  c.kernel = {3, 3};
  c.strides = {1, 1};
  c.dilation = {2, 2};
  c.weights["weight"] = at::randn({6, 4, 3, 3});
  c.weights["bias"] = at::randn({6});
  snare::ir::Layer a;
  a.name = "act";
  a.kind = LayerKind::kActivation;
  a.inputs = {"gconv"};
  a.activation = Activation::kRelu6;
  snare::ir::Layer fl;
  fl.name = "flat";
  fl.kind = LayerKind::kFlatten;
  fl.inputs = {"act"};
  fl.channels_last = true;
  snare::ir::Layer dense;
  dense.name = "out";
  dense.kind = LayerKind::kDense;
  dense.inputs = {"flat"};
  dense.units = 3;
  dense.activation = Activation::kSwish;
  dense.weights["weight"] = at::randn({3, 6 * 4 * 4});
  dense.weights["bias"] = at::randn({3});
  g.layers = {in, d, c, a, fl, dense};
  g.outputs = {"out"};
  g.infer_shapes();
  return g;
}

TEST(KerasZooWrite, BuiltDepthwiseGroupedRelu6SurviveBothContainers) {
  t::TempDir dir;
  Graph g0 = built_graph();
  for (const char* ext : {".h5", ".keras"}) {
    SCOPED_TRACE(ext);
    std::string path = dir.str(std::string("m") + ext);
    keras::write_keras(g0, path);
    Graph g1 = keras::read_keras(path);
    EXPECT_EQ(snare::ir::dump(g1), snare::ir::dump(g0));
    keras::write_keras(g1, dir.str(std::string("again") + ext));
    EXPECT_EQ(snare::ir::dump(keras::read_keras(dir.str(std::string("again") + ext))), snare::ir::dump(g0));
  }
}

TEST(KerasZooWrite, Keras2ConfigAndKernelLayout) {
  t::TempDir dir;
  Graph g0 = built_graph();
  keras::write_keras(g0, dir.str("m.h5"));  // generated .h5: the Keras 2 dialect
  h5::File f = h5::File::open(dir.str("m.h5"));
  keras::Json model = keras::Json::parse(f.root().attr_string("model_config"));
  keras::Json& dw = t::layer_config(model, "dw");
  EXPECT_EQ(dw["class_name"], "DepthwiseConv2D");
  EXPECT_EQ(dw["config"]["depth_multiplier"], 2);
  EXPECT_EQ(dw["config"]["activation"], "relu6");
  keras::Json& gc = t::layer_config(model, "gconv");
  EXPECT_EQ(gc["config"]["groups"], 2);
  EXPECT_EQ(gc["config"]["dilation_rate"], keras::Json({2, 2}));
  // tf.keras 2.x has no "relu6" activation identifier: a relu6 layer is its ReLU(max_value=6).
  keras::Json& act = t::layer_config(model, "act");
  EXPECT_EQ(act["class_name"], "ReLU");
  EXPECT_EQ(act["config"]["max_value"], 6.0);
  EXPECT_EQ(act["config"]["threshold"], 0.0);
  EXPECT_EQ(t::layer_config(model, "out")["config"]["activation"], "swish");

  h5::Group lg = f.root().group("model_weights/dw");
  std::vector<std::string> names = lg.attr_strings("weight_names");
  ASSERT_EQ(names, (std::vector<std::string>{"dw/depthwise_kernel:0", "dw/bias:0"}));
  at::Tensor k = lg.dataset(names[0]);
  ASSERT_EQ(k.sizes(), (std::vector<int64_t>{3, 3, 4, 2}));
  at::Tensor w = g0.layer("dw").weights.at("weight");
  for (int64_t c = 0; c < 4; ++c) {
    for (int64_t m = 0; m < 2; ++m) EXPECT_TRUE(at::equal(k.select(2, c).select(2, m), w[c * 2 + m][0])) << c << "," << m;
  }
  at::Tensor gk = f.root().group("model_weights/gconv").dataset("gconv/kernel:0");
  EXPECT_EQ(gk.sizes(), (std::vector<int64_t>{3, 3, 4, 6}));  // [kh, kw, in/groups, filters]: 8 channels in 2 groups
}

TEST(KerasZooWrite, Keras3ConfigUsesKeras3Names) {
  t::TempDir dir;
  keras::write_keras(built_graph(), dir.str("m.keras"));
  std::string config = keras::archive::read_entries(dir.str("m.keras"), {"config.json"}).at("config.json");
  keras::Json model = keras::Json::parse(config);
  keras::Json& act = t::layer_config(model, "act");
  EXPECT_EQ(act["class_name"], "Activation");
  EXPECT_EQ(act["config"]["activation"], "relu6");
  EXPECT_EQ(t::layer_config(model, "out")["config"]["activation"], "silu");
}

TEST(KerasZooWrite, ReadActivationSpellingIsKept) {
  // A model read with Keras 2's "swish" keeps it, one read with Keras 3's "silu" keeps that.
  t::TempDir dir;
  for (const char* spelling : {"swish", "silu"}) {
    SCOPED_TRACE(spelling);
    t::copy_h5(t::kZooDir + "/cnn2d_handposture_8classes_tfkeras.h5", dir.str("in.h5"),
               [&](keras::Json& model) { t::layer_config(model, "dense")["config"]["activation"] = spelling; });
    Graph g = keras::read_keras(dir.str("in.h5"));
    EXPECT_EQ(g.layer("dense").activation, Activation::kSwish);
    keras::write_keras(g, dir.str("out.h5"));
    h5::File f = h5::File::open(dir.str("out.h5"));
    keras::Json model = keras::Json::parse(f.root().attr_string("model_config"));
    EXPECT_EQ(t::layer_config(model, "dense")["config"]["activation"], spelling);
  }
}

}  // namespace
