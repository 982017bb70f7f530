// IDX files (the MNIST format): big-endian magic 0x0000 08 NN (unsigned bytes, NN dims), dims, data.
// Plain or gzip-compressed (Fashion-MNIST ships .gz); zlib reads both transparently.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace snare::data {

/// Reads an IDX file of unsigned bytes as a uint8 tensor of its stored dims. `expected_rank` is 3 for
/// images, 1 for labels. Throws DataError naming the file: missing, wrong magic, truncated.
at::Tensor read_idx(const std::string& path, int expected_rank);

}  // namespace snare::data
