// Every refusal a model reader throws names the file: deep helpers (a config field parser, a tensor decoder) know
// only the field, so the readers' public entries add the file to a message that lacks it.
//
//   ir::Graph read_x(const std::string& path) { return io::with_file_named(path, [&] { return Reader(path).read(); }); }
#pragma once

#include <string>
#include <utility>

#include "common/error.h"

namespace snare::io {

template <class Read>
auto with_file_named(const std::string& file, Read&& read) -> decltype(read()) {
  try {
    return std::forward<Read>(read)();
  } catch (const UnsupportedError& e) {
    if (std::string(e.what()).find(file) != std::string::npos) throw;
    throw UnsupportedError(file + ": " + e.what());
  } catch (const ModelError& e) {
    if (std::string(e.what()).find(file) != std::string::npos) throw;
    throw ModelError(file + ": " + e.what());
  }
}

}  // namespace snare::io
