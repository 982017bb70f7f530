// Digital filters for the HAR pipeline: a running median, Butterworth low-pass design by the bilinear
// transform, and IIR filtering either causal (lfilter) or zero-phase (filtfilt), all on double vectors.
//
// The design reproduces scipy.signal.butter (analog prototype poles, pre-warped cutoff, bilinear
// transform, unit DC gain) and filtfilt reproduces scipy.signal.filtfilt's defaults (odd extension of
// 3 * max(len(a), len(b)) samples, steady-state initial conditions), so results can be compared with
// the Python tools users know. It does not do band-pass/high-pass design or second-order sections:
// the orders used here (3) are numerically safe as plain transfer functions.
//
//   data::IirFilter lp = data::butter_lowpass(3, 20.0, 50.0);
//   std::vector<double> y = data::filtfilt(lp, data::median_filter(x, 3));
#pragma once

#include <vector>

namespace snare::data {

/// Transfer function b(z)/a(z), coefficients of z^0, z^-1, ...; a[0] == 1.
struct IirFilter {
  std::vector<double> b, a;
};

/// Butterworth low-pass of `order` (1..8) with -3 dB at `cutoff_hz`, for signals sampled at
/// `sample_rate_hz`; cutoff must lie in (0, sample_rate/2). Throws std::invalid_argument otherwise.
IirFilter butter_lowpass(int order, double cutoff_hz, double sample_rate_hz);

/// |H(e^{jw})| at `freq_hz`.
double magnitude_response(const IirFilter& f, double freq_hz, double sample_rate_hz);

/// Initial state of lfilter for a unit step input in steady state (scipy.signal.lfilter_zi).
std::vector<double> lfilter_zi(const IirFilter& f);

/// Causal filtering (direct form II transposed). With `steady_start`, the state starts as if the
/// signal had been at x[0] forever (zi * x[0]), which avoids a start-up transient; otherwise at rest.
std::vector<double> lfilter(const IirFilter& f, const std::vector<double>& x, bool steady_start = false);

/// Zero-phase filtering: forward then backward, as scipy.signal.filtfilt with default padding
/// (shortened for signals of 3 * max(len(a), len(b)) samples or less). Squares the magnitude response.
std::vector<double> filtfilt(const IirFilter& f, const std::vector<double>& x);

/// Running median over `width` (odd) samples; at the ends the window shrinks symmetrically, so the
/// first and last samples are kept as they are.
std::vector<double> median_filter(const std::vector<double>& x, int width);

}  // namespace snare::data
