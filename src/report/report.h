// report: turns the data of one `snare reduce` run (a JSON document whose schema is in
// docs/report.md) into the files a user reads: report.json and a self-contained report.html.
//
// The page needs no network and no files beside it: CSS, the run's data and the Chart.js library
// (embedded into snare at build time) are all inline, so it opens from file:// and prints. It shows a
// baseline-vs-final summary, three plots (non-zero parameters and validation accuracy over the steps;
// units per layer before/after; the accepted steps as a size/accuracy front), the per-layer and per-step
// tables, and the options, versions and machine.
//
// Every field is optional as far as rendering goes: a missing or mistyped field shows as "—", a run
// with no steps renders its empty plots and tables. Text from the data is escaped, so no field value
// can end the embedding <script> or inject markup.
//
// The module does not compute anything about the run; the search module builds the JSON.
//
//   nlohmann::json r = search_result.report();   // schema: docs/report.md
//   snare::report::write_report(r, "out/report");  // out/report/report.json, out/report/report.html
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace snare::report {

/// The complete HTML page for `report`. Throws InternalError when `report` is not a JSON object
/// (the search module always produces one); any other shape renders.
std::string render_html(const nlohmann::json& report);

/// Writes `dir/report.html` and `dir/report.json` (2-space indent), each atomically, creating `dir`
/// (and its parents) when missing. The page is rendered before anything is written, and when
/// report.json cannot be written the report.html this call wrote is removed again, so a failure never
/// leaves a page beside data it does not show. Throws OutputError naming the path that could not be
/// created or written.
void write_report(const nlohmann::json& report, const std::string& dir);

}  // namespace snare::report
