#include "report/report.h"

#include <filesystem>
#include <system_error>

#include "common/atomic_file.h"
#include "common/error.h"

namespace snare::report {

void write_report(const nlohmann::json& report, const std::string& dir) {
  namespace fs = std::filesystem;
  // Render first: a rendering error must not leave a report.json without its page.
  std::string html = render_html(report);
  // Invalid UTF-8 in a field (a model name from a foreign file) must not lose the whole report.
  std::string json = report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw OutputError("cannot create report directory '" + dir + "': " +
                      (ec ? ec.message() : std::string("a file of that name exists")));
  }
  const std::string html_path = (fs::path(dir) / "report.html").string();
  const std::string json_path = (fs::path(dir) / "report.json").string();
  write_text_atomically(html_path, html);
  try {
    write_text_atomically(json_path, json);
  } catch (...) {
    std::error_code ignored;
    fs::remove(html_path, ignored);
    throw;
  }
}

}  // namespace snare::report
