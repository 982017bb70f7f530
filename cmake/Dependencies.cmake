# Every third-party dependency, found once. All come from Debian 12 packages (scripts/setup.sh);
# on GPU machines Torch comes from PyTorch's own LibTorch (-DCMAKE_PREFIX_PATH=$(python -c
# 'import torch; print(torch.utils.cmake_prefix_path)')).
find_package(Torch REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 QUIET)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)

# Torch's exported compile flags carry -D_GLIBCXX_USE_CXX11_ABI; keep them on an interface target.
add_library(snare_torch INTERFACE)
target_link_libraries(snare_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(snare_torch INTERFACE ${TORCH_CXX_FLAGS})
# Torch's headers are third-party: keep their warnings out of -Werror.
target_include_directories(snare_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
# at::parallel_for is an inline template over OpenMP pragmas: in our own code (max pooling, image decoding) it runs
# serially unless our translation units are compiled with OpenMP too. LibTorch's CPU build uses the same libgomp.
find_package(OpenMP)
if(OpenMP_CXX_FOUND)
  target_link_libraries(snare_torch INTERFACE OpenMP::OpenMP_CXX)
endif()

if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()

# The distributed run (src/dist) uses c10d's Gloo process group, whose headers include Gloo's own.
find_path(GLOO_INCLUDE_DIR gloo/algorithm.h)
if(NOT GLOO_INCLUDE_DIR)
  message(FATAL_ERROR "Gloo's headers (gloo/algorithm.h) were not found: install Debian's libgloo-dev "
                      "(bash scripts/setup.sh does)")
endif()
