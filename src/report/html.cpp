// render_html: the report page. Tables are rendered here (readable without JavaScript, printable,
// testable); the plots are drawn in the browser by Chart.js from the report JSON embedded in the page.
#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "report/chartjs.h"
#include "report/report.h"

namespace snare::report {
namespace {

using nlohmann::json;

constexpr const char* kMissing = "—";

// ---- reading the data: every accessor tolerates absent, null and mistyped fields ----

/// The value at `key` when `obj` is an object holding a non-null value there, else nullptr.
const json* field(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const json* v) {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  double d = v->get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<double> number(const json& obj, std::string_view key) { return number(field(obj, key)); }

/// The object at `key`, or an empty object when absent or not an object.
const json& object_or_empty(const json& obj, std::string_view key) {
  static const json empty = json::object();
  const json* v = field(obj, key);
  return v != nullptr && v->is_object() ? *v : empty;
}

const json& array_or_empty(const json& obj, std::string_view key) {
  static const json empty = json::array();
  const json* v = field(obj, key);
  return v != nullptr && v->is_array() ? *v : empty;
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

/// Plain text for any value: strings as they are, numbers compactly, the rest as JSON.
std::string plain(const json* v) {
  if (v == nullptr) return kMissing;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_boolean()) return v->get<bool>() ? "yes" : "no";
  if (v->is_number_integer() || v->is_number_unsigned()) return dump(*v);
  if (auto d = number(v)) return fmt::format("{:.6g}", *d);
  return dump(*v);
}

std::string plain(const json& obj, std::string_view key) { return plain(field(obj, key)); }

/// 61706 -> "61,706"; non-numbers as plain text.
std::string count(const json* v) {
  auto d = number(v);
  if (!d) return plain(v);
  long long n = std::llround(*d);
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string count(const json& obj, std::string_view key) { return count(field(obj, key)); }

/// An accuracy fraction as a percentage: 0.9891 -> "98.91 %".
std::string percent(const json* v) {
  auto d = number(v);
  return d ? fmt::format("{:.2f} %", *d * 100.0) : plain(v);
}

std::string percent(const json& obj, std::string_view key) { return percent(field(obj, key)); }

std::string seconds(const json* v) {
  auto d = number(v);
  if (!d) return plain(v);
  if (*d < 120) return fmt::format("{:.1f} s", *d);
  if (*d < 7200) return fmt::format("{:.1f} min", *d / 60);
  return fmt::format("{:.2f} h", *d / 3600);
}

std::string td(std::string_view text, std::string_view cls = "") {
  return cls.empty() ? fmt::format("<td>{}</td>", escape(text))
                     : fmt::format("<td class=\"{}\">{}</td>", cls, escape(text));
}

/// Report JSON as the content of a <script type="application/json">. Every '<' is written as the
/// JSON escape \u003c, so neither "</script" nor "<!--" can appear and end or confuse the element;
/// JSON.parse gives back the same strings.
std::string json_for_script(const json& report) {
  std::string s = dump(report);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

// ---- sections ----

std::string header_section(const json& r) {
  const json& model = object_or_empty(r, "model");
  std::string name = field(model, "name") ? plain(model, "name") : "model";
  std::string created = plain(r, "created");
  std::string date = created.size() >= 10 && created != kMissing ? created.substr(0, 10) : created;

  const json& steps = array_or_empty(r, "steps");
  size_t accepted = 0;
  for (const json& s : steps) accepted += field(s, "accepted") && s["accepted"] == true ? 1 : 0;

  std::string out = fmt::format("<header>\n<h1>snare report: {}</h1>\n<p class=\"date\">{}</p>\n<dl class=\"facts\">\n",
                                escape(name), escape(date));
  auto fact = [&](std::string_view label, const std::string& value) {
    out += fmt::format("<div><dt>{}</dt><dd>{}</dd></div>\n", label, escape(value));
  };
  fact("input", plain(model, "input"));
  fact("output", plain(model, "output"));
  fact("data", plain(r, "data"));
  fact("seed", plain(r, "seed"));
  fact("steps", fmt::format("{} accepted of {}", accepted, steps.size()));
  fact("stopped because", plain(r, "stop_reason"));
  fact("wall time", seconds(field(r, "wall_seconds")));
  fact("created", created);
  out += "</dl>\n</header>\n";
  return out;
}

std::string summary_section(const json& r) {
  const json& base = object_or_empty(r, "baseline");
  const json& fin = object_or_empty(r, "final");
  std::string out =
      "<section id=\"summary\">\n<h2>Baseline and final model</h2>\n<table class=\"summary\">\n"
      "<thead><tr><th></th><th>baseline</th><th>final</th><th>change</th></tr></thead>\n<tbody>\n";
  auto size_row = [&](std::string_view label, std::string_view key) {
    auto b = number(base, key);
    auto f = number(fin, key);
    std::string change = kMissing;
    if (b && f && *f > 0) change = fmt::format("{:.1f}× smaller", *b / *f);
    out += fmt::format("<tr><th>{}</th>{}{}{}</tr>\n", label, td(count(base, key), "num"), td(count(fin, key), "num"),
                       td(change, "num strong"));
  };
  auto accuracy_row = [&](std::string_view label, std::string_view key) {
    auto b = number(base, key);
    auto f = number(fin, key);
    std::string change = kMissing;
    if (b && f) {
      double points = (*f - *b) * 100.0;
      change = fmt::format("{}{:.2f} points", points < 0 ? "−" : "+", std::fabs(points));
    }
    out += fmt::format("<tr><th>{}</th>{}{}{}</tr>\n", label, td(percent(base, key), "num"),
                       td(percent(fin, key), "num"), td(change, "num strong"));
  };
  size_row("parameters", "params");
  size_row("non-zero parameters", "nonzero_params");
  size_row("MACs", "macs");
  accuracy_row("validation accuracy", "val_accuracy");
  if (number(base, "confirm_accuracy")) accuracy_row("confirmation accuracy", "confirm_accuracy");
  accuracy_row("test accuracy", "test_accuracy");
  out += "</tbody>\n</table>\n";
  // What --max-loss promised, in the run's own sentence, and whether the result walked back to meet it.
  const json& tol = object_or_empty(r, "tolerance");
  if (field(tol, "meaning")) {
    out += fmt::format("<p class=\"note\" id=\"tolerance\">{}", escape(plain(tol, "meaning")));
    if (field(tol, "walked_back") && tol["walked_back"] == true) {
      out += escape(fmt::format(" The last accepted model (step {}) missed the tolerance there, so the result is the "
                                "model of step {}, the last one that holds it.",
                                plain(tol, "last_accepted_step"), plain(tol, "returned_step")));
    }
    out += "</p>\n";
  }
  // Whether the test difference is more than chance: the samples only one of the two models gets right.
  const json& cmp = object_or_empty(r, "test_comparison");
  auto only_base = number(cmp, "baseline_only_correct"), only_final = number(cmp, "final_only_correct");
  auto p = number(cmp, "mcnemar_p");
  if (only_base && only_final && p) {
    out += fmt::format(
        "<p class=\"note\" id=\"test-comparison\">Test samples only the baseline gets right: {:.0f}; only the "
        "final model: {:.0f}. Exact McNemar test: p = {:.3g} ({}).</p>\n",
        *only_base, *only_final, *p, *p < 0.05 ? "the difference is unlikely to be chance" : "within chance");
  }
  out += "</section>\n";
  return out;
}

std::string charts_section() {
  return R"html(<section id="plots">
<h2>Reduction over the steps</h2>
<p class="note">Non-zero parameters (left axis, log scale) and validation accuracy (right axis) of the current
model after each step; filled points are accepted steps, red crosses the trial values of rejected steps.</p>
<div class="chart wide" data-state="pending"><canvas id="chart-steps" role="img" aria-label="parameters and validation accuracy over the steps"></canvas></div>
</section>
<section class="pair">
<div>
<h2>Units per layer</h2>
<div class="chart" data-state="pending"><canvas id="chart-layers" role="img" aria-label="units per layer, baseline and final"></canvas></div>
</div>
<div>
<h2>Size / accuracy front</h2>
<div class="chart" data-state="pending"><canvas id="chart-front" role="img" aria-label="non-zero parameters against validation accuracy"></canvas></div>
</div>
</section>
)html";
}

std::string layers_section(const json& r) {
  const json& base_layers = array_or_empty(object_or_empty(r, "baseline"), "layers");
  const json& fin_layers = array_or_empty(object_or_empty(r, "final"), "layers");
  // Baseline order, then layers only the final model has; matched by name.
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const json* layers : {&base_layers, &fin_layers}) {
    for (const json& l : *layers) {
      std::string name = plain(l, "name");
      if (seen.insert(name).second) names.push_back(name);
    }
  }
  auto find = [](const json& layers, const std::string& name) -> const json& {
    static const json none = json::object();
    for (const json& l : layers) {
      if (plain(l, "name") == name) return l;
    }
    return none;
  };

  std::string out =
      "<section id=\"layers\">\n<h2>Layers</h2>\n<table class=\"layers\">\n<thead><tr><th>layer</th><th>kind</th>"
      "<th>units<br>baseline</th><th>units<br>final</th><th>params<br>baseline</th><th>params<br>final</th>"
      "<th>non-zero<br>final</th><th>MACs<br>baseline</th><th>MACs<br>final</th></tr></thead>\n<tbody>\n";
  if (names.empty()) out += "<tr><td colspan=\"9\" class=\"empty\">no layer data</td></tr>\n";
  for (const std::string& name : names) {
    const json& b = find(base_layers, name);
    const json& f = find(fin_layers, name);
    std::string kind = field(b, "kind") ? plain(b, "kind") : plain(f, "kind");
    out += fmt::format("<tr>{}{}{}{}{}{}{}{}{}</tr>\n", td(name), td(kind), td(count(b, "units"), "num"),
                       td(count(f, "units"), "num"), td(count(b, "params"), "num"), td(count(f, "params"), "num"),
                       td(count(f, "nonzero_params"), "num"), td(count(b, "macs"), "num"),
                       td(count(f, "macs"), "num"));
  }
  out += "</tbody>\n</table>\n</section>\n";
  return out;
}

std::string scores_details(const json& step) {
  const json& scores = array_or_empty(step, "scores");
  if (scores.empty()) return "";
  std::string out = fmt::format(
      "<details><summary>scores of {} candidates</summary><table class=\"scores\"><thead><tr><th>target</th>"
      "<th>op</th><th>score</th><th>param share</th><th>MAC share</th><th>sensitivity</th><th>failures</th>"
      "</tr></thead><tbody>",
      scores.size());
  auto share = [](const json& s, std::string_view key) {
    auto d = number(s, key);
    return d ? fmt::format("{:.1f} %", *d * 100.0) : plain(s, key);
  };
  // A candidate left unprobed (its score could not beat the pick's) has a bound instead of a score.
  auto score_of = [](const json& s) {
    auto bound = number(s, "score_bound");
    return bound ? fmt::format("≤ {:.6g}, not probed", *bound) : plain(s, "score");
  };
  auto sensitivity_of = [](const json& s) {
    return number(s, "score_bound") ? std::string("not probed") : plain(s, "sensitivity");
  };
  for (const json& s : scores) {
    out += fmt::format("<tr>{}{}{}{}{}{}{}</tr>", td(plain(s, "target")), td(plain(s, "op")),
                       td(score_of(s), "num"), td(share(s, "param_share"), "num"),
                       td(share(s, "mac_share"), "num"), td(sensitivity_of(s), "num"),
                       td(plain(s, "failures"), "num"));
  }
  out += "</tbody></table></details>";
  return out;
}

std::string steps_section(const json& r) {
  const json& steps = array_or_empty(r, "steps");
  std::string out =
      "<section id=\"steps\">\n<h2>Steps</h2>\n<table class=\"steps\">\n<thead><tr><th>step</th><th>op</th><th>target</th>"
      "<th>plan</th><th>params</th><th>non-zero</th><th>MACs</th><th>val acc</th><th>time</th><th>accepted</th>"
      "<th>reason</th></tr></thead>\n<tbody>\n";
  if (steps.empty()) out += "<tr><td colspan=\"11\" class=\"empty\">no steps were taken</td></tr>\n";
  for (const json& s : steps) {
    const json* accepted = field(s, "accepted");
    bool is_accepted = accepted != nullptr && *accepted == true;
    std::string verdict = accepted == nullptr ? kMissing : is_accepted ? "✓ yes" : "✗ no";
    out += fmt::format("<tr class=\"{}\">{}{}{}<td class=\"plan\">{}{}</td>{}{}{}{}{}{}{}</tr>\n",
                       accepted == nullptr ? "unknown" : is_accepted ? "accepted" : "rejected", td(plain(s, "step"), "num"), td(plain(s, "op")),
                       td(plain(s, "target")), escape(plain(s, "plan")), scores_details(s),
                       td(count(s, "params"), "num"), td(count(s, "nonzero_params"), "num"),
                       td(count(s, "macs"), "num"), td(percent(s, "val_accuracy"), "num"),
                       td(seconds(field(s, "seconds")), "num"), td(verdict, "verdict"), td(plain(s, "reason")));
  }
  out += "</tbody>\n</table>\n</section>\n";
  return out;
}

std::string key_value_table(const json* obj) {
  if (obj == nullptr || !obj->is_object() || obj->empty()) return "<p class=\"empty\">none recorded</p>\n";
  std::string out = "<table class=\"kv\"><tbody>\n";
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    // null: an option left unset.
    out += fmt::format("<tr><th>{}</th>{}</tr>\n", escape(it.key()),
                       td(it.value().is_null() ? "not set" : plain(&it.value())));
  }
  out += "</tbody></table>\n";
  return out;
}

/// Where the run's time went (report.json "timing", seconds per phase), in the order a run meets them, each with
/// its share of the wall time.
std::string timing_table(const json& r) {
  const json* timing = field(r, "timing");
  if (timing == nullptr || !timing->is_object()) return "";
  static const std::vector<std::pair<const char*, const char*>> kPhases = {
      {"loading", "loading model and data"},
      {"baseline_training", "training the baseline"},
      {"probing", "scoring candidates (probes)"},
      {"retraining", "retraining after steps"},
      {"validation", "validation and confirmation"},
      {"rolled_back", "of which in rolled-back steps"},
      {"checkpoints", "checkpoints"},
      {"finetuning", "fine-tuning (consolidations, final)"},
      {"final_evaluation", "final evaluation (test)"},
      {"output", "writing the outputs"}};
  const std::optional<double> wall = number(field(r, "wall_seconds"));
  std::string out = "<h2>Where the time went</h2>\n<table class=\"kv timing\"><tbody>\n";
  for (const auto& [key, label] : kPhases) {
    const json* v = field(*timing, key);
    if (v == nullptr) continue;
    const std::optional<double> s = number(v);
    std::string share = s && wall && *wall > 0 ? fmt::format(" ({:.0f} %)", 100.0 * *s / *wall) : "";
    out += fmt::format("<tr><th>{}</th>{}</tr>\n", escape(label), td(seconds(v) + share));
  }
  out += "</tbody></table>\n";
  return out;
}

std::string run_section(const json& r) {
  std::string out = "<section id=\"run\" class=\"run\">\n<div>\n<h2>Options</h2>\n";
  out += key_value_table(field(r, "options"));
  out += "</div>\n<div>\n<h2>Versions and machine</h2>\n";
  json versions = object_or_empty(r, "versions");
  if (!versions.contains("snare") && field(r, "snare_version")) versions["snare"] = r["snare_version"];
  if (field(r, "machine")) versions["machine"] = r["machine"];
  out += key_value_table(&versions);
  out += timing_table(r);
  out += "</div>\n</section>\n";
  return out;
}

constexpr const char* kStyle = R"css(
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px 32px 48px; background: #fff; color: #1b1f24;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 26px; margin: 0; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d6dbe1; padding-bottom: 4px; }
header .date { margin: 2px 0 12px; color: #4a5361; font-size: 15px; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 4px 24px; margin: 0; }
dl.facts div { display: flex; gap: 8px; }
dl.facts dt { color: #4a5361; min-width: 110px; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e7ec; text-align: left; vertical-align: top; }
thead th { background: #f3f5f8; font-weight: 600; border-bottom: 1px solid #c9d0d8; }
td.num { text-align: right; white-space: nowrap; }
td.strong { font-weight: 600; }
td.empty, p.empty { color: #6b7380; font-style: italic; }
table.summary th[scope], table.summary tbody th { font-weight: 500; }
table.steps { width: 100%; font-size: 13px; }
table.steps td.plan { min-width: 220px; }
table.steps tr.rejected td { color: #5d6570; background: #fbf3f2; }
table.steps tr.rejected td.verdict { color: #a5281b; }
table.steps tr.accepted td.verdict { color: #1d7a46; }
td.verdict { white-space: nowrap; }
details summary { cursor: pointer; color: #2a5d9f; font-size: 12px; }
table.scores { margin: 4px 0; font-size: 12px; }
table.scores th, table.scores td { padding: 2px 6px; }
table.kv th { font-weight: 500; color: #4a5361; }
table.kv td { overflow-wrap: anywhere; }
.note { color: #4a5361; margin: 0 0 8px; }
.chart { position: relative; height: 340px; }
.chart.wide { height: 380px; }
.chart-message { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  color: #6b7380; font-style: italic; border: 1px dashed #c9d0d8; }
section.pair, section.run { display: grid; grid-template-columns: 1fr 1fr; gap: 0 32px; }
#script-error { display: none; margin: 16px 0; padding: 8px 12px; border: 1px solid #d9a19a; background: #fbeceb; color: #7a1f14; }
footer { margin-top: 32px; color: #6b7380; font-size: 12px; }
@media (max-width: 900px) { section.pair, section.run { grid-template-columns: 1fr; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  section.pair, section.run { grid-template-columns: 1fr; }
  .chart, table, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  details { display: none; }
}
)css";

// Draws the three plots from the embedded data. Defensive like the C++ side: any field may be missing.
// Each chart container ends with data-state "drawn" or "empty"; <body data-charts="done"> marks that
// the script ran to its end (bench/report_screenshot checks both).
constexpr const char* kScript = R"js(
(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('snare-report-data').textContent);
  function obj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}; }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
  function str(v) { return v === undefined || v === null ? '' : String(v); }
  function count(v) { return v === null ? '\u2014' : Math.round(v).toLocaleString('en-US'); }
  function pct(v) { return v === null ? '\u2014' : v.toFixed(2) + ' %'; }

  var baseline = obj(report.baseline), fin = obj(report.final), options = obj(report.options);
  var steps = arr(report.steps).filter(function (s) { return s !== null && typeof s === 'object'; });
  var colors = { params: '#1f5fa8', accuracy: '#c8661a', rejected: '#c0392b', baseline: '#444b55',
                 final: '#1d7a46', floor: '#8a929c', faint: '#b9c0c8' };

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.color = '#1b1f24';
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.plugins.legend.labels.usePointStyle = true;
  Chart.defaults.datasets.line.clip = false;     // points on the last step stay whole
  Chart.defaults.datasets.scatter.clip = false;

  function logOrLinear(values) {
    var v = values.filter(function (x) { return x !== null && x > 0; });
    if (v.length === 0) return 'linear';
    return Math.max.apply(null, v) / Math.min.apply(null, v) > 20 ? 'logarithmic' : 'linear';
  }
  // Log axes label only 1, 2 and 5 times a power of ten; other ticks keep their grid line.
  function logTick(scale) {
    return function (v) {
      if (scale.type !== 'logarithmic') return count(v);
      var m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
      return [1, 2, 5].some(function (k) { return Math.abs(m - k) < 1e-6; }) ? count(v) : '';
    };
  }
  // Percent ticks with as many decimals as their spacing needs.
  function accTick(v, i, ticks) {
    var step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 1;
    return v.toFixed(step >= 0.95 ? 0 : step >= 0.095 ? 1 : 2);
  }
  function stepX(s, i) { return num(s.step) !== null ? s.step : i + 1; }
  function describe(s) {
    var lines = [];
    if (!s) return lines;
    lines.push('step ' + str(s.step) + ': ' + str(s.op) + ' ' + str(s.target));
    if (s.plan) lines.push(str(s.plan));
    if (s.reason) lines.push(str(s.reason));
    return lines;
  }

  // 1: non-zero parameters and validation accuracy of the current model, step by step.
  function stepsChart() {
    var params = [], acc = [], rejParams = [], rejAcc = [];
    var curP = num(baseline.nonzero_params), curA = num(baseline.val_accuracy);
    if (curP !== null) params.push({ x: 0, y: curP, kind: 'baseline' });
    if (curA !== null) acc.push({ x: 0, y: 100 * curA, kind: 'baseline' });
    steps.forEach(function (s, i) {
      var x = stepX(s, i), p = num(s.nonzero_params), a = num(s.val_accuracy);
      if (s.accepted === true) {
        if (p !== null) curP = p;
        if (a !== null) curA = a;
      } else {
        if (p !== null) rejParams.push({ x: x, y: p, step: s });
        if (a !== null) rejAcc.push({ x: x, y: 100 * a, step: s });
      }
      var kind = s.accepted === true ? 'accepted' : 'kept';
      if (curP !== null) params.push({ x: x, y: curP, kind: kind, step: s });
      if (curA !== null) acc.push({ x: x, y: 100 * curA, kind: kind, step: s });
    });
    if (params.length + acc.length === 0) return null;
    var radius = function (ctx) { return ctx.raw && ctx.raw.kind === 'kept' ? 0 : 3; };
    var datasets = [
      { label: 'non-zero parameters', data: params, yAxisID: 'params', borderColor: colors.params,
        backgroundColor: colors.params, stepped: 'before', pointRadius: radius, borderWidth: 2 },
      { label: 'validation accuracy', data: acc, yAxisID: 'accuracy', borderColor: colors.accuracy,
        backgroundColor: colors.accuracy, stepped: 'before', pointRadius: radius, borderWidth: 2 },
      { label: 'rejected: parameters', type: 'scatter', data: rejParams, yAxisID: 'params',
        borderColor: colors.rejected, backgroundColor: colors.rejected, pointStyle: 'crossRot', pointRadius: 5,
        borderWidth: 1.5 },
      { label: 'rejected: accuracy', type: 'scatter', data: rejAcc, yAxisID: 'accuracy',
        borderColor: colors.rejected, backgroundColor: colors.rejected, pointStyle: 'cross', pointRadius: 5,
        borderWidth: 1.5 }
    ];
    var lastX = Math.max(1, steps.length ? stepX(steps[steps.length - 1], steps.length - 1) : 1);
    // The threshold steps had to keep (baseline - max_loss + margin); older reports: baseline - max_loss.
    var maxLoss = num(options.max_loss), baseAcc = num(baseline.val_accuracy), threshold = num(report.accept_threshold);
    if (threshold !== null || (maxLoss !== null && baseAcc !== null)) {
      var floor = threshold !== null ? 100 * threshold : 100 * baseAcc - maxLoss;
      var floorLabel = threshold !== null ? 'acceptance threshold (baseline \u2212 max_loss + margin)'
                                          : 'accuracy floor (baseline \u2212 max_loss)';
      datasets.push({ label: floorLabel, data: [{ x: 0, y: floor }, { x: lastX, y: floor }],
        yAxisID: 'accuracy', borderColor: colors.floor, borderDash: [6, 4], borderWidth: 1, pointRadius: 0,
        pointStyle: 'line' });
    }
    var paramsScale = { type: logOrLinear(params.map(function (d) { return d.y; }).concat(rejParams.map(function (d) { return d.y; }))) };
    return {
      type: 'line',
      data: { datasets: datasets },
      options: {
        parsing: true,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'linear', min: 0, max: lastX, title: { display: true, text: 'step' }, ticks: { precision: 0 } },
          params: { type: paramsScale.type, position: 'left', title: { display: true, text: 'non-zero parameters' },
                    ticks: { autoSkip: false, callback: logTick(paramsScale) } },
          accuracy: { type: 'linear', position: 'right', title: { display: true, text: 'validation accuracy (%)' },
                      grid: { drawOnChartArea: false }, ticks: { callback: accTick } }
        },
        plugins: {
          tooltip: { callbacks: {
            label: function (ctx) {
              var isAcc = ctx.dataset.yAxisID === 'accuracy';
              return ctx.dataset.label + ': ' + (isAcc ? pct(ctx.parsed.y) : count(ctx.parsed.y));
            },
            afterLabel: function (ctx) { return describe(ctx.raw && ctx.raw.step); }
          } }
        }
      }
    };
  }

  // 2: units per layer, baseline and final, matched by layer name.
  function layersChart() {
    var base = arr(baseline.layers).map(obj), final = arr(fin.layers).map(obj);
    var names = [];
    base.concat(final).forEach(function (l) {
      var n = str(l.name);
      if (names.indexOf(n) < 0) names.push(n);
    });
    if (names.length === 0) return null;
    function units(layers) {
      return names.map(function (n) {
        var l = layers.filter(function (x) { return str(x.name) === n; })[0];
        return l ? num(l.units) : null;
      });
    }
    return {
      type: 'bar',
      data: { labels: names, datasets: [
        { label: 'baseline', data: units(base), backgroundColor: '#9fb7d6', borderColor: colors.params, borderWidth: 1 },
        { label: 'final', data: units(final), backgroundColor: colors.params }
      ] },
      options: {
        scales: { y: { beginAtZero: true, title: { display: true, text: 'units (filters, neurons)' } },
                  x: { ticks: { autoSkip: false, maxRotation: 60 } } },
        plugins: { legend: { labels: { usePointStyle: false } } }
      }
    };
  }

  // 3: every accepted step as a point of the size/accuracy front, with baseline and final.
  function frontChart() {
    var accepted = [], rejected = [];
    steps.forEach(function (s) {
      var p = num(s.nonzero_params), a = num(s.val_accuracy);
      if (p === null || a === null) return;
      (s.accepted === true ? accepted : rejected).push({ x: p, y: 100 * a, step: s });
    });
    function point(m) {
      var p = num(m.nonzero_params), a = num(m.val_accuracy);
      return p === null || a === null ? [] : [{ x: p, y: 100 * a }];
    }
    var base = point(baseline), final = point(fin);
    if (accepted.length + rejected.length + base.length + final.length === 0) return null;
    var xScale = { type: logOrLinear(accepted.concat(rejected, base, final).map(function (d) { return d.x; })) };
    return {
      type: 'scatter',
      data: { datasets: [
        { label: 'accepted steps', data: accepted, backgroundColor: colors.params, borderColor: colors.params, pointRadius: 4 },
        { label: 'rejected trials', data: rejected, backgroundColor: colors.faint, borderColor: colors.faint,
          pointStyle: 'crossRot', pointRadius: 4, borderWidth: 1.5 },
        { label: 'baseline', data: base, backgroundColor: colors.baseline, borderColor: colors.baseline,
          pointStyle: 'rect', pointRadius: 6 },
        { label: 'final', data: final, backgroundColor: colors.final, borderColor: colors.final,
          pointStyle: 'triangle', pointRadius: 7 }
      ] },
      options: {
        scales: {
          x: { type: xScale.type, title: { display: true, text: 'non-zero parameters' },
               ticks: { autoSkip: false, maxRotation: 0, callback: logTick(xScale) } },
          y: { title: { display: true, text: 'validation accuracy (%)' }, ticks: { callback: accTick } }
        },
        plugins: { tooltip: { callbacks: {
          label: function (ctx) { return ctx.dataset.label + ': ' + count(ctx.parsed.x) + ' non-zero, ' + pct(ctx.parsed.y); },
          afterLabel: function (ctx) { return describe(ctx.raw && ctx.raw.step); }
        } } }
      }
    };
  }

  var charts = [];
  function draw(id, build, emptyText) {
    var canvas = document.getElementById(id);
    var box = canvas.parentNode;
    var config = build();
    if (config === null) {
      var message = document.createElement('div');
      message.className = 'chart-message';
      message.textContent = emptyText;
      box.appendChild(message);
      box.setAttribute('data-state', 'empty');
      return;
    }
    charts.push(new Chart(canvas, config));
    box.setAttribute('data-state', 'drawn');
  }
  draw('chart-steps', stepsChart, 'no parameter or accuracy data');
  draw('chart-layers', layersChart, 'no layer data');
  draw('chart-front', frontChart, 'no accepted steps');
  // Charts keep the screen size when printing unless told to resize.
  window.addEventListener('beforeprint', function () { charts.forEach(function (c) { c.resize(); }); });
  window.addEventListener('afterprint', function () { charts.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute('data-charts', 'done');
})();
)js";

// Installed before the libraries: shows script errors on the page too (they still reach the console).
constexpr const char* kErrorScript = R"js(
window.addEventListener('error', function (e) {
  var box = document.getElementById('script-error');
  box.style.display = 'block';
  box.textContent = 'The plots could not be drawn: ' + e.message;
});
)js";

}  // namespace

std::string render_html(const json& r) {
  if (!r.is_object()) {
    throw InternalError("report: the report data must be a JSON object, got " + std::string(r.type_name()));
  }
  const json& model = object_or_empty(r, "model");
  std::string name = field(model, "name") ? plain(model, "name") : "model";
  std::string created = plain(r, "created");
  std::string title = created == kMissing ? name : fmt::format("{} ({})", name, created.substr(0, 10));

  std::string out;
  out.reserve(chartjs_source().size() + 64 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += fmt::format("<title>snare report: {}</title>\n", escape(title));
  out += fmt::format("<style>{}</style>\n", kStyle);
  out += fmt::format("<script>{}</script>\n</head>\n<body>\n", kErrorScript);
  out += header_section(r);
  out += "<div id=\"script-error\" role=\"alert\"></div>\n";
  out += "<noscript><p class=\"empty\">The plots need JavaScript; the tables below have all the numbers.</p></noscript>\n";
  out += summary_section(r);
  out += charts_section();
  out += layers_section(r);
  out += steps_section(r);
  out += run_section(r);
  out += fmt::format("<footer>Written by snare {}; plots drawn with Chart.js {} (MIT license), embedded.</footer>\n",
                     escape(plain(r, "snare_version")), chartjs_version());
  out += "<script type=\"application/json\" id=\"snare-report-data\">";
  out += json_for_script(r);
  out += "</script>\n<script>\n";
  out += chartjs_source();
  out += "\n</script>\n<script>";
  out += kScript;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace snare::report
