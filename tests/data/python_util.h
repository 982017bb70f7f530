// Shared by the data tests that write real files with Debian's python3 (numpy, h5py; the pyenv python on PATH
// has neither), and check DataError messages.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "common/error.h"
#include "temp_dir.h"

namespace snare::test {

inline const char* const kPython = "/usr/bin/python3";

/// True when Debian's python can import `module` (numpy, h5py).
inline bool python_has(const std::string& module) {
  if (!std::filesystem::exists(kPython)) return false;
  const std::string cmd = std::string(kPython) + " -c 'import " + module + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

/// Runs `prelude` + `script` with Debian's python inside `tmp` (os, sys and numpy as np imported, the working
/// folder set to `tmp`); true when it succeeds.
inline bool run_python_in(const TempDir& tmp, const std::string& prelude, const std::string& script) {
  write_file(tmp.str("make.py"), "import os, sys\nimport numpy as np\n" + prelude + "os.chdir(sys.argv[1])\n" + script);
  const std::string cmd = std::string(kPython) + " " + tmp.str("make.py") + " " + tmp.str();
  return std::system(cmd.c_str()) == 0;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// The DataError message of `f`, or "" (and a test failure) when it throws none.
inline std::string data_error_of(const std::function<void()>& f) {
  try {
    f();
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace snare::test
