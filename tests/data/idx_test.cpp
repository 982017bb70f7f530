#include "data/idx.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "data/dataset.h"
#include "temp_dir.h"

namespace snare::data {
namespace {

using test::TempDir;
using test::write_file;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols, size_t data_bytes) {
  return be32(0x0803) + be32(n) + be32(rows) + be32(cols) + std::string(data_bytes, '\x07');
}
std::string idx_labels(uint32_t n) {
  std::string data;
  for (uint32_t i = 0; i < n; ++i) data += static_cast<char>(i % 3);
  return be32(0x0801) + be32(n) + data;
}

TEST(Idx, ReadsDimsAndData) {
  TempDir tmp;
  write_file(tmp.str("img"), idx_images(2, 3, 4, 24));
  at::Tensor t = read_idx(tmp.str("img"), 3);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{2, 3, 4}));
  EXPECT_EQ(t.sum().item<int64_t>(), 24 * 7);
}

TEST(Idx, WrongMagicIsADataErrorNamingTheFile) {
  TempDir tmp;
  write_file(tmp.str("labels"), idx_labels(5));
  try {
    read_idx(tmp.str("labels"), 3);
    FAIL();
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(tmp.str("labels")), std::string::npos) << m;
    EXPECT_NE(m.find("expected magic 2051"), std::string::npos) << m;
    EXPECT_NE(m.find("got 2049"), std::string::npos) << m;
  }
}

TEST(Idx, TruncatedFileIsADataError) {
  TempDir tmp;
  write_file(tmp.str("img"), idx_images(2, 3, 4, 20));
  try {
    read_idx(tmp.str("img"), 3);
    FAIL();
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(tmp.str("img")), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  }
  write_file(tmp.str("short"), be32(0x0803) + be32(2));
  EXPECT_THROW(read_idx(tmp.str("short"), 3), DataError);
}

TEST(Idx, ImageLabelCountMismatchIsADataError) {
  TempDir tmp;
  write_file(tmp.str("train-images-idx3-ubyte"), idx_images(4, 2, 2, 16));
  write_file(tmp.str("train-labels-idx1-ubyte"), idx_labels(3));
  write_file(tmp.str("t10k-images-idx3-ubyte"), idx_images(2, 2, 2, 8));
  write_file(tmp.str("t10k-labels-idx1-ubyte"), idx_labels(2));
  try {
    load_dataset(tmp.str(), {Scale::kRaw});
    FAIL();
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("4 images"), std::string::npos) << m;
    EXPECT_NE(m.find("has 3 labels"), std::string::npos) << m;
  }
  write_file(tmp.str("train-labels-idx1-ubyte"), idx_labels(4));
  Dataset d = load_dataset(tmp.str(), {Scale::kRaw});
  EXPECT_EQ(d.train.x.sizes(), (at::IntArrayRef{4, 1, 2, 2}));
  EXPECT_EQ(d.test.size(), 2);
}

TEST(SplitValidation, HoldsOutWholeGroups) {
  const int64_t n = 200;
  Split s;
  s.x = at::arange(n, at::kFloat).unsqueeze(1);
  s.y = at::arange(n, at::kLong) % 6;
  s.groups = at::arange(n, at::kLong) % 10;  // 10 groups of 20, interleaved like overlapping windows
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto [fit, val] = split_validation(s, 0.2, seed);
    EXPECT_EQ(fit.size() + val.size(), n);
    std::set<int64_t> fit_groups, val_groups, rows;
    for (int64_t g : test::values<int64_t>(fit.groups)) fit_groups.insert(g);
    for (int64_t g : test::values<int64_t>(val.groups)) val_groups.insert(g);
    EXPECT_EQ(val_groups.size(), 2u) << "seed " << seed;
    for (int64_t g : val_groups) EXPECT_EQ(fit_groups.count(g), 0u) << "group " << g << " on both sides";
    for (const Split* p : {&fit, &val}) {
      for (float v : test::values<float>(p->x)) rows.insert(static_cast<int64_t>(v));
    }
    EXPECT_EQ(rows.size(), static_cast<size_t>(n)) << "every row on exactly one side";
    // x, y and groups stay aligned.
    EXPECT_TRUE(at::equal(val.groups, val.x.squeeze(1).to(at::kLong) % 10));
  }
}

TEST(SplitValidation, WithoutGroupsSplitsRows) {
  Split s;
  s.x = at::arange(100, at::kFloat).unsqueeze(1);
  s.y = at::zeros({100}, at::kLong);
  auto [fit, val] = split_validation(s, 0.1, 7);
  EXPECT_EQ(val.size(), 10);
  EXPECT_EQ(fit.size(), 90);
  EXPECT_THROW(split_validation(s, 1.0, 7), OptionError);
}

TEST(SplitHoldouts, ConfirmationIsDisjointAndLeavesValidationAsItWas) {
  const int64_t n = 200;
  Split s;
  s.x = at::arange(n, at::kFloat).unsqueeze(1);
  s.y = at::arange(n, at::kLong) % 6;
  for (bool grouped : {false, true}) {
    if (grouped) s.groups = at::arange(n, at::kLong) % 10;
    Holdouts h = split_holdouts(s, 0.2, 0.1, 5);
    auto [fit, val] = split_validation(s, 0.2, 5);
    EXPECT_TRUE(at::equal(h.validation.x, val.x)) << "confirmation must not change the validation split";
    EXPECT_EQ(h.fit.size() + h.validation.size() + h.confirmation.size(), n);
    EXPECT_EQ(h.confirmation.size(), 20) << (grouped ? "one group of 20" : "10% of the rows");
    std::set<int64_t> rows;
    for (const Split* p : {&h.fit, &h.validation, &h.confirmation}) {
      for (float v : test::values<float>(p->x)) rows.insert(static_cast<int64_t>(v));
    }
    EXPECT_EQ(rows.size(), static_cast<size_t>(n)) << "every row on exactly one side";
    if (grouped) {
      std::set<int64_t> fit_groups;
      for (int64_t g : test::values<int64_t>(h.fit.groups)) fit_groups.insert(g);
      for (const Split* p : {&h.validation, &h.confirmation}) {
        for (int64_t g : test::values<int64_t>(p->groups)) EXPECT_EQ(fit_groups.count(g), 0u) << "group " << g;
      }
    }
    Holdouts none = split_holdouts(s, 0.2, 0.0, 5);
    EXPECT_EQ(none.confirmation.size(), 0);
    EXPECT_TRUE(at::equal(none.fit.x, fit.x));
  }
  EXPECT_THROW(split_holdouts(s, 0.5, 0.5, 1), OptionError);
  EXPECT_THROW(split_holdouts(s, 0.2, -0.1, 1), OptionError);
}

}  // namespace
}  // namespace snare::data
