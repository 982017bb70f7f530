// Which kernels the BLAS behind LibTorch runs its matrix products with (Dense layers, LibTorch's convolution
// fallbacks, recurrent layers), and a fix for CPUs that OpenBLAS does not know.
#pragma once

#include <string>

namespace snare::exec {

struct BlasKernels {
  std::string library;   // "OpenBLAS 0.3.21", or "" when the BLAS is not OpenBLAS
  std::string detected;  // the core OpenBLAS chose at load time ("Prescott", "SkylakeX", ...)
  std::string core;      // the core in use now: `detected`, or the one selected here
  bool reselected = false;
  bool from_environment = false;  // OPENBLAS_CORETYPE was set before snare looked: the caller's (or machine's) choice
  std::string describe() const;  // one line for reports and benchmarks
};

/// OpenBLAS (DYNAMIC_ARCH builds, as Debian's) picks its kernels from a table of CPU models when it loads; a CPU
/// newer than its table gets the oldest kernels. OpenBLAS 0.3.21 (Debian 12) runs Intel's family 6 model 207 with
/// its Prescott (SSE3) kernels: a LeNet-5 training epoch took 19-23 % longer there than with the AVX-512 ones.
/// When the CPU has AVX2 and FMA, OpenBLAS chose a core without AVX2 kernels, and OPENBLAS_CORETYPE is not set,
/// this sets it to the core the CPU supports (SKYLAKEX with AVX-512 F/BW/VL/DQ/CD, else HASWELL) and re-runs
/// OpenBLAS's kernel selection, as if the variable had been set at start. Once per process (later calls return the
/// first result); call it before any work, as exec::set_threads does. Results change by floating-point rounding.
const BlasKernels& select_blas_kernels();

/// The kernels in use now, without selecting any (for reports: a library user may not have called the above).
BlasKernels blas_kernels();

}  // namespace snare::exec
