#include "ir/graph.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "arch/zoo.h"
#include "common/error.h"

namespace {

using snare::ir::Graph;
using snare::ir::Layer;
using snare::ir::LayerKind;

Graph chain(snare::ir::Shape input, std::vector<Layer> layers) {
  Graph g;
  g.name = "t";
  Layer in;
  in.name = "input";
  in.kind = LayerKind::kInput;
  in.input_shape = std::move(input);
  g.layers.push_back(in);
  for (Layer& l : layers) {
    l.inputs = {g.layers.back().name};
    g.layers.push_back(l);
  }
  return g;
}

Layer make(LayerKind kind, const std::string& name) {
  Layer l;
  l.kind = kind;
  l.name = name;
  return l;
}

TEST(ShapeInference, LeNet5ShapesFollowKerasConventions) {
  Graph g = snare::arch::build("lenet5", 1);
  EXPECT_EQ(g.layer("conv2d").output_shape, (snare::ir::Shape{6, 28, 28}));  // same padding
  EXPECT_EQ(g.layer("conv2d_1").output_shape, (snare::ir::Shape{16, 10, 10}));
  EXPECT_EQ(g.layer("flatten").output_shape, (snare::ir::Shape{400}));
  EXPECT_EQ(g.output_shape(), (snare::ir::Shape{10}));
}

TEST(ShapeInference, StridedSamePaddingRoundsUp) {
  Layer pool = make(LayerKind::kMaxPool2D, "p");
  pool.kernel = {3, 3};
  pool.strides = {2, 2};
  pool.padding = snare::ir::Padding::kSame;
  Graph g = chain({4, 7, 7}, {pool});
  g.infer_shapes();
  EXPECT_EQ(g.output_shape(), (snare::ir::Shape{4, 4, 4}));
}

TEST(ShapeInference, ReshapeResolvesMinusOne) {
  Layer r = make(LayerKind::kReshape, "r");
  r.target_shape = {2, -1};
  Graph g = chain({12}, {r});
  g.infer_shapes();
  EXPECT_EQ(g.output_shape(), (snare::ir::Shape{2, 6}));
}

TEST(ShapeInference, PermuteReordersPerSampleAxes) {
  Layer p = make(LayerKind::kPermute, "p");
  p.permutation = {0, 2, 1};
  Graph g = chain({3, 4, 5}, {p});
  g.infer_shapes();
  EXPECT_EQ(g.output_shape(), (snare::ir::Shape{3, 5, 4}));
  g.layers[1].permutation = {2, 0, 1};  // moves the channel axis
  g.infer_shapes();
  EXPECT_EQ(g.output_shape(), (snare::ir::Shape{5, 3, 4}));
  EXPECT_NE(snare::ir::dump(g).find("p = permute(input) permutation=2,0,1 -> (5, 3, 4)"), std::string::npos)
      << snare::ir::dump(g);
  for (const snare::ir::Shape& bad : {snare::ir::Shape{0, 1}, snare::ir::Shape{0, 0, 1}, snare::ir::Shape{0, 1, 3}}) {
    g.layers[1].permutation = bad;
    EXPECT_THROW(g.infer_shapes(), snare::ModelError);
  }
}

TEST(ShapeInference, BatchNormWithoutScaleOrCenterNeedsNoSuchWeight) {
  Layer bn = make(LayerKind::kBatchNorm, "bn");
  bn.use_scale = false;
  bn.use_bias = false;
  bn.weights["running_mean"] = at::zeros({3});
  bn.weights["running_var"] = at::ones({3});
  Graph g = chain({3, 4}, {bn});
  EXPECT_NO_THROW(g.infer_shapes());
  EXPECT_NE(snare::ir::dump(g).find("scale=false center=false"), std::string::npos) << snare::ir::dump(g);
  g.layers[1].use_scale = true;
  EXPECT_THROW(g.infer_shapes(), snare::ModelError);  // now it needs a weight
}

TEST(ShapeInference, ConcatenateAddsChannels) {
  Graph g = chain({3, 8}, {});
  Layer a = make(LayerKind::kActivation, "a");
  a.inputs = {"input"};
  Layer c = make(LayerKind::kConcatenate, "c");
  c.inputs = {"input", "a"};
  c.axis = 0;
  g.layers.push_back(a);
  g.layers.push_back(c);
  g.infer_shapes();
  EXPECT_EQ(g.output_shape(), (snare::ir::Shape{6, 8}));
}

TEST(ShapeInference, DenseWeightMismatchNamesLayerAndShapes) {
  Layer d = make(LayerKind::kDense, "dense_7");
  d.units = 4;
  d.weights["weight"] = at::zeros({4, 5});
  d.weights["bias"] = at::zeros({4});
  Graph g = chain({6}, {d});
  try {
    g.infer_shapes();
    FAIL() << "expected ModelError";
  } catch (const snare::ModelError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("dense_7"), std::string::npos) << m;
    EXPECT_NE(m.find("[4,5]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4,6]"), std::string::npos) << m;
  }
}

TEST(Verify, RejectsDuplicateNames) {
  Graph g = snare::arch::build("lenet5", 1);
  g.layers[2].name = g.layers[1].name;
  EXPECT_THROW(snare::ir::verify(g), snare::ModelError);
}

TEST(Verify, RejectsMaskOfWrongShape) {
  Graph g = snare::arch::build("lenet5", 1);
  g.layer("dense").masks["weight"] = at::ones({3, 3});
  EXPECT_THROW(snare::ir::verify(g), snare::ModelError);
}

TEST(Verify, RejectsInputDefinedAfterUse) {
  Graph g = snare::arch::build("lenet5", 1);
  std::swap(g.layers[1], g.layers[2]);
  EXPECT_THROW(snare::ir::verify(g), snare::ModelError);
}

TEST(Dump, IsStableAndSensitiveToWeights) {
  Graph a = snare::arch::build("lenet5", 1);
  Graph b = snare::arch::build("lenet5", 1);
  Graph c = snare::arch::build("lenet5", 2);
  EXPECT_EQ(snare::ir::dump(a), snare::ir::dump(b));
  EXPECT_NE(snare::ir::dump(a), snare::ir::dump(c));
  EXPECT_NE(snare::ir::dump(a).find("conv2d = conv2d(input) filters=6 kernel=5x5"), std::string::npos)
      << snare::ir::dump(a);
}

TEST(Graph, ConsumersListReaders) {
  Graph g = snare::arch::build("lenet5", 1);
  EXPECT_EQ(g.consumers("conv2d"), (std::vector<std::string>{"max_pooling2d"}));
  EXPECT_TRUE(g.consumers("dense_2").empty());
}

}  // namespace
