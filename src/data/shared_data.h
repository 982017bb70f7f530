// Where the read-only shared data files (../shared/data beside the repository) are looked for.
// Used by the loaders of data sets that ship there (har, wisdm); it only locates, never reads.
//
//   std::string p = data::find_shared_data("wisdm/WISDM_ar_v1.1_transformed.arff");
//   if (p.empty()) throw DataError("... looked in " + join(data::shared_data_candidates(rel)));
#pragma once

#include <string>
#include <vector>

namespace snare::data {

/// Candidate paths for `relative` (e.g. "hapt/hapt-v2.1-rawdata.tar.xz"), in search order:
/// $SNARE_SHARED/data/REL, $SNARE_SHARED/REL, ./../shared/data/REL, and REPO/../shared/data/REL where
/// REPO is the folder above data_root().
std::vector<std::string> shared_data_candidates(const std::string& relative);

/// The first candidate that is a regular file, or "" when none is.
std::string find_shared_data(const std::string& relative);

}  // namespace snare::data
