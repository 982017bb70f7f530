#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"
#include "report/chartjs.h"
#include "report/report.h"
#include "report/sample.h"

namespace {

using nlohmann::json;
using snare::report::render_html;

const std::string kDataOpen = "<script type=\"application/json\" id=\"snare-report-data\">";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

/// The report JSON the page carries, parsed back.
json embedded_data(const std::string& html) {
  size_t begin = html.find(kDataOpen);
  EXPECT_NE(begin, std::string::npos);
  begin += kDataOpen.size();
  size_t end = html.find("</script>", begin);
  EXPECT_NE(end, std::string::npos);
  return json::parse(html.substr(begin, end - begin));
}

/// Every src= / href= / url( value that points outside the page (http:, https:, protocol-relative).
std::vector<std::string> external_references(const std::string& html) {
  std::string text = lower(html);
  std::vector<std::string> found;
  for (const std::string attr : {"src=", "href=", "url(", "@import"}) {
    for (size_t at = text.find(attr); at != std::string::npos; at = text.find(attr, at + 1)) {
      size_t v = at + attr.size();
      while (v < text.size() && (text[v] == '"' || text[v] == '\'' || text[v] == ' ')) ++v;
      std::string value = text.substr(v, 8);
      if (value.rfind("http:", 0) == 0 || value.rfind("https:", 0) == 0 || value.rfind("//", 0) == 0) {
        found.push_back(html.substr(at, 60));
      }
    }
  }
  return found;
}

/// The page's own four <script> elements, and nothing in the data able to open or close another.
void expect_script_elements_intact(const std::string& html) {
  std::string text = lower(html);
  EXPECT_EQ(occurrences(text, "<script"), 4u);
  EXPECT_EQ(occurrences(text, "</script"), 4u);
  EXPECT_EQ(occurrences(text, "<!--"), 0u);
}

TEST(RenderHtml, InlinesChartJs) {
  std::string html = render_html(snare::test::sample_report());
  ASSERT_GT(snare::report::chartjs_source().size(), 100000u);
  EXPECT_NE(html.find(snare::report::chartjs_source()), std::string::npos);
  EXPECT_NE(html.find("Chart.js v" + std::string(snare::report::chartjs_version())), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
}

TEST(RenderHtml, EmbedsTheReportDataUnchanged) {
  json report = snare::test::sample_report();
  EXPECT_EQ(embedded_data(render_html(report)), report);
}

TEST(RenderHtml, ReferencesNothingOutsideThePage) {
  std::string html = render_html(snare::test::sample_report());
  EXPECT_TRUE(external_references(html).empty()) << external_references(html).front();
  EXPECT_EQ(lower(html).find("<link"), std::string::npos);
  // The checker itself finds what it must find.
  EXPECT_EQ(external_references("<img src=\"https://x.org/a.png\"><a href='//cdn.net'>").size(), 2u);
}

TEST(RenderHtml, ShowsTitleSummaryAndSteps) {
  std::string html = render_html(snare::test::sample_report());
  EXPECT_NE(html.find("<title>snare report: lenet5 (2026-11-28)</title>"), std::string::npos);
  EXPECT_NE(html.find("61,706"), std::string::npos);
  EXPECT_NE(html.find("3,134"), std::string::npos);
  EXPECT_NE(html.find("19.7× smaller"), std::string::npos);   // 61706 / 3134 parameters
  EXPECT_NE(html.find("61.5× smaller"), std::string::npos);   // 61470 / 1000 non-zeros
  EXPECT_NE(html.find("98.90 %"), std::string::npos);         // baseline test accuracy
  EXPECT_EQ(occurrences(html, "−0.30 points"), 2u);           // validation and test
  EXPECT_NE(html.find("dense: keep 30 of 120 units"), std::string::npos);
  EXPECT_NE(html.find("scores of 1 candidates"), std::string::npos);
  EXPECT_NE(html.find("val accuracy 0.9500 &lt; 0.9861"), std::string::npos);
  EXPECT_NE(html.find("1 accepted of 2"), std::string::npos);
  EXPECT_NE(html.find("✗ no"), std::string::npos);
  EXPECT_NE(html.find("Test CPU, 2 cores, GPU: none"), std::string::npos);
  EXPECT_NE(html.find("<th>retrain_batches</th><td>200</td>"), std::string::npos);
  EXPECT_NE(html.find("only the baseline gets right: 60; only the final model: 30. Exact McNemar test: p = 0.0021 "
                      "(the difference is unlikely to be chance)"),
            std::string::npos);
  expect_script_elements_intact(html);
}

TEST(RenderHtml, ShowsConfirmationAndWhatTheToleranceMeans) {
  json report = snare::test::sample_report();
  std::string html = snare::report::render_html(report);
  EXPECT_NE(html.find("confirmation accuracy"), std::string::npos);
  EXPECT_NE(html.find("−0.25 points"), std::string::npos);
  EXPECT_NE(html.find("loses 0.30 points &lt;of&gt; the input model."), std::string::npos) << "escaped, on the page";
  EXPECT_NE(html.find("the result is the model of step 1"), std::string::npos);
  report["tolerance"]["walked_back"] = false;
  report["baseline"].erase("confirm_accuracy");
  html = snare::report::render_html(report);
  EXPECT_EQ(html.find("confirmation accuracy"), std::string::npos);
  EXPECT_EQ(html.find("the result is the model of step"), std::string::npos);
}

TEST(RenderHtml, TestComparisonWithinChanceOrAbsent) {
  json report = snare::test::sample_report();
  report["test_comparison"]["mcnemar_p"] = 0.7;
  EXPECT_NE(render_html(report).find("p = 0.7 (within chance)"), std::string::npos);
  report.erase("test_comparison");
  EXPECT_EQ(render_html(report).find("test-comparison"), std::string::npos);
}

TEST(RenderHtml, RunWithoutStepsRenders) {
  json report = snare::test::sample_report();
  report["steps"] = json::array();
  std::string html = render_html(report);
  EXPECT_NE(html.find("no steps were taken"), std::string::npos);
  EXPECT_NE(html.find("0 accepted of 0"), std::string::npos);
  EXPECT_EQ(embedded_data(html), report);
  expect_script_elements_intact(html);
}

TEST(RenderHtml, EmptyReportRenders) {
  std::string html = render_html(json::object());
  EXPECT_NE(html.find("<title>snare report: model</title>"), std::string::npos);
  EXPECT_NE(html.find("no layer data"), std::string::npos);
  EXPECT_NE(html.find("no steps were taken"), std::string::npos);
  EXPECT_NE(html.find("none recorded"), std::string::npos);
  expect_script_elements_intact(html);
}

TEST(RenderHtml, MissingAndMistypedFieldsRender) {
  json report = snare::test::sample_report();
  report.erase("options");
  report.erase("machine");
  report["final"].erase("test_accuracy");
  report["final"]["layers"] = "not a list";
  report["baseline"]["params"] = "many";
  report["baseline"]["macs"] = std::numeric_limits<double>::quiet_NaN();
  report["steps"].push_back(5);
  report["steps"].push_back({{"step", "three"}});
  report["steps"][0].erase("scores");
  report["model"] = "lenet5";
  std::string html = render_html(report);
  EXPECT_NE(html.find("<th>parameters</th><td class=\"num\">many</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>test accuracy</th><td class=\"num\">98.90 %</td><td class=\"num\">—</td>"),
            std::string::npos);
  EXPECT_NE(html.find("1 accepted of 4"), std::string::npos);
  EXPECT_NE(html.find("none recorded"), std::string::npos);
  expect_script_elements_intact(html);
}

TEST(RenderHtml, FieldTextCannotBreakOutOfTheScriptOrMarkup) {
  json report = snare::test::sample_report();
  const std::string attack = "</script><script>alert(1)</script>";
  report["model"]["name"] = attack;
  report["steps"][0]["plan"] = "<!--<script>";
  report["steps"][1]["reason"] = "</SCRIPT >";
  report["options"][attack] = attack;
  std::string html = render_html(report);
  expect_script_elements_intact(html);
  EXPECT_EQ(html.find("alert(1)</script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(embedded_data(html), report);
}

TEST(RenderHtml, InvalidUtf8IsReplacedNotFatal) {
  json report = snare::test::sample_report();
  report["model"]["name"] = std::string("lenet\xff");
  std::string html = render_html(report);
  EXPECT_EQ(embedded_data(html)["model"]["name"], "lenet\xef\xbf\xbd");
}

TEST(RenderHtml, NonObjectIsAnInternalError) {
  EXPECT_THROW(render_html(json::array()), snare::InternalError);
  EXPECT_THROW(render_html(json()), snare::InternalError);
}

}  // namespace
