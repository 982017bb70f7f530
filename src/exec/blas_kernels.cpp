#include "exec/blas_kernels.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <sstream>

namespace snare::exec {

namespace {

// OpenBLAS's exported entry points, looked up at run time: the BLAS behind libblas.so.3 may be another one.
template <class F>
F openblas_symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

// Cores whose single-precision kernels use AVX2 or wider (OpenBLAS's names, as openblas_get_corename gives them).
bool has_avx2_kernels(const std::string& core) {
  static const std::set<std::string> kCores = {"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen",
                                                "Excavator"};
  return kCores.count(core) > 0;
}

// The OPENBLAS_CORETYPE this CPU can run, or "" when it has no AVX2 and FMA (or is not x86).
std::string supported_core() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // the checks below include the operating system's support of the vector state
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd")) {
    return "SKYLAKEX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "HASWELL";
#endif
  return "";
}

using Text = char* (*)();
using Call = void (*)();

BlasKernels query() {
  BlasKernels k;
  auto corename = openblas_symbol<Text>("openblas_get_corename");
  auto config = openblas_symbol<Text>("openblas_get_config");
  if (!corename || !config) return k;
  // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... Prescott MAX_THREADS=64": the name and version; the core it
  // names is the one chosen at load time.
  std::istringstream words(config());
  std::string name, version;
  words >> name >> version;
  k.library = name + " " + version;
  k.detected = k.core = corename();
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  k.from_environment = env && *env;
  return k;
}

std::atomic<const BlasKernels*> selected{nullptr};

BlasKernels select() {
  BlasKernels k = query();
  auto corename = openblas_symbol<Text>("openblas_get_corename");
  if (!corename) return k;
  auto quit = openblas_symbol<Call>("gotoblas_dynamic_quit");
  auto init = openblas_symbol<Call>("gotoblas_dynamic_init");
  const std::string wanted = supported_core();
  if (!quit || !init || k.from_environment || wanted.empty() || has_avx2_kernels(k.detected)) return k;
  // gotoblas_dynamic_init reads OPENBLAS_CORETYPE and installs that core's kernel table; quit clears the table
  // so that init runs again. Both only swap the table: no BLAS call is running before the first work.
  setenv("OPENBLAS_CORETYPE", wanted.c_str(), 1);
  quit();
  init();
  k.core = corename();
  k.reselected = k.core != k.detected;
  return k;
}

}  // namespace

std::string BlasKernels::describe() const {
  if (library.empty()) return "not OpenBLAS";
  // A machine-wide OPENBLAS_CORETYPE is easy to miss, and it decides the rounding of every result: say so.
  if (from_environment) return fmt::format("{} ({} kernels, set by OPENBLAS_CORETYPE)", library, core);
  if (!reselected) return fmt::format("{} ({} kernels)", library, core);
  return fmt::format("{} ({} kernels, selected by snare: OpenBLAS chose {} on this CPU)", library, core, detected);
}

const BlasKernels& select_blas_kernels() {
  static const BlasKernels kernels = select();
  selected.store(&kernels);
  return kernels;
}

BlasKernels blas_kernels() {
  const BlasKernels* k = selected.load();
  return k ? *k : query();
}

}  // namespace snare::exec
