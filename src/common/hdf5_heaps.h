// A quick guard for HDF5 1.10 (Debian 12's) against damaged heaps, which make its readers loop for ever:
// - global heap collections ("GCOL"), where variable-length strings (every Keras config and name list) live: one
//   whose free-space entry has size 0, or that claims to run past the end of an in-memory file (which reads as zeros);
// - local heaps ("HEAP"), where an old-style group keeps its link names: a free list that leads back into itself
//   (HDF5 allocates a node per step until memory runs out).
// Both are walked as HDF5 will, on the file's bytes, before HDF5 reads any. Files with 8-byte offsets and lengths
// (HDF5's default; h5py's, Keras' and TensorFlow's) are checked; others are left to HDF5. (What this does not catch: a
// string whose heap ID names an object its collection lacks makes HDF5 1.10 read an uninitialised entry;
// docs/hardening.md.)
//
//   if (std::string p = hdf5_heap_problem(bytes); !p.empty()) throw ModelError(label + ": damaged HDF5 file: " + p);
#pragma once

#include <string>

namespace snare {

/// "" when every heap in `bytes` can be walked to its end; else what is wrong and at which byte.
std::string hdf5_heap_problem(const std::string& bytes);
/// The same for the file at `path`; "" when it cannot be read (HDF5 will say so).
std::string hdf5_heap_problem_in_file(const std::string& path);

}  // namespace snare
