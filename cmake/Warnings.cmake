# Warnings as an INTERFACE target every snare target links; -Werror when SNARE_WERROR (CI).
add_library(snare_warnings INTERFACE)
target_compile_options(snare_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers)
if(SNARE_WERROR)
  target_compile_options(snare_warnings INTERFACE -Werror)
endif()

# snare_module(NAME SOURCES... DEPS ...): one library target per module, named snare_NAME.
function(snare_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(snare_${name} STATIC ${ARG_SOURCES})
  target_include_directories(snare_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(snare_${name} PUBLIC ${ARG_DEPS} PRIVATE snare_warnings)
endfunction()
