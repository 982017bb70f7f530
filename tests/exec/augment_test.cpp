#include "exec/augment.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace {

using snare::exec::Augment;
using snare::exec::augment_batch;
using snare::exec::parse_augment;

at::Generator gen(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

TEST(Augment, ParsesPresetsAndLists) {
  EXPECT_FALSE(parse_augment("none").enabled());
  Augment d = parse_augment("default");
  EXPECT_DOUBLE_EQ(d.scale, 0.2);
  EXPECT_EQ(d.noise, 0);
  EXPECT_EQ(d.shift, 0);
  Augment a = parse_augment("scale=0.1,noise=0.05,shift=8");
  EXPECT_DOUBLE_EQ(a.scale, 0.1);
  EXPECT_DOUBLE_EQ(a.noise, 0.05);
  EXPECT_EQ(a.shift, 8);
  EXPECT_EQ(snare::exec::augment_spec(a), "scale=0.1,noise=0.05,shift=8");
  EXPECT_EQ(snare::exec::augment_spec(parse_augment("none")), "none");
  // The spec written into reports reads back to the same settings.
  Augment back = parse_augment(snare::exec::augment_spec(a));
  EXPECT_EQ(back.shift, a.shift);
  EXPECT_DOUBLE_EQ(back.scale, a.scale);
}

TEST(Augment, RejectsBadSpecsNamingTheField) {
  for (const char* bad : {"gain=0.1", "scale=-1", "scale=", "scale=abc", "shift=1.5", "shift=1e300", "scale=0.1,",
                          "noise", "noise=nan", "scale=inf"}) {
    try {
      parse_augment(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const snare::OptionError& e) {
      EXPECT_EQ(e.field(), "parse_augment(spec)") << e.what();
    }
  }
}

TEST(Augment, DisabledReturnsTheBatchItself) {
  at::Tensor x = at::rand({4, 3, 10});
  auto g = gen(1);
  EXPECT_TRUE(augment_batch(x, Augment{}, g).is_same(x));
}

TEST(Augment, ShiftMovesEachSampleAsAWholeWithinTheLimit) {
  const int64_t b = 64, c = 3, t = 20, s = 4;
  // Every channel holds its time index, so the output holds clamp(t + offset) for one offset per sample.
  at::Tensor x = at::arange(t, at::TensorOptions(at::kFloat)).view({1, 1, t}).expand({b, c, t}).contiguous();
  auto g = gen(7);
  Augment a;
  a.shift = s;
  at::Tensor y = augment_batch(x, a, g);
  ASSERT_EQ(y.sizes(), x.sizes());
  bool some_moved = false;
  for (int64_t i = 0; i < b; ++i) {
    at::Tensor row = y[i][0];
    // Channels move together.
    EXPECT_TRUE(at::equal(y[i][1], row));
    EXPECT_TRUE(at::equal(y[i][2], row));
    const int64_t offset = row[t / 2].item<int64_t>() - t / 2;
    EXPECT_LE(std::abs(offset), s);
    some_moved |= offset != 0;
    at::Tensor expected = (at::arange(t, at::TensorOptions(at::kLong)) + offset).clamp(0, t - 1).to(at::kFloat);
    EXPECT_TRUE(at::equal(row, expected)) << "sample " << i;
  }
  EXPECT_TRUE(some_moved);
  EXPECT_TRUE(at::equal(x[0][0], at::arange(t, at::TensorOptions(at::kFloat)))) << "the input was changed";
}

TEST(Augment, ScaleIsOneGainPerSampleAndChannel) {
  at::Tensor x = at::rand({256, 3, 16}) + 1.0;
  auto g = gen(3);
  Augment a;
  a.scale = 0.2;
  at::Tensor gain = augment_batch(x, a, g) / x;
  // Constant along time, different across samples and channels, spread like N(1, 0.2).
  EXPECT_LT((gain - gain.select(2, 0).unsqueeze(2)).abs().max().item<double>(), 1e-5);
  at::Tensor per = gain.select(2, 0);
  EXPECT_NEAR(per.mean().item<double>(), 1.0, 0.03);
  EXPECT_NEAR(per.std().item<double>(), 0.2, 0.03);
}

TEST(Augment, NoiseIsAdditiveWithTheGivenSpread) {
  at::Tensor x = at::zeros({200, 50});
  auto g = gen(5);
  Augment a;
  a.noise = 0.05;
  at::Tensor y = augment_batch(x, a, g);
  EXPECT_NEAR(y.mean().item<double>(), 0.0, 0.005);
  EXPECT_NEAR(y.std().item<double>(), 0.05, 0.005);
}

TEST(Augment, SameGeneratorSeedSameBatch) {
  at::Tensor x = at::rand({8, 9, 32});
  Augment a = parse_augment("scale=0.1,noise=0.05,shift=8");
  auto g1 = gen(11), g2 = gen(11), g3 = gen(12);
  at::Tensor y1 = augment_batch(x, a, g1), y2 = augment_batch(x, a, g2), y3 = augment_batch(x, a, g3);
  EXPECT_TRUE(at::equal(y1, y2));
  EXPECT_FALSE(at::equal(y1, y3));
}

}  // namespace
