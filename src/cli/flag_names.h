// The library names options by their fields ("SearchOptions::max_loss_pp"); the command line by its flags
// ("--max-loss"). This is the one place that maps the first to the second, for every message the CLI prints.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace snare::cli {

/// Every library option field a flag sets, with that flag (or the positional argument, e.g. MODEL).
const std::vector<std::pair<std::string, std::string>>& field_flags();

/// The flag for `field`; "" when no flag sets it.
std::string flag_for_field(const std::string& field);

/// `message` with every field name in it replaced by its flag: "SearchOptions::max_loss_pp: must be >= 0" ->
/// "--max-loss: must be >= 0". Unknown fields stay as they are.
std::string in_flag_terms(std::string message);

}  // namespace snare::cli
