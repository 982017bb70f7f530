// OpenBLAS's kernels: on a CPU with AVX2 and FMA, matrix products run with kernels that use them, also where
// OpenBLAS's own table does not know the CPU, and the products stay right after the switch.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "exec/blas_kernels.h"

namespace {

using snare::exec::select_blas_kernels;

TEST(BlasKernels, MatrixProductsUseTheVectorUnitsTheCpuHas) {
  const auto& k = select_blas_kernels();
  if (k.library.empty()) GTEST_SKIP() << "the BLAS behind LibTorch is not OpenBLAS";
  if (const char* user = std::getenv("OPENBLAS_CORETYPE"); user && !k.reselected) {
    GTEST_SKIP() << "OPENBLAS_CORETYPE=" << user << " was set by the caller";
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "no AVX2 and FMA here";
#else
  GTEST_SKIP() << "not an x86 CPU";
#endif
  const std::set<std::string> avx2_cores = {"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator"};
  EXPECT_TRUE(avx2_cores.count(k.core)) << k.describe();
  EXPECT_NE(k.describe().find(k.core), std::string::npos);
  EXPECT_EQ(&select_blas_kernels(), &k);  // selected once
  EXPECT_EQ(snare::exec::blas_kernels().core, k.core);
}

TEST(BlasKernels, ProductsAfterTheSelectionMatchDoublePrecision) {
  select_blas_kernels();
  at::manual_seed(5);
  // Sizes that take OpenBLAS's blocked path (not its small-matrix kernels) and odd edges.
  at::Tensor a = at::randn({301, 257}), b = at::randn({257, 129});
  at::Tensor got = at::mm(a, b);
  at::Tensor want = at::mm(a.to(at::kDouble), b.to(at::kDouble));
  EXPECT_LT((got.to(at::kDouble) - want).abs().max().item<double>(), 1e-3);
  at::Tensor bias = at::randn({129});
  at::Tensor fused = at::addmm(bias, a, b);
  EXPECT_LT((fused.to(at::kDouble) - (want + bias.to(at::kDouble))).abs().max().item<double>(), 1e-3);
}

}  // namespace
