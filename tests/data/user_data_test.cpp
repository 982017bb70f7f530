#include "data/user_data.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "data/dataset.h"
#include "python_util.h"
#include "temp_dir.h"

namespace snare::data {
namespace {

using test::read_file;
using test::TempDir;
using test::values;
using test::contains;
using test::data_error_of;
using test::python_has;
using test::write_file;
using Shape = std::vector<int64_t>;
using Strings = std::vector<std::string>;

/// Runs `script` with Debian's python inside `tmp` (numpy as np, h5py or None), with a helper
/// save_all(name, arrays), which writes NAME.npz, a folder NAME_npy/ of .npy files and, with h5py, NAME.h5.
bool run_python(const TempDir& tmp, const std::string& script) {
  const std::string save_all =
      "def save_all(name, arrays):\n"
      "  np.savez(name + '.npz', **arrays)\n"
      "  os.makedirs(name + '_npy', exist_ok=True)\n"
      "  for k, v in arrays.items():\n"
      "    np.save(os.path.join(name + '_npy', k + '.npy'), v)\n"
      "  if h5py is not None:\n"
      "    with h5py.File(name + '.h5', 'w') as f:\n"
      "      for k, v in arrays.items():\n"
      "        f[k] = v\n";
  const std::string h5py = "try:\n  import h5py\nexcept ImportError:\n  h5py = None\n";
  return test::run_python_in(tmp, h5py, save_all + script);
}

ArrayInfo array(const Shape& shape) {
  ArrayInfo a;
  a.where = "data.npz: x_train";
  a.shape = shape;
  a.dtype = at::kByte;
  return a;
}

// ---- plan_input_layout --------------------------------------------------------------------------------------------

TEST(Layout, ImageModelAcceptsBothOrdersAMissingChannelAndFlatRows) {
  const Shape model{1, 28, 28};
  InputLayout p = plan_input_layout(array({60, 28, 28, 1}), model, Layout::kAuto);
  EXPECT_TRUE(p.channels_last);
  EXPECT_EQ(p.file_shape, (Shape{28, 28, 1}));
  EXPECT_EQ(p.model_shape, model);

  p = plan_input_layout(array({60, 1, 28, 28}), model, Layout::kAuto);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, model);
  EXPECT_EQ(p.model_shape, model);

  p = plan_input_layout(array({60, 28, 28}), model, Layout::kAuto);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, model);
  EXPECT_EQ(p.model_shape, model);

  p = plan_input_layout(array({60, 784}), model, Layout::kAuto);
  EXPECT_TRUE(p.channels_last);
  EXPECT_EQ(p.file_shape, (Shape{28, 28, 1}));
  EXPECT_EQ(p.model_shape, model);

  p = plan_input_layout(array({60, 784}), model, Layout::kChannelsFirst);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, model);
  EXPECT_EQ(p.model_shape, model);
}

TEST(Layout, ColourImagesFlatRowsFollowKerasOrder) {
  InputLayout p = plan_input_layout(array({5, 3 * 32 * 32}), {3, 32, 32}, Layout::kAuto);
  EXPECT_TRUE(p.channels_last);
  EXPECT_EQ(p.file_shape, (Shape{32, 32, 3}));
  p = plan_input_layout(array({5, 32, 32, 3}), {3, 32, 32}, Layout::kChannelsLast);
  EXPECT_TRUE(p.channels_last);
  p = plan_input_layout(array({5, 3, 32, 32}), {3, 32, 32}, Layout::kChannelsFirst);
  EXPECT_FALSE(p.channels_last);
}

TEST(Layout, TimeSeriesModel) {
  const Shape model{9, 128};
  InputLayout p = plan_input_layout(array({7, 128, 9}), model, Layout::kAuto);
  EXPECT_TRUE(p.channels_last);
  EXPECT_EQ(p.file_shape, (Shape{128, 9}));
  EXPECT_EQ(p.model_shape, model);
  p = plan_input_layout(array({7, 9, 128}), model, Layout::kAuto);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, model);
  EXPECT_EQ(p.model_shape, model);
}

TEST(Layout, AmbiguousShapeNeedsTheLayoutFlag) {
  const Shape model{3, 3};
  const std::string m = data_error_of([&] { plan_input_layout(array({4, 3, 3}), model, Layout::kAuto); });
  EXPECT_TRUE(contains(m, "DataOptions::layout")) << m;
  EXPECT_TRUE(contains(m, "data.npz: x_train")) << m;
  InputLayout p = plan_input_layout(array({4, 3, 3}), model, Layout::kChannelsLast);
  EXPECT_TRUE(p.channels_last);
  EXPECT_EQ(p.file_shape, model);
  EXPECT_EQ(p.model_shape, model);
  p = plan_input_layout(array({4, 3, 3}), model, Layout::kChannelsFirst);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, model);
}

TEST(Layout, MismatchPrintsExpectedAndFoundShapes) {
  std::string m = data_error_of([&] { plan_input_layout(array({10, 28, 28, 3}), {3, 32, 32}, Layout::kAuto); });
  EXPECT_TRUE(contains(m, "(32, 32, 3)")) << m;
  EXPECT_TRUE(contains(m, "(3, 32, 32)")) << m;
  EXPECT_TRUE(contains(m, "(28, 28, 3)")) << m;
  EXPECT_TRUE(contains(m, "3072")) << m;
  EXPECT_TRUE(contains(m, "data.npz: x_train")) << m;
  // A layout the data contradicts.
  m = data_error_of([&] { plan_input_layout(array({10, 1, 28, 28}), {1, 28, 28}, Layout::kChannelsLast); });
  EXPECT_TRUE(contains(m, "DataOptions::layout channels-last")) << m;
  m = data_error_of([&] { plan_input_layout(array({10, 28, 28, 1}), {1, 28, 28}, Layout::kChannelsFirst); });
  EXPECT_TRUE(contains(m, "DataOptions::layout channels-first")) << m;
  m = data_error_of([&] { plan_input_layout(array({10, 785}), {1, 28, 28}, Layout::kAuto); });
  EXPECT_TRUE(contains(m, "(785)")) << m;
}

TEST(Layout, FlatModelTakesAnySampleOfItsSize) {
  InputLayout p = plan_input_layout(array({60, 28, 28}), {784}, Layout::kAuto);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, (Shape{784}));
  EXPECT_EQ(p.model_shape, (Shape{784}));
  p = plan_input_layout(array({60, 784}), {784}, Layout::kAuto);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.model_shape, (Shape{784}));
  // No model shape: the data's own.
  p = plan_input_layout(array({60, 5, 7}), {}, Layout::kAuto);
  EXPECT_FALSE(p.channels_last);
  EXPECT_EQ(p.file_shape, (Shape{5, 7}));
  EXPECT_EQ(p.model_shape, (Shape{5, 7}));
}

// ---- read_inputs --------------------------------------------------------------------------------------------------

at::Tensor inputs_of(const at::Tensor& x, const Shape& model, Layout layout = Layout::kAuto) {
  return read_inputs(*tensor_source(x, "mem"), model, layout);
}

TEST(UserDataInputs, ChannelsLastComesOutAsItsPermutation) {
  at::Tensor u8 = at::arange(5 * 4 * 3 * 2, at::kLong).mul(7).remainder(256).to(at::kByte).view({5, 4, 3, 2});
  at::Tensor out = inputs_of(u8, {2, 4, 3});
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{5, 2, 4, 3}));
  EXPECT_TRUE(out.is_contiguous());
  EXPECT_TRUE(at::equal(out, u8.permute({0, 3, 1, 2}).to(at::kFloat)));
  EXPECT_EQ(out[3][1][2][0].item<float>(), static_cast<float>((((3 * 4 + 2) * 3 + 0) * 2 + 1) * 7 % 256));

  at::Tensor f64 = at::arange(5 * 4 * 3 * 2, at::kDouble).div(3.0).sub(11.0).view({5, 4, 3, 2});
  out = inputs_of(f64, {2, 4, 3});
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{5, 2, 4, 3}));
  EXPECT_TRUE(at::equal(out, f64.permute({0, 3, 1, 2}).to(at::kFloat)));

  // [C, T] models: (N, T, C) windows.
  at::Tensor t = at::arange(4 * 8 * 3, at::kInt).view({4, 8, 3});
  out = inputs_of(t, {3, 8});
  EXPECT_TRUE(at::equal(out, t.permute({0, 2, 1}).to(at::kFloat)));
}

TEST(UserDataInputs, FlatRowsAreReshapedInKerasOrder) {
  at::Tensor x = at::arange(5 * 24, at::kFloat).mul(0.5).view({5, 24});
  at::Tensor out = inputs_of(x, {2, 4, 3});
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{5, 2, 4, 3}));
  EXPECT_TRUE(at::equal(out, x.view({5, 4, 3, 2}).permute({0, 3, 1, 2})));
  out = inputs_of(x, {2, 4, 3}, Layout::kChannelsFirst);
  EXPECT_TRUE(at::equal(out, x.view({5, 2, 4, 3})));
  at::Tensor i16 = at::arange(5 * 24, at::kShort).sub(60).view({5, 24});
  out = inputs_of(i16, {2, 4, 3});
  EXPECT_TRUE(at::equal(out, i16.view({5, 4, 3, 2}).permute({0, 3, 1, 2}).to(at::kFloat)));
}

TEST(UserDataInputs, OtherLayoutsKeepTheFileOrder) {
  at::Tensor cf = at::arange(5 * 24, at::kFloat).view({5, 2, 4, 3});
  EXPECT_TRUE(at::equal(inputs_of(cf, {2, 4, 3}), cf));
  at::Tensor gray = at::arange(5 * 12, at::kLong).view({5, 4, 3}).to(at::kByte);
  EXPECT_TRUE(at::equal(inputs_of(gray, {1, 4, 3}), gray.unsqueeze(1).to(at::kFloat)));
  at::Tensor img = at::arange(5 * 12, at::kDouble).view({5, 3, 4});
  EXPECT_TRUE(at::equal(inputs_of(img, {12}), img.reshape({5, 12}).to(at::kFloat)));
  at::Tensor own = at::arange(20, at::kInt).view({4, 5});
  at::Tensor out = inputs_of(own, {});
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{4, 5}));
  EXPECT_TRUE(at::equal(out, own.to(at::kFloat)));
  at::Tensor half = at::arange(6, at::kFloat).mul(0.25).to(at::kHalf).view({3, 2});
  EXPECT_EQ(values<float>(inputs_of(half, {2})), (std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f}));
}

TEST(UserDataInputs, NanOrInfNamesTheSample) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  at::Tensor f32 = at::zeros({10, 1, 2, 2}, at::kFloat);
  f32[7][0][1][0] = nan;
  std::string m = data_error_of([&] { inputs_of(f32, {1, 2, 2}); });
  EXPECT_TRUE(contains(m, "mem: sample 7")) << m;
  at::Tensor f64 = at::zeros({10, 2, 2, 1}, at::kDouble);
  f64[7][1][0][0] = std::numeric_limits<double>::infinity();
  m = data_error_of([&] { inputs_of(f64, {1, 2, 2}); });
  EXPECT_TRUE(contains(m, "sample 7")) << m;
  at::Tensor flat = at::zeros({10, 4}, at::kDouble);
  flat[3][2] = -std::numeric_limits<double>::infinity();
  flat[7][0] = nan;
  m = data_error_of([&] { inputs_of(flat, {1, 2, 2}); });
  EXPECT_TRUE(contains(m, "sample 3")) << m;  // the first
  // float64 too large for float32 becomes Inf.
  at::Tensor big = at::zeros({10, 4}, at::kDouble);
  big[7][1] = 1e300;
  m = data_error_of([&] { inputs_of(big, {4}); });
  EXPECT_TRUE(contains(m, "sample 7")) << m;
}

TEST(UserDataInputs, EmptyArrayIsADataError) {
  const std::string m = data_error_of([&] { inputs_of(at::zeros({0, 4}, at::kFloat), {4}); });
  EXPECT_TRUE(contains(m, "no samples")) << m;
}

TEST(UserDataInputs, ManyBlocksOfRows) {
  // 16 MiB blocks (user_data.cpp): 2-byte rows make 8 Mi rows a block, so this reads two blocks.
  const int64_t n = (int64_t{8} << 20) + 3;
  at::Tensor x = at::arange(n * 2, at::kInt).remainder(251).to(at::kByte).view({n, 1, 1, 2});
  at::Tensor out = inputs_of(x, {2, 1, 1});
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{n, 2, 1, 1}));
  EXPECT_TRUE(at::equal(out, x.permute({0, 3, 1, 2}).to(at::kFloat)));
  // float32 rows in file order land in place, block by block.
  const int64_t m = (int64_t{4} << 20) + 5;
  at::Tensor f = at::arange(m, at::kFloat).view({m, 1});
  EXPECT_TRUE(at::equal(inputs_of(f, {1}), f));
  f[m - 3][0] = std::numeric_limits<float>::quiet_NaN();
  const std::string msg = data_error_of([&] { inputs_of(f, {1}); });
  EXPECT_TRUE(contains(msg, "sample " + std::to_string(m - 3))) << msg;
}

// ---- read_labels, read_groups -------------------------------------------------------------------------------------

at::Tensor labels_of(const at::Tensor& y, int64_t num_classes) {
  return read_labels(*tensor_source(y, "labels"), num_classes);
}

TEST(UserDataLabels, IntegersIntegralFloatsAndColumns) {
  at::Tensor y = labels_of(at::tensor(std::vector<int64_t>{0, 2, 1, 9}), 10);
  EXPECT_EQ(y.scalar_type(), at::kLong);
  EXPECT_EQ(values<int64_t>(y), (std::vector<int64_t>{0, 2, 1, 9}));
  EXPECT_EQ(values<int64_t>(labels_of(at::tensor(std::vector<int64_t>{3, 1}).to(at::kByte), 4)),
            (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(values<int64_t>(labels_of(at::tensor(std::vector<double>{0.0, 2.0, 1.0}), 3)),
            (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(values<int64_t>(labels_of(at::tensor(std::vector<float>{4.0f, 0.0f}), 0)), (std::vector<int64_t>{4, 0}));
  EXPECT_EQ(values<int64_t>(labels_of(at::tensor(std::vector<int32_t>{2, 0, 1}).view({3, 1}), 3)),
            (std::vector<int64_t>{2, 0, 1}));
  // No model: any non-negative label.
  EXPECT_EQ(values<int64_t>(labels_of(at::tensor(std::vector<int64_t>{0, 100}), 0)), (std::vector<int64_t>{0, 100}));
}

TEST(UserDataLabels, OneHotRowsAreArgmaxed) {
  at::Tensor one_hot = at::tensor(std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0}).view({3, 3});
  EXPECT_EQ(values<int64_t>(labels_of(one_hot, 3)), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(values<int64_t>(labels_of(one_hot, 0)), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(values<int64_t>(labels_of(one_hot.to(at::kByte), 3)), (std::vector<int64_t>{2, 0, 1}));
  std::string m = data_error_of([&] { labels_of(one_hot, 4); });
  EXPECT_TRUE(contains(m, "3 columns")) << m;
  EXPECT_TRUE(contains(m, "4 classes")) << m;
  at::Tensor two = at::tensor(std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 1}).view({3, 3});
  m = data_error_of([&] { labels_of(two, 3); });
  EXPECT_TRUE(contains(m, "labels: row 2")) << m;
  EXPECT_TRUE(contains(m, "one-hot")) << m;
  at::Tensor soft = at::tensor(std::vector<float>{0, 0, 1, 0, 0.5f, 0.5f, 0, 1, 0}).view({3, 3});
  m = data_error_of([&] { labels_of(soft, 3); });
  EXPECT_TRUE(contains(m, "row 1")) << m;
  at::Tensor zero = at::tensor(std::vector<float>{0, 0, 0, 0, 1, 0}).view({2, 3});
  m = data_error_of([&] { labels_of(zero, 3); });
  EXPECT_TRUE(contains(m, "row 0")) << m;
}

TEST(UserDataLabels, OutOfRangeAndNonIntegerLabels) {
  std::string m = data_error_of([&] { labels_of(at::tensor(std::vector<int64_t>{0, 1, 10, 2}), 10); });
  EXPECT_TRUE(contains(m, "label 10")) << m;
  EXPECT_TRUE(contains(m, "index 2")) << m;
  EXPECT_TRUE(contains(m, "0..9")) << m;
  m = data_error_of([&] { labels_of(at::tensor(std::vector<int64_t>{0, -1}), 10); });
  EXPECT_TRUE(contains(m, "index 1")) << m;
  m = data_error_of([&] { labels_of(at::tensor(std::vector<int64_t>{0, -1}), 0); });
  EXPECT_TRUE(contains(m, "index 1")) << m;
  m = data_error_of([&] { labels_of(at::tensor(std::vector<double>{0.0, 1.5, 2.0}), 3); });
  EXPECT_TRUE(contains(m, "1.5")) << m;
  EXPECT_TRUE(contains(m, "index 1")) << m;
  EXPECT_TRUE(contains(m, "integer")) << m;
  m = data_error_of([&] { labels_of(at::tensor(std::vector<float>{0.0f, std::nanf("")}), 3); });
  EXPECT_TRUE(contains(m, "index 1")) << m;
  m = data_error_of([&] { labels_of(at::zeros({2, 2, 2}, at::kLong), 3); });
  EXPECT_TRUE(contains(m, "(2, 2, 2)")) << m;
  m = data_error_of([&] { labels_of(at::zeros({0}, at::kLong), 3); });
  EXPECT_TRUE(contains(m, "no samples")) << m;
}

TEST(UserDataLabels, Groups) {
  at::Tensor g = read_groups(*tensor_source(at::tensor(std::vector<int32_t>{7, 7, -3}), "g"));
  EXPECT_EQ(g.scalar_type(), at::kLong);
  EXPECT_EQ(values<int64_t>(g), (std::vector<int64_t>{7, 7, -3}));
  g = read_groups(*tensor_source(at::tensor(std::vector<double>{1, 2, 2}).view({3, 1}), "g"));
  EXPECT_EQ(values<int64_t>(g), (std::vector<int64_t>{1, 2, 2}));
  std::string m = data_error_of([&] { read_groups(*tensor_source(at::tensor(std::vector<double>{1, 2.5}), "g")); });
  EXPECT_TRUE(contains(m, "integers")) << m;
  m = data_error_of([&] { read_groups(*tensor_source(at::zeros({2, 2}, at::kLong), "g")); });
  EXPECT_TRUE(contains(m, "(2, 2)")) << m;
}

// ---- load_dataset on files ----------------------------------------------------------------------------------------

/// x_train (12,4,4,1) uint8, y_train int64, groups_train, x_test (6,4,4) uint8 and one-hot y_test; "f32" holds float32
/// flat x_train (20,16), float labels, x_test (5,1,4,4) and x_val/y_val.
const char kSetsScript[] =
    "u8 = {'x_train': (np.arange(192) * 7 % 256).astype(np.uint8).reshape(12, 4, 4, 1),\n"
    "  'y_train': np.arange(12) % 3, 'groups_train': np.arange(12) // 3,\n"
    "  'x_test': (np.arange(96) * 5 % 256).astype(np.uint8).reshape(6, 4, 4),\n"
    "  'y_test': np.eye(3, dtype=np.float32)[np.arange(6) % 3]}\n"
    "save_all('u8', u8)\n"
    "f32 = {'x_train': (np.arange(320) * 0.25 - 7).astype(np.float32).reshape(20, 16),\n"
    "  'y_train': (np.arange(20) % 3).astype(np.float64),\n"
    "  'x_test': (np.arange(80) / 8).astype(np.float32).reshape(5, 1, 4, 4),\n"
    "  'y_test': (np.arange(5) % 3).astype(np.int32),\n"
    "  'x_val': (-np.arange(80) / 16).astype(np.float32).reshape(5, 4, 4, 1),\n"
    "  'y_val': (np.arange(5) % 3).reshape(5, 1)}\n"
    "save_all('f32', f32)\n";

LoadOptions small_model() {
  LoadOptions o;
  o.input_shape = {1, 4, 4};
  o.num_classes = 3;
  return o;
}

at::Tensor u8_train_x() {
  return at::arange(192, at::kLong).mul(7).remainder(256).to(at::kFloat).view({12, 4, 4, 1}).permute({0, 3, 1, 2});
}

TEST(UserDataLoad, NpzShapesScaleAndGroups) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kSetsScript));
  const std::string path = tmp.str("u8.npz");
  Dataset d = load_dataset("npz:" + path, small_model());
  EXPECT_EQ(d.name, "npz:" + path);
  EXPECT_EQ(d.source, path);
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.class_names, (Strings{"0", "1", "2"}));
  EXPECT_EQ(d.default_scale, Scale::kUnit);
  EXPECT_EQ(d.scale, Scale::kUnit);
  EXPECT_EQ(d.train.x.scalar_type(), at::kFloat);
  EXPECT_EQ(d.train.x.sizes(), (at::IntArrayRef{12, 1, 4, 4}));
  EXPECT_EQ(d.test.x.sizes(), (at::IntArrayRef{6, 1, 4, 4}));
  EXPECT_TRUE(at::equal(d.train.x, u8_train_x().div(255.0)));
  EXPECT_EQ(values<int64_t>(d.train.y), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}));
  ASSERT_TRUE(d.train.groups.defined());
  EXPECT_EQ(values<int64_t>(d.train.groups), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}));
  EXPECT_FALSE(d.test.groups.defined());
  EXPECT_EQ(values<int64_t>(d.test.y), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(d.validation.size(), 0);

  LoadOptions raw = small_model();
  raw.scale = Scale::kRaw;
  d = load_dataset("npz:" + path, raw);
  EXPECT_EQ(d.default_scale, Scale::kUnit);
  EXPECT_EQ(d.scale, Scale::kRaw);
  EXPECT_TRUE(at::equal(d.train.x, u8_train_x()));
  EXPECT_TRUE(at::equal(d.test.x, at::arange(96, at::kLong).mul(5).remainder(256).to(at::kFloat).view({6, 1, 4, 4})));
}

TEST(UserDataLoad, Float32IsRawAndBringsItsValidationSplit) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kSetsScript));
  Dataset d = load_dataset("npz:" + tmp.str("f32.npz"), small_model());
  EXPECT_EQ(d.default_scale, Scale::kRaw);
  EXPECT_EQ(d.scale, Scale::kRaw);
  const at::Tensor x = at::arange(320, at::kDouble).mul(0.25).sub(7).to(at::kFloat).view({20, 16});
  EXPECT_TRUE(at::equal(d.train.x, x.view({20, 4, 4, 1}).permute({0, 3, 1, 2})));
  EXPECT_FALSE(d.train.groups.defined());
  EXPECT_TRUE(at::equal(d.test.x, at::arange(80, at::kDouble).div(8).to(at::kFloat).view({5, 1, 4, 4})));
  ASSERT_EQ(d.validation.size(), 5);
  const at::Tensor xv = at::arange(80, at::kDouble).neg().div(16).to(at::kFloat).view({5, 4, 4, 1});
  EXPECT_TRUE(at::equal(d.validation.x, xv.permute({0, 3, 1, 2})));
  EXPECT_EQ(values<int64_t>(d.validation.y), (std::vector<int64_t>{0, 1, 2, 0, 1}));

  Holdouts h = holdouts_of(d, 0.1, 0.1, 1);
  EXPECT_TRUE(at::equal(h.validation.x, d.validation.x));
  EXPECT_TRUE(at::equal(h.validation.y, d.validation.y));
  EXPECT_EQ(h.confirmation.size(), 2);  // 0.1 of train
  EXPECT_EQ(h.fit.size(), 18);
  // fit and confirmation partition train.
  at::Tensor both = at::cat({h.fit.x, h.confirmation.x}).view({20, -1});
  at::Tensor sorted_rows = std::get<0>(both.select(1, 0).sort());
  EXPECT_TRUE(at::equal(sorted_rows, std::get<0>(d.train.x.view({20, -1}).select(1, 0).sort())));
  h = holdouts_of(d, 0.1, 0.0, 1);
  EXPECT_TRUE(at::equal(h.fit.x, d.train.x));
  EXPECT_TRUE(at::equal(h.validation.x, d.validation.x));
  EXPECT_EQ(h.confirmation.size(), 0);
}

TEST(UserDataLoad, NpyFolderAndH5MatchNpz) {
  if (!python_has("h5py")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy and h5py";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kSetsScript));
  for (const char* set : {"u8", "f32"}) {
    SCOPED_TRACE(set);
    const std::string name = set;
    Dataset z = load_dataset("npz:" + tmp.str(name + ".npz"), small_model());
    Dataset n = load_dataset("npy:" + tmp.str(name + "_npy"), small_model());
    Dataset h = load_dataset("h5:" + tmp.str(name + ".h5"), small_model());
    EXPECT_EQ(n.name, "npy:" + tmp.str(name + "_npy"));
    EXPECT_EQ(h.name, "h5:" + tmp.str(name + ".h5"));
    for (const Dataset* d : {&n, &h}) {
      EXPECT_EQ(d->default_scale, z.default_scale);
      EXPECT_EQ(d->scale, z.scale);
      EXPECT_EQ(d->num_classes, z.num_classes);
      for (auto part : {&Dataset::train, &Dataset::test, &Dataset::validation}) {
        const Split& a = z.*part;
        const Split& b = d->*part;
        ASSERT_EQ(a.size(), b.size());
        if (a.size() == 0) continue;
        EXPECT_EQ(a.x.sizes(), b.x.sizes());
        EXPECT_TRUE(at::equal(a.x, b.x));
        EXPECT_TRUE(at::equal(a.y, b.y));
        ASSERT_EQ(a.groups.defined(), b.groups.defined());
        if (a.groups.defined()) {
          EXPECT_TRUE(at::equal(a.groups, b.groups));
        }
      }
    }
  }
}

TEST(UserDataLoad, MissingAndMismatchedArrays) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "x = np.zeros((10, 4, 4), np.uint8)\n"
                         "y = np.arange(10) % 3\n"
                         "save_all('noyval', dict(x_train=x, y_train=y, x_test=x, y_test=y, x_val=x))\n"
                         "save_all('noxval', dict(x_train=x, y_train=y, x_test=x, y_test=y, y_val=y))\n"
                         "save_all('noytest', dict(x_train=x, y_train=y, x_test=x))\n"
                         "save_all('short', dict(x_train=x, y_train=y[:9], x_test=x, y_test=y))\n"
                         "save_all('shorttest', dict(x_train=x, y_train=y, x_test=x[:8], y_test=y))\n"
                         "save_all('badgroups', dict(x_train=x, y_train=y, x_test=x, y_test=y, groups_train=y[:7]))\n"
                         "save_all('wrongshape', dict(x_train=np.zeros((10, 5, 5), np.uint8), y_train=y, x_test=x, "
                         "y_test=y))\n"));
  for (const char* kind : {"npz", "npy"}) {
    SCOPED_TRACE(kind);
    auto spec = [&](const std::string& set) {
      return std::string(kind) + ":" + tmp.str(set + (std::string(kind) == "npz" ? ".npz" : "_npy"));
    };
    std::string m = data_error_of([&] { load_dataset(spec("noyval"), small_model()); });
    EXPECT_TRUE(contains(m, "'x_val' but not 'y_val'")) << m;
    m = data_error_of([&] { load_dataset(spec("noxval"), small_model()); });
    EXPECT_TRUE(contains(m, "'y_val' but not 'x_val'")) << m;
    m = data_error_of([&] { load_dataset(spec("noytest"), small_model()); });
    EXPECT_TRUE(contains(m, "no array 'y_test'")) << m;
    EXPECT_TRUE(contains(m, "found: ")) << m;
    for (const char* name : {"x_train", "y_train", "x_test"}) EXPECT_TRUE(contains(m, name)) << m;
    m = data_error_of([&] { load_dataset(spec("short"), small_model()); });
    EXPECT_TRUE(contains(m, "x_train")) << m;
    EXPECT_TRUE(contains(m, "10 samples")) << m;
    EXPECT_TRUE(contains(m, "9 labels")) << m;
    m = data_error_of([&] { load_dataset(spec("shorttest"), small_model()); });
    EXPECT_TRUE(contains(m, "8 samples")) << m;
    EXPECT_TRUE(contains(m, "10 labels")) << m;
    m = data_error_of([&] { load_dataset(spec("badgroups"), small_model()); });
    EXPECT_TRUE(contains(m, "10 samples")) << m;
    EXPECT_TRUE(contains(m, "groups have 7")) << m;
    m = data_error_of([&] { load_dataset(spec("wrongshape"), small_model()); });
    EXPECT_TRUE(contains(m, "(5, 5)")) << m;
    EXPECT_TRUE(contains(m, "(4, 4, 1)")) << m;
  }
  if (python_has("h5py")) {
    std::string m = data_error_of([&] { load_dataset("h5:" + tmp.str("noytest.h5"), small_model()); });
    EXPECT_TRUE(contains(m, "no array 'y_test'")) << m;
    EXPECT_TRUE(contains(m, "x_train")) << m;
  }
}

TEST(UserDataLoad, ArrayNamesRename) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "x = (np.arange(160) % 256).astype(np.uint8).reshape(10, 4, 4)\n"
                         "y = np.arange(10) % 3\n"
                         "save_all('renamed', dict(images=x, y_train=y, x_test=x, labels_test=y))\n"));
  LoadOptions o = small_model();
  std::string m = data_error_of([&] { load_dataset("npz:" + tmp.str("renamed.npz"), o); });
  EXPECT_TRUE(contains(m, "no array 'x_train'")) << m;
  EXPECT_TRUE(contains(m, "images")) << m;
  o.array_names = {{"x_train", "images"}, {"y_test", "labels_test"}};
  o.scale = Scale::kRaw;
  for (const std::string& spec : {"npz:" + tmp.str("renamed.npz"), "npy:" + tmp.str("renamed_npy")}) {
    SCOPED_TRACE(spec);
    Dataset d = load_dataset(spec, o);
    const at::Tensor x = at::arange(160, at::kFloat).view({10, 1, 4, 4});
    EXPECT_TRUE(at::equal(d.train.x, x));
    EXPECT_TRUE(at::equal(d.test.x, x));
    EXPECT_EQ(values<int64_t>(d.test.y), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0}));
  }
}

TEST(UserDataLoad, MissingCorruptAndWrongFiles) {
  TempDir tmp;
  std::string m = data_error_of([&] { load_dataset("npz:" + tmp.str("missing.npz"), small_model()); });
  EXPECT_TRUE(contains(m, tmp.str("missing.npz"))) << m;
  m = data_error_of([&] { load_dataset("npy:" + tmp.str("missing"), small_model()); });
  EXPECT_TRUE(contains(m, tmp.str("missing"))) << m;
  m = data_error_of([&] { load_dataset("h5:" + tmp.str("missing.h5"), small_model()); });
  EXPECT_TRUE(contains(m, tmp.str("missing.h5"))) << m;
  write_file(tmp.str("text.npz"), "x,y\n1,2\n");
  m = data_error_of([&] { load_dataset("npz:" + tmp.str("text.npz"), small_model()); });
  EXPECT_TRUE(contains(m, tmp.str("text.npz"))) << m;
  EXPECT_TRUE(contains(m, "zip")) << m;
  m = data_error_of([&] { load_dataset("h5:" + tmp.str("text.npz"), small_model()); });
  EXPECT_TRUE(contains(m, tmp.str("text.npz"))) << m;
  EXPECT_TRUE(contains(m, "HDF5")) << m;
  if (!python_has("numpy")) return;
  ASSERT_TRUE(run_python(tmp, kSetsScript));
  const std::string whole = read_file(tmp.str("u8.npz"));
  write_file(tmp.str("cut.npz"), whole.substr(0, whole.size() / 2));
  m = data_error_of([&] { load_dataset("npz:" + tmp.str("cut.npz"), small_model()); });
  EXPECT_TRUE(contains(m, tmp.str("cut.npz"))) << m;
}

// ---- Group-wise holdouts ------------------------------------------------------------------------------------------

TEST(UserDataGroups, EachSubjectStaysOnOneSide) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "n = 50\n"
                         "x = (np.arange(n * 16) % 97).astype(np.float32).reshape(n, 16)\n"
                         "save_all('subjects', dict(x_train=x,\n"
                         "  y_train=np.arange(n) % 3, groups_train=np.arange(n) % 10 + 100,\n"
                         "  x_test=np.ones((6, 4, 4, 1), np.float32), y_test=np.arange(6) % 3))\n"));
  Dataset d = load_dataset("npz:" + tmp.str("subjects.npz"), small_model());
  ASSERT_TRUE(d.train.groups.defined());
  ASSERT_EQ(d.train.size(), 50);
  auto groups_of = [](const Split& s) {
    std::set<int64_t> g;
    if (s.size() == 0) return g;
    for (int64_t v : values<int64_t>(s.groups)) g.insert(v);
    return g;
  };
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    Holdouts h = split_holdouts(d.train, 0.2, 0.1, seed);
    const std::set<int64_t> fit = groups_of(h.fit), val = groups_of(h.validation), conf = groups_of(h.confirmation);
    EXPECT_EQ(val.size(), 2u);
    EXPECT_EQ(conf.size(), 1u);
    EXPECT_EQ(fit.size(), 7u);
    std::set<int64_t> all(fit);
    all.insert(val.begin(), val.end());
    all.insert(conf.begin(), conf.end());
    EXPECT_EQ(all.size(), 10u);  // so no subject is on two sides
    EXPECT_EQ(*all.begin(), 100);
    EXPECT_EQ(*all.rbegin(), 109);
    // Every sample of a subject went with it: 5 samples each.
    EXPECT_EQ(h.validation.size(), 10);
    EXPECT_EQ(h.confirmation.size(), 5);
    EXPECT_EQ(h.fit.size(), 35);
    // The data set brings no validation split: holdouts_of carves the same one.
    Holdouts same = holdouts_of(d, 0.2, 0.1, seed);
    EXPECT_EQ(groups_of(same.validation), val);
    EXPECT_EQ(groups_of(same.confirmation), conf);
  }
}

}  // namespace
}  // namespace snare::data
