// Bounds on what a model file may declare, checked before any arithmetic on it (a file can declare anything).
#pragma once

#include <cstdint>

namespace snare::ir {

/// The largest kernel size, stride, dilation, padding or upsampling factor accepted: 2^24, far beyond any real
/// network, small enough that d * (k - 1) + 1 and the sums of shape arithmetic cannot overflow.
constexpr int64_t kMaxWindowExtent = int64_t{1} << 24;

}  // namespace snare::ir
