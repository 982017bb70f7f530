// snare::search run identity: what a resumable run is bound to (the input model's content, the data, every option
// that shapes the run), recorded in its checkpoint and compared on resume, so that a resume never continues a run
// with another model, other data or other options than the ones that made the checkpoint.
//
//   nlohmann::json now = {{"--seed", 1}, {"input", snare::file_fingerprint(path)}};
//   std::vector<std::string> diff = search::identity_differences(recorded, now);  // {"--seed: 3 in the checkpoint, 1 now"}
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace snare::search {

/// One line per field of two identities (JSON objects of field -> value) whose values differ, in the order of
/// `now` and then the fields only `recorded` has: "FIELD: OLD in the checkpoint, NEW now" ("(none)" for a side that
/// lacks the field). Empty when they agree.
std::vector<std::string> identity_differences(const nlohmann::json& recorded, const nlohmann::json& now);

}  // namespace snare::search
