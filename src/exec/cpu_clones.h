// The vector-unit versions of snare's own element-wise and convolution loops, picked when the program starts.
#pragma once

/// A function compiled for AVX-512, for Intel Haswell (AVX2 with FMA), for AVX2 and for SSE, one picked at load time.
/// GCC picks "arch=haswell" by the CPU's model (__builtin_cpu_is), not by its features, so without "avx2" every other
/// CPU without AVX-512 (AMD Zen 1-3, Intel client CPUs) ran the SSE version. "avx2" has no FMA, so it rounds as SSE.
#define SNARE_CPU_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "avx2", "default")))
