#include "data/filters.h"

#include <gtest/gtest.h>

#include <cmath>

namespace snare::data {
namespace {

// Reference coefficients: scipy.signal.butter(3, 20/25) and butter(3, 0.3/25), which we re-derived
// independently by substituting s = 2 fs (1 - z^-1)/(1 + z^-1) into H(s) = wc^3/(s^3 + 2wc s^2 + 2wc^2 s + wc^3)
// with the pre-warped wc = 2 fs tan(pi fc / fs). The denominator of the 20 Hz filter also matches the
// published scipy output [1, 1.76004188, 1.18289326, 0.27805992].
TEST(Butterworth, ThirdOrder20HzAt50HzMatchesScipy) {
  IirFilter f = butter_lowpass(3, 20.0, 50.0);
  const double b[] = {0.5276243825019433, 1.5828731475058297, 1.5828731475058297, 0.5276243825019433};
  const double a[] = {1.0, 1.760041880343169, 1.1828932620378307, 0.27805991763454646};
  ASSERT_EQ(f.b.size(), 4u);
  ASSERT_EQ(f.a.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(f.b[i], b[i], 1e-12) << "b[" << i << "]";
    EXPECT_NEAR(f.a[i], a[i], 1e-12) << "a[" << i << "]";
  }
}

TEST(Butterworth, ThirdOrder03HzAt50HzMatchesScipy) {
  IirFilter f = butter_lowpass(3, 0.3, 50.0);
  const double b[] = {6.45184912909093e-06, 1.935554738727279e-05, 1.935554738727279e-05, 6.45184912909093e-06};
  const double a[] = {1.0, -2.924606235450698, 2.8520278185938945, -0.927369968350164};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(f.b[i], b[i], 1e-15) << "b[" << i << "]";
    EXPECT_NEAR(f.a[i], a[i], 1e-12) << "a[" << i << "]";
  }
}

TEST(Butterworth, HasUnitDcGainAndMinus3dBAtCutoff) {
  for (int order : {1, 2, 3, 5}) {
    for (double fc : {0.3, 5.0, 20.0}) {
      IirFilter f = butter_lowpass(order, fc, 50.0);
      EXPECT_NEAR(magnitude_response(f, 0.0, 50.0), 1.0, 1e-9) << "order " << order << " fc " << fc;
      // 1e-7: the 5th-order 0.3 Hz filter as a plain transfer function loses a few digits.
      EXPECT_NEAR(magnitude_response(f, fc, 50.0), 1.0 / std::sqrt(2.0), 1e-7) << "order " << order << " fc " << fc;
      EXPECT_LT(magnitude_response(f, 25.0, 50.0), 1e-9) << "order " << order << " fc " << fc;  // zeros at Nyquist
    }
  }
}

TEST(Butterworth, RejectsCutoffAtOrAboveNyquist) {
  EXPECT_THROW(butter_lowpass(3, 25.0, 50.0), std::invalid_argument);
  EXPECT_THROW(butter_lowpass(3, 0.0, 50.0), std::invalid_argument);
  EXPECT_THROW(butter_lowpass(0, 1.0, 50.0), std::invalid_argument);
}

// Impulse response from the difference equation with the reference coefficients above.
TEST(Lfilter, ImpulseResponseMatchesDifferenceEquation) {
  IirFilter f = butter_lowpass(3, 20.0, 50.0);
  std::vector<double> x(6, 0.0);
  x[0] = 1.0;
  std::vector<double> y = lfilter(f, x);
  const double expected[] = {0.5276243825019433,  0.654232137212206,  -0.19272614040249136,
                             -0.053767518210171006, 0.14069180256557967, -0.1304328150027443};
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(y[i], expected[i], 1e-12) << "sample " << i;
}

TEST(Lfilter, SteadyStartPassesAConstantUnchanged) {
  IirFilter f = butter_lowpass(3, 0.3, 50.0);
  std::vector<double> x(200, 0.98);
  std::vector<double> y = lfilter(f, x, /*steady_start=*/true);
  for (double v : y) EXPECT_NEAR(v, 0.98, 1e-9);
  // At rest the same filter starts from zero and is far from 0.98 after 10 samples.
  EXPECT_LT(lfilter(f, x)[10], 0.1);
}

TEST(Filtfilt, IsZeroPhaseWithSquaredGain) {
  // A 2 Hz sine through the 20 Hz filter keeps amplitude and phase; at 20 Hz the amplitude halves
  // (|H|^2 = 1/2) with no shift of the peaks.
  IirFilter f = butter_lowpass(3, 20.0, 50.0);
  for (double freq : {2.0, 20.0}) {
    std::vector<double> x(1000);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(2 * M_PI * freq * static_cast<double>(i) / 50.0);
    std::vector<double> y = filtfilt(f, x);
    ASSERT_EQ(y.size(), x.size());
    double gain = std::pow(magnitude_response(f, freq, 50.0), 2.0);
    for (size_t i = 200; i < 800; ++i) EXPECT_NEAR(y[i], gain * x[i], 2e-3) << "freq " << freq << " sample " << i;
  }
}

TEST(Filtfilt, KeepsConstantsAndRamps) {
  IirFilter f = butter_lowpass(3, 20.0, 50.0);
  std::vector<double> c(50, -0.3), r(300);
  for (size_t i = 0; i < r.size(); ++i) r[i] = 0.01 * static_cast<double>(i);
  for (double v : filtfilt(f, c)) EXPECT_NEAR(v, -0.3, 1e-9);
  // A zero-phase filter with unit DC gain passes a ramp unchanged; only the first and last ~15 samples
  // carry the start-up transient (the initial state assumes a constant, not a ramp).
  std::vector<double> y = filtfilt(f, r);
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_NEAR(y[i], r[i], i < 15 || i + 15 >= r.size() ? 5e-5 : 1e-6) << "sample " << i;
  }
}

TEST(MedianFilter, RemovesSpikesAndKeepsEnds) {
  std::vector<double> x = {5, 1, 2, 100, 3, 4, -50, 5, 9};
  std::vector<double> y = median_filter(x, 3);
  std::vector<double> expected = {5, 2, 2, 3, 4, 3, 4, 5, 9};
  EXPECT_EQ(y, expected);
  EXPECT_THROW(median_filter(x, 2), std::invalid_argument);
}

}  // namespace
}  // namespace snare::data
