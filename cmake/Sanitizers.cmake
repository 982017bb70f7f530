# SNARE_SANITIZE: every target with ASan and UBSan; a UB report aborts (fails the test) instead of printing on.
# UBSan's vptr check is off: it misreads objects of LibTorch's and libstdc++'s classes (built without it) as of
# the wrong type.
# SNARE_FUZZ: coverage instrumentation for libFuzzer on every target (the fuzz_* executables link the fuzzer).
if(SNARE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr)
endif()
if(SNARE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SNARE_FUZZ needs clang (libFuzzer): configure with CXX=clang++ CC=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
