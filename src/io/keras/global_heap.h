// A quick guard for HDF5 1.10 (Debian 12's) against damaged global heaps, where variable-length strings (every
// Keras config and name list) live: a collection whose free-space entry has size 0, or that claims to run past the
// end of an in-memory file (which reads as zeros), makes HDF5's heap reader loop forever. This walks every
// collection ("GCOL") as HDF5 will, on the file's bytes, before HDF5 reads any. (What this does not catch: a string
// whose heap ID names an object its collection lacks makes HDF5 1.10 read an uninitialised entry; docs/hardening.md.)
//
//   if (std::string p = h5::global_heap_problem(bytes); !p.empty()) throw ModelError(label + ": " + p);
#pragma once

#include <string>

namespace snare::io::keras::h5 {

/// "" when every global heap collection in `bytes` can be walked to its end; else what is wrong and at which byte.
std::string global_heap_problem(const std::string& bytes);
/// The same for the file at `path`; "" when it cannot be read (HDF5 will say so).
std::string global_heap_problem_in_file(const std::string& path);

}  // namespace snare::io::keras::h5
