// A guard for HDF5 1.10 (Debian 12's) against damaged global heap collections, where variable-length strings
// (every Keras config and name list) live. Its collection reader loops forever when a free-space entry has size 0,
// and a collection that claims to run past the end of an in-memory file reads zeros, which look exactly so. These
// checks walk each collection ("GCOL") the way HDF5 will, on the file's bytes, before HDF5 reads any.
//
//   if (std::string p = h5::global_heap_problem(bytes); !p.empty()) throw ModelError(label + ": " + p);
#pragma once

#include <string>

namespace snare::io::keras::h5 {

/// "" when every global heap collection in `bytes` can be walked to its end; else what is wrong and where.
std::string global_heap_problem(const std::string& bytes);
/// The same for the file at `path` (read in blocks, not whole); "" when it cannot be read (HDF5 will say so).
std::string global_heap_problem_in_file(const std::string& path);

}  // namespace snare::io::keras::h5
