#include "data/filters.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <stdexcept>
#include <string>

namespace snare::data {

namespace {

using Complex = std::complex<double>;

/// Coefficients of prod (1 - r z^-1), highest power of z^-1 last.
std::vector<Complex> poly(const std::vector<Complex>& roots) {
  std::vector<Complex> c{1.0};
  for (const Complex& r : roots) {
    c.push_back(0.0);
    for (size_t i = c.size() - 1; i > 0; --i) c[i] -= r * c[i - 1];
  }
  return c;
}

/// Solves A x = b (n x n, row-major) by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<double> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r) {
      if (std::abs(a[r * n + col]) > std::abs(a[pivot * n + col])) pivot = r;
    }
    if (a[pivot * n + col] == 0.0) throw std::invalid_argument("lfilter_zi: singular system (filter has a pole at z=1)");
    if (pivot != col) {
      for (size_t k = 0; k < n; ++k) std::swap(a[col * n + k], a[pivot * n + k]);
      std::swap(b[col], b[pivot]);
    }
    for (size_t r = col + 1; r < n; ++r) {
      double f = a[r * n + col] / a[col * n + col];
      for (size_t k = col; k < n; ++k) a[r * n + k] -= f * a[col * n + k];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[i * n + k] * x[k];
    x[i] = s / a[i * n + i];
  }
  return x;
}

/// Direct form II transposed with initial state `z` (size max(len a, len b) - 1), updated in place.
std::vector<double> run_df2t(const IirFilter& f, const std::vector<double>& x, std::vector<double> z) {
  const size_t n = std::max(f.a.size(), f.b.size());
  std::vector<double> a(f.a), b(f.b);
  a.resize(n, 0.0);
  b.resize(n, 0.0);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double yi = b[0] * x[i] + (n > 1 ? z[0] : 0.0);
    for (size_t k = 1; k + 1 < n; ++k) z[k - 1] = b[k] * x[i] + z[k] - a[k] * yi;
    if (n > 1) z[n - 2] = b[n - 1] * x[i] - a[n - 1] * yi;
    y[i] = yi;
  }
  return y;
}

}  // namespace

IirFilter butter_lowpass(int order, double cutoff_hz, double sample_rate_hz) {
  if (order < 1 || order > 8) throw std::invalid_argument("butter_lowpass: order must be 1..8, got " + std::to_string(order));
  if (!(cutoff_hz > 0.0) || !(cutoff_hz < sample_rate_hz / 2.0)) {
    throw std::invalid_argument("butter_lowpass: cutoff must lie in (0, sample_rate/2), got " + std::to_string(cutoff_hz) +
                                " Hz at " + std::to_string(sample_rate_hz) + " Hz");
  }
  // Pre-warp so the digital filter has its -3 dB point exactly at cutoff_hz after the bilinear map
  // s = 2 fs (z - 1) / (z + 1).
  const double fs2 = 2.0 * sample_rate_hz;
  const double wc = fs2 * std::tan(M_PI * cutoff_hz / sample_rate_hz);
  std::vector<Complex> poles, zeros;
  for (int k = 0; k < order; ++k) {
    Complex p = wc * std::exp(Complex(0.0, M_PI * (2.0 * k + order + 1) / (2.0 * order)));
    poles.push_back((fs2 + p) / (fs2 - p));
    zeros.push_back(-1.0);  // the analog zeros at infinity map to Nyquist
  }
  std::vector<Complex> ca = poly(poles), cb = poly(zeros);
  IirFilter f;
  double sum_a = 0.0, sum_b = 0.0;
  for (size_t i = 0; i < ca.size(); ++i) {
    f.a.push_back(ca[i].real());  // conjugate pole pairs: the imaginary parts cancel
    f.b.push_back(cb[i].real());
    sum_a += f.a.back();
    sum_b += f.b.back();
  }
  for (double& v : f.b) v *= sum_a / sum_b;  // unit gain at DC (z = 1)
  return f;
}

double magnitude_response(const IirFilter& f, double freq_hz, double sample_rate_hz) {
  const Complex zinv = std::exp(Complex(0.0, -2.0 * M_PI * freq_hz / sample_rate_hz));
  auto eval = [&](const std::vector<double>& c) {
    Complex s = 0.0, p = 1.0;
    for (double v : c) {
      s += v * p;
      p *= zinv;
    }
    return s;
  };
  return std::abs(eval(f.b) / eval(f.a));
}

std::vector<double> lfilter_zi(const IirFilter& f) {
  const size_t n = std::max(f.a.size(), f.b.size());
  if (n < 2) return {};
  std::vector<double> a(f.a), b(f.b);
  a.resize(n, 0.0);
  b.resize(n, 0.0);
  // (I - companion(a)^T) zi = b[1:] - a[1:] b[0]  (as scipy.signal.lfilter_zi)
  const size_t m = n - 1;
  std::vector<double> lhs(m * m, 0.0), rhs(m);
  for (size_t i = 0; i < m; ++i) {
    lhs[i * m + i] = 1.0;
    lhs[i * m + 0] += a[i + 1] / a[0];  // companion(a)^T first column is -a[1:]
    if (i + 1 < m) lhs[i * m + i + 1] -= 1.0;
    rhs[i] = b[i + 1] - a[i + 1] * b[0];
  }
  return solve(lhs, rhs);
}

std::vector<double> lfilter(const IirFilter& f, const std::vector<double>& x, bool steady_start) {
  std::vector<double> z(std::max(f.a.size(), f.b.size()) - 1, 0.0);
  if (steady_start && !x.empty()) {
    z = lfilter_zi(f);
    for (double& v : z) v *= x[0];
  }
  return run_df2t(f, x, z);
}

std::vector<double> filtfilt(const IirFilter& f, const std::vector<double>& x) {
  if (x.empty()) return {};
  const size_t n = x.size();
  const size_t padlen = std::min(3 * std::max(f.a.size(), f.b.size()), n - 1);
  // Odd extension about the end points keeps the signal and its slope continuous at the edges.
  std::vector<double> ext;
  ext.reserve(n + 2 * padlen);
  for (size_t i = padlen; i >= 1; --i) ext.push_back(2.0 * x[0] - x[i]);
  ext.insert(ext.end(), x.begin(), x.end());
  for (size_t i = 1; i <= padlen; ++i) ext.push_back(2.0 * x[n - 1] - x[n - 1 - i]);

  const std::vector<double> zi = lfilter_zi(f);
  auto scaled = [&](double s) {
    std::vector<double> z = zi;
    for (double& v : z) v *= s;
    return z;
  };
  std::vector<double> y = run_df2t(f, ext, scaled(ext.front()));
  std::reverse(y.begin(), y.end());
  y = run_df2t(f, y, scaled(y.front()));
  std::reverse(y.begin(), y.end());
  return std::vector<double>(y.begin() + static_cast<long>(padlen), y.begin() + static_cast<long>(padlen + n));
}

std::vector<double> median_filter(const std::vector<double>& x, int width) {
  if (width < 1 || width % 2 == 0) throw std::invalid_argument("median_filter: width must be odd, got " + std::to_string(width));
  const long n = static_cast<long>(x.size()), half = width / 2;
  std::vector<double> y(x.size()), buf;
  for (long i = 0; i < n; ++i) {
    long h = std::min({half, i, n - 1 - i});
    buf.assign(x.begin() + (i - h), x.begin() + (i + h + 1));
    std::nth_element(buf.begin(), buf.begin() + h, buf.end());
    y[static_cast<size_t>(i)] = buf[static_cast<size_t>(h)];
  }
  return y;
}

}  // namespace snare::data
