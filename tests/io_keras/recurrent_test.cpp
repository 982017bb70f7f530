// Keras GRU, SimpleRNN and Bidirectional: snare's Keras files read back to the graph they came from (write -> read
// -> write -> read is identical and the first read computes what the graph does), in tf.keras 2.x HDF5 and Keras 3
// .keras form; and broken Bidirectional configs fail naming the file and the layer.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "exec/network.h"
#include "io/keras/keras.h"
#include "keras_test_util.h"
#include "support/recurrent_graphs.h"

namespace {

namespace keras = snare::io::keras;
namespace t = snare::test;
using snare::ir::Graph;

at::Tensor sample(const Graph& g) {
  at::manual_seed(5);
  return at::rand({4, g.input_shape().at(0), g.input_shape().at(1)});
}

void expect_keras_round_trip(const Graph& g, const std::string& ext, const t::TempDir& dir) {
  SCOPED_TRACE(g.name + ext);
  std::string a = dir.str(g.name + "_a" + ext), b = dir.str(g.name + "_b" + ext);
  keras::write_keras(g, a);
  Graph once = keras::read_keras(a);
  keras::write_keras(once, b);
  Graph twice = keras::read_keras(b);
  EXPECT_EQ(snare::ir::dump(once), snare::ir::dump(twice));
  // Keras keeps one bias where LibTorch has two (LSTM, SimpleRNN, GRU without reset_after): the first read has
  // them summed, so it computes the same rather than holding the same tensors.
  at::Tensor x = sample(g);
  double diff = (snare::exec::predict(g, x) - snare::exec::predict(once, x)).abs().max().item<double>();
  EXPECT_LE(diff, 1e-5);
  for (const snare::ir::Layer& l : g.layers) {
    const snare::ir::Layer& r = once.layer(l.name);
    EXPECT_EQ(r.kind, l.kind) << l.name;
    EXPECT_EQ(r.bidirectional, l.bidirectional) << l.name;
    EXPECT_EQ(r.merge_mode, l.merge_mode) << l.name;
    if (l.kind == snare::ir::LayerKind::kGRU) {
      EXPECT_EQ(r.reset_after, l.reset_after) << l.name;
    }
    if (l.kind != snare::ir::LayerKind::kSimpleRNN) {  // an LSTM's cell is fixed (tanh); its gates are not
      EXPECT_EQ(r.recurrent_activation, l.recurrent_activation) << l.name;
    }
    if (l.kind != snare::ir::LayerKind::kLSTM) {
      EXPECT_EQ(r.activation, l.activation) << l.name;
    }
    EXPECT_EQ(r.return_sequences, l.return_sequences) << l.name;
  }
}

bool uses_hard_sigmoid(const Graph& g) {
  for (const snare::ir::Layer& l : g.layers) {
    if (l.kind != snare::ir::LayerKind::kSimpleRNN && l.recurrent_activation == snare::ir::Activation::kHardSigmoid) {
      return true;
    }
  }
  return false;
}

TEST(KerasRecurrent, WriteReadGivesTheSameGraphInBothDialects) {
  t::TempDir dir;
  for (const Graph& g : snare::testing::recurrent_graphs()) {
    expect_keras_round_trip(g, ".h5", dir);
    if (!uses_hard_sigmoid(g)) expect_keras_round_trip(g, ".keras", dir);
  }
}

TEST(KerasRecurrent, Keras3CannotHoldKeras2HardSigmoid) {
  // Keras 3's hard_sigmoid is relu6(x+3)/6, not clip(0.2x+0.5, 0, 1): a .keras file would compute something else.
  t::TempDir dir;
  for (const Graph& g : snare::testing::recurrent_graphs()) {
    if (!uses_hard_sigmoid(g)) continue;
    EXPECT_THROW_WITH(keras::write_keras(g, dir.str("hard.keras")), snare::UnsupportedError, "_hard'", "hard_sigmoid");
  }
}

TEST(KerasRecurrent, WrittenConfigsAreKerasOwn) {
  // The written h5 holds a Bidirectional wrapping a GRU with Keras' field names, weights under forward_/backward_.
  t::TempDir dir;
  Graph g = snare::testing::recurrent_graphs().at(3);  // bi_lstm_gru_concat
  ASSERT_EQ(g.name, "bi_lstm_gru_concat");
  std::string path = dir.str("bi.h5");
  keras::write_keras(g, path);
  keras::h5::File f = keras::h5::File::open(path);
  keras::Json model = keras::Json::parse(f.root().attr_string("model_config"));
  const keras::Json& bi = t::layer_config(model, "bi_gru");
  EXPECT_EQ(bi["class_name"], "Bidirectional");
  EXPECT_EQ(bi["config"]["merge_mode"], "concat");
  EXPECT_EQ(bi["config"]["layer"]["class_name"], "GRU");
  EXPECT_EQ(bi["config"]["layer"]["config"]["units"], 3);
  EXPECT_EQ(bi["config"]["layer"]["config"]["reset_after"], false);
  std::vector<std::string> names = f.root().group("model_weights").group("bi_gru").attr_strings("weight_names");
  ASSERT_EQ(names.size(), 6u);
  EXPECT_EQ(names[0], "bi_gru/forward_gru/gru_cell/kernel:0");
  EXPECT_EQ(names[5], "bi_gru/backward_gru/gru_cell/bias:0");
}

std::string bidirectional_h5(const t::TempDir& dir) {
  std::string path = dir.str("good_bi.h5");
  keras::write_keras(snare::testing::recurrent_graphs().at(3), path);  // bi_lstm_gru_concat
  return path;
}

TEST(KerasRecurrent, UnknownMergeModeNamesFileAndLayer) {
  t::TempDir dir;
  std::string path = dir.str("bad_merge.h5");
  t::copy_h5(bidirectional_h5(dir), path, [](keras::Json& m) { t::layer_config(m, "bi_gru")["config"]["merge_mode"] = "max"; });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::UnsupportedError, path, "'bi_gru' (Bidirectional)", "merge_mode 'max'");
  t::copy_h5(bidirectional_h5(dir), path, [](keras::Json& m) { t::layer_config(m, "bi_gru")["config"]["merge_mode"] = nullptr; });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::UnsupportedError, path, "'bi_gru' (Bidirectional)", "merge_mode None");
}

TEST(KerasRecurrent, MissingBackwardWeightsNameFileAndLayer) {
  // A plain GRU's group (3 weights) under a config that says Bidirectional(GRU): the backward weights are missing.
  t::TempDir dir;
  std::string plain = dir.str("plain.h5"), path = dir.str("no_backward.h5");
  keras::write_keras(snare::testing::recurrent_graphs().at(1), plain);  // gru_reset_before
  t::copy_h5(plain, path, [](keras::Json& m) {
    keras::Json& e = t::layer_config(m, "gru_seq");
    keras::Json wrapped{{"class_name", "Bidirectional"},
                        {"config", {{"name", "gru_seq"}, {"layer", e}, {"merge_mode", "sum"}}}};
    e = wrapped;
  });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "'gru_seq' (Bidirectional)", "expected 6 weights",
                    "backward_layer/kernel", "the file has 3");
}

TEST(KerasRecurrent, BackwardLayerThatIsNotTheForwardOneIsRefused) {
  t::TempDir dir;
  std::string path = dir.str("odd_backward.h5");
  t::copy_h5(bidirectional_h5(dir), path, [](keras::Json& m) {
    keras::Json& c = t::layer_config(m, "bi_gru")["config"];
    keras::Json backward = c["layer"];
    backward["config"]["go_backwards"] = true;
    backward["config"]["units"] = 2;
    c["backward_layer"] = backward;
  });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::UnsupportedError, path, "'bi_gru' (Bidirectional)",
                    "backward_layer differs", "units");
}

TEST(KerasRecurrent, WrongGruBiasShapeSaysExpectedVsGot) {
  // reset_after=True needs a [2,3U] bias: a file whose config says so over a [3U] bias is inconsistent.
  t::TempDir dir;
  std::string plain = dir.str("plain.h5"), path = dir.str("bias.h5");
  keras::write_keras(snare::testing::recurrent_graphs().at(1), plain);  // gru_reset_before: bias [15]
  t::copy_h5(plain, path, [](keras::Json& m) { t::layer_config(m, "gru_seq")["config"]["reset_after"] = true; });
  EXPECT_THROW_WITH(keras::read_keras(path), snare::ModelError, path, "'gru_seq' (GRU)", "bias has shape [15]",
                    "expected [2,15]");
}

}  // namespace
