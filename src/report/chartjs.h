// The Chart.js library text the report page inlines. Defined in a .cpp generated at build time
// from node_modules/chart.js (embed_chartjs.cmake), already made safe to place inside <script>.
// Internal to the report module.
#pragma once

#include <string>
#include <string_view>

namespace snare::report {

/// Chart.js's UMD build, with every "</script" written as "<\/script" and no sourceMappingURL.
const std::string& chartjs_source();

/// The Chart.js version that was embedded, e.g. "4.6.1".
std::string_view chartjs_version();

}  // namespace snare::report
