// Runs the snare executable (SNARE_BIN, set by CTest) as a user would and captures what it says.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace snare::testing {

struct RunResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

inline std::string snare_bin() {
  const char* bin = std::getenv("SNARE_BIN");
  return bin ? bin : "build/snare";
}

/// Runs shell text `cmd` and captures stdout and stderr together.
inline RunResult run_shell(const std::string& cmd) {
  RunResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// Runs `snare ARGS` through the shell (ARGS is shell text); `env` is prepended (e.g. "SNARE_DATA=/x").
inline RunResult run_snare(const std::string& args, const std::string& env = "") {
  return run_shell(env + (env.empty() ? "" : " ") + snare_bin() + " " + args);
}

/// A fresh empty folder for one test's outputs.
inline std::filesystem::path scratch(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("snare_cli_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// A file's bytes ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The step a reduce run's checkpoint.json in `report` would resume at; 0 while there is none (or it is being written).
inline int64_t checkpoint_step(const std::filesystem::path& report) {
  std::ifstream in(report / "checkpoint.json");
  if (!in) return 0;
  try {
    return nlohmann::json::parse(in)["state"]["next_step"].get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
}

inline bool have_mnist() { return std::filesystem::exists("data/mnist/train-images-idx3-ubyte"); }

}  // namespace snare::testing
