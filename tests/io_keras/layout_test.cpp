// Layout conversions checked against naive reference arithmetic written in Keras' own terms.
#include "io/keras/layout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "exec/network.h"
#include "ir/graph.h"

namespace {

namespace layout = snare::io::keras::layout;

TEST(Layout, ShapesMoveChannelsToTheFront) {
  EXPECT_EQ(layout::shape_from_keras({28, 28, 1}), (snare::ir::Shape{1, 28, 28}));
  EXPECT_EQ(layout::shape_from_keras({128, 6}), (snare::ir::Shape{6, 128}));
  EXPECT_EQ(layout::shape_from_keras({561}), (snare::ir::Shape{561}));
  EXPECT_EQ(layout::shape_to_keras({3, 4, 5}), (std::vector<int64_t>{4, 5, 3}));
  EXPECT_EQ(layout::shape_to_keras(layout::shape_from_keras({7, 8, 9})), (std::vector<int64_t>{7, 8, 9}));
}

TEST(Layout, AxesMapChannelsLastToChannelsFirst) {
  EXPECT_EQ(layout::axis_from_keras(-1, 3), 0);  // channels
  EXPECT_EQ(layout::axis_from_keras(3, 3), 0);
  EXPECT_EQ(layout::axis_from_keras(1, 3), 1);   // height
  EXPECT_EQ(layout::axis_from_keras(-3, 3), 1);
  EXPECT_EQ(layout::axis_from_keras(2, 3), 2);   // width
  EXPECT_EQ(layout::axis_from_keras(0, 3), -1);  // the batch axis
  EXPECT_EQ(layout::axis_from_keras(-1, 1), 0);
  for (int64_t a : {0, 1, 2}) EXPECT_EQ(layout::axis_from_keras(layout::axis_to_keras(a, 3), 3), a);
}

TEST(Layout, PermuteDimsMapToTheIrPermutationAndBack) {
  // Keras (H,W,C) dims [2,1,3]: H and W swap, channels stay last -> IR (C,H,W) {0,2,1}.
  EXPECT_EQ(layout::permutation_from_keras({2, 1, 3}), (snare::ir::Shape{0, 2, 1}));
  EXPECT_EQ(layout::permutation_from_keras({1, 2, 3}), (snare::ir::Shape{0, 1, 2}));
  // [3,1,2] moves the channels to the front: Keras output (C,H,W) whose "channels" (last) are W -> IR (W,C,H).
  EXPECT_EQ(layout::permutation_from_keras({3, 1, 2}), (snare::ir::Shape{2, 0, 1}));
  EXPECT_EQ(layout::permutation_from_keras({2, 1}), (snare::ir::Shape{1, 0}));  // (L,C) -> (C,L)
  EXPECT_EQ(layout::permutation_to_keras({0, 2, 1}), (std::vector<int64_t>{2, 1, 3}));
  EXPECT_EQ(layout::permutation_to_keras({2, 0, 1}), (std::vector<int64_t>{3, 1, 2}));
  // Every permutation of ranks 1..4 survives the round trip.
  for (size_t n = 1; n <= 4; ++n) {
    std::vector<int64_t> dims(n);
    for (size_t i = 0; i < n; ++i) dims[i] = static_cast<int64_t>(i) + 1;
    do {
      EXPECT_EQ(layout::permutation_to_keras(layout::permutation_from_keras(dims)), dims);
    } while (std::next_permutation(dims.begin(), dims.end()));
  }
  EXPECT_THROW(layout::permutation_from_keras({1, 1, 3}), snare::ModelError);
  EXPECT_THROW(layout::permutation_from_keras({0, 1, 2}), snare::ModelError);
}

TEST(Layout, PermuteComputesWhatKerasPermuteComputes) {
  // Keras: y[n, ...] = x.permute(0, dims...) on channels_last data. snare: the IR Permute lowered to LibTorch on
  // channels-first data. They agree once both sides are in the same layout.
  at::Generator gen = at::detail::createCPUGenerator(5);
  const std::vector<int64_t> keras_in{4, 5, 3};  // (H, W, C)
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{2, 1, 3}, {3, 1, 2}, {1, 3, 2}, {3, 2, 1}}) {
    SCOPED_TRACE(::testing::PrintToString(dims));
    at::Tensor xk = at::rand({2, keras_in[0], keras_in[1], keras_in[2]}, gen, at::TensorOptions(at::kFloat));
    at::Tensor yk = xk.permute({0, dims[0], dims[1], dims[2]});  // Keras' Permute, by hand
    snare::ir::Graph g;
    g.name = "permute";
    snare::ir::Layer in;
    in.name = "input";
    in.kind = snare::ir::LayerKind::kInput;
    in.input_shape = layout::shape_from_keras(keras_in);
    snare::ir::Layer p;
    p.name = "permute";
    p.kind = snare::ir::LayerKind::kPermute;
    p.inputs = {"input"};
    p.permutation = layout::permutation_from_keras(dims);
    g.layers = {in, p};
    g.infer_shapes();
    std::vector<int64_t> keras_out(yk.sizes().begin() + 1, yk.sizes().end());
    EXPECT_EQ(g.layer("permute").output_shape, layout::shape_from_keras(keras_out));
    at::Tensor y = snare::exec::predict(g, xk.permute({0, 3, 1, 2}).contiguous());  // IR input: channels first
    EXPECT_TRUE(at::equal(y, yk.permute({0, 3, 1, 2}))) << "IR permutation " << ::testing::PrintToString(p.permutation);
  }
}

TEST(Layout, Conv2DKernelComputesWhatKerasComputes) {
  at::manual_seed(3);
  // Keras: y[h,w,o] = sum_{i,kh,kw} x[h+kh, w+kw, i] * K[kh,kw,i,o] (valid padding, stride 1).
  at::Tensor x_hwc = at::randn({6, 7, 3});
  at::Tensor k = at::randn({3, 2, 3, 4});
  at::Tensor expected = at::zeros({4, 6, 4});
  for (int64_t h = 0; h < 4; ++h) {
    for (int64_t w = 0; w < 6; ++w) {
      at::Tensor patch = x_hwc.narrow(0, h, 3).narrow(1, w, 2);  // [3,2,3]
      expected[h][w] = at::einsum("abi,abio->o", {patch, k});
    }
  }
  at::Tensor weight = layout::conv_kernel_from_keras(k);
  ASSERT_EQ(weight.sizes(), (std::vector<int64_t>{4, 3, 3, 2}));
  at::Tensor y = at::conv2d(x_hwc.permute({2, 0, 1}).unsqueeze(0), weight).squeeze(0).permute({1, 2, 0});
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-5));
  EXPECT_TRUE(at::equal(layout::conv_kernel_to_keras(weight), k));
}

TEST(Layout, DepthwiseKernelComputesWhatKerasComputes) {
  at::manual_seed(5);
  // Keras DepthwiseConv2D: y[h,w,c*M+m] = sum_{kh,kw} x[h+kh, w+kw, c] * K[kh,kw,c,m] (valid, stride 1).
  const int64_t C = 3, M = 2;
  at::Tensor x_hwc = at::randn({5, 6, C});
  at::Tensor k = at::randn({3, 2, C, M});
  at::Tensor expected = at::zeros({3, 5, C * M});
  for (int64_t h = 0; h < 3; ++h) {
    for (int64_t w = 0; w < 5; ++w) {
      at::Tensor patch = x_hwc.narrow(0, h, 3).narrow(1, w, 2);  // [3,2,C]
      expected[h][w] = at::einsum("abc,abcm->cm", {patch, k}).reshape({C * M});
    }
  }
  at::Tensor weight = layout::depthwise_kernel_from_keras(k);
  ASSERT_EQ(weight.sizes(), (std::vector<int64_t>{C * M, 1, 3, 2}));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t m = 0; m < M; ++m) EXPECT_TRUE(at::equal(weight[c * M + m][0], k.select(2, c).select(2, m)));
  }
  const std::vector<int64_t> one{1, 1}, zero{0, 0};
  at::Tensor y = at::conv2d(x_hwc.permute({2, 0, 1}).unsqueeze(0), weight, at::Tensor(), one, zero, one, C)
                     .squeeze(0)
                     .permute({1, 2, 0});
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-5));
  EXPECT_TRUE(at::equal(layout::depthwise_kernel_to_keras(weight, M), k));
}

TEST(Layout, GroupedConvKernelUsesTheConvPermutation) {
  at::manual_seed(6);
  // Keras Conv2D(groups=G): kernel [kh,kw,I/G,O]; output o reads input group o / (O/G), as LibTorch does.
  const int64_t I = 4, O = 6, G = 2;
  at::Tensor x_hwc = at::randn({4, 4, I});
  at::Tensor k = at::randn({3, 3, I / G, O});
  at::Tensor expected = at::zeros({2, 2, O});
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t w = 0; w < 2; ++w) {
      for (int64_t o = 0; o < O; ++o) {
        int64_t g = o / (O / G);
        at::Tensor patch = x_hwc.narrow(0, h, 3).narrow(1, w, 3).narrow(2, g * (I / G), I / G);
        expected[h][w][o] = (patch * k.select(3, o)).sum();
      }
    }
  }
  at::Tensor weight = layout::conv_kernel_from_keras(k);
  const std::vector<int64_t> one{1, 1}, zero{0, 0};
  at::Tensor y = at::conv2d(x_hwc.permute({2, 0, 1}).unsqueeze(0), weight, at::Tensor(), one, zero, one, G)
                     .squeeze(0)
                     .permute({1, 2, 0});
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-5));
}

TEST(Layout, Conv1DKernelComputesWhatKerasComputes) {
  at::manual_seed(4);
  at::Tensor x_lc = at::randn({10, 3});
  at::Tensor k = at::randn({3, 3, 5});  // [K, in, out]
  at::Tensor weight = layout::conv_kernel_from_keras(k);
  ASSERT_EQ(weight.sizes(), (std::vector<int64_t>{5, 3, 3}));
  at::Tensor y = at::conv1d(x_lc.t().unsqueeze(0), weight).squeeze(0);  // [5, 8]
  for (int64_t t = 0; t < 8; ++t) {
    at::Tensor expected = at::einsum("ki,kio->o", {x_lc.narrow(0, t, 3), k});
    EXPECT_TRUE(at::allclose(y.select(1, t), expected, 1e-5, 1e-5)) << t;
  }
  EXPECT_TRUE(at::equal(layout::conv_kernel_to_keras(weight), k));
}

TEST(Layout, DenseKernelIsTransposed) {
  at::Tensor k = at::randn({5, 3});  // Keras y = x @ K
  at::Tensor x = at::randn({2, 5});
  at::Tensor w = layout::dense_kernel_from_keras(k);
  EXPECT_TRUE(at::allclose(at::linear(x, w), at::matmul(x, k), 1e-5, 1e-5));
  EXPECT_TRUE(at::equal(layout::dense_kernel_to_keras(w), k));
}

/// One LSTM step the way Keras' LSTMCell computes it: z = x K + h R + b split into i, f, c, o.
std::pair<at::Tensor, at::Tensor> keras_lstm_step(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c,
                                                  const layout::KerasLstm& k) {
  at::Tensor z = at::matmul(x, k.kernel) + at::matmul(h, k.recurrent_kernel) + k.bias;
  auto gates = z.chunk(4, 1);
  at::Tensor i = at::sigmoid(gates[0]), f = at::sigmoid(gates[1]), g = at::tanh(gates[2]), o = at::sigmoid(gates[3]);
  at::Tensor c2 = f * c + i * g;
  return {o * at::tanh(c2), c2};
}

TEST(Layout, LstmGateOrderMatchesLibTorch) {
  at::manual_seed(5);
  int64_t in = 3, units = 4, steps = 5;
  layout::KerasLstm k{at::randn({in, 4 * units}), at::randn({units, 4 * units}), at::randn({4 * units})};
  layout::TorchLstm t = layout::lstm_from_keras(k);
  ASSERT_EQ(t.weight_ih.sizes(), (std::vector<int64_t>{4 * units, in}));
  ASSERT_EQ(t.weight_hh.sizes(), (std::vector<int64_t>{4 * units, units}));
  EXPECT_TRUE(at::equal(t.bias_hh, at::zeros({4 * units})));

  at::Tensor x = at::randn({2, steps, in});
  at::Tensor h = at::zeros({2, units}), c = at::zeros({2, units});
  for (int64_t s = 0; s < steps; ++s) std::tie(h, c) = keras_lstm_step(x.select(1, s), h, c, k);
  auto out = at::lstm(x, {at::zeros({1, 2, units}), at::zeros({1, 2, units})},
                      {t.weight_ih, t.weight_hh, t.bias_ih, t.bias_hh}, true, 1, 0.0, false, false, true);
  EXPECT_TRUE(at::allclose(std::get<0>(out).select(1, steps - 1), h, 1e-5, 1e-5));

  layout::KerasLstm back = layout::lstm_to_keras(t);
  EXPECT_TRUE(at::equal(back.kernel, k.kernel));
  EXPECT_TRUE(at::equal(back.recurrent_kernel, k.recurrent_kernel));
  EXPECT_TRUE(at::equal(back.bias, k.bias));
}

TEST(Layout, LstmBiasesAreSummedOnWrite) {
  layout::TorchLstm t{at::randn({8, 3}), at::randn({8, 2}), at::randn({8}), at::randn({8})};
  EXPECT_TRUE(at::allclose(layout::lstm_to_keras(t).bias, t.bias_ih + t.bias_hh));
}

TEST(Layout, LstmNegativeZeroBiasSurvivesTheRoundTrip) {
  at::Tensor bias = at::zeros({8});
  bias[1] = -0.0f;
  layout::TorchLstm t = layout::lstm_from_keras({at::randn({3, 8}), at::randn({2, 8}), bias});
  at::Tensor back = layout::lstm_to_keras(t).bias;
  EXPECT_TRUE(std::signbit(back[1].item<float>()));
}

TEST(Layout, DenseAfterChannelsFirstFlattenIsPermutedForKerasOrder) {
  at::manual_seed(6);
  snare::ir::Shape chw{3, 2, 4};
  at::Tensor x = at::randn({2, 3, 2, 4});
  at::Tensor w = at::randn({5, 24});
  at::Tensor y_cf = at::linear(x.reshape({2, -1}), w);                   // channels-first flatten
  at::Tensor x_cl = x.permute({0, 2, 3, 1}).reshape({2, -1});            // Keras' (H, W, C) flatten
  at::Tensor y_cl = at::linear(x_cl, layout::dense_columns_to_channels_last(w, chw));
  EXPECT_TRUE(at::allclose(y_cf, y_cl, 1e-5, 1e-5));
}

}  // namespace
