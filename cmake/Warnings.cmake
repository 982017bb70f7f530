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
  # Installed, the module headers sit under include/snare (cmake/Install.cmake).
  target_include_directories(snare_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
                                                  $<INSTALL_INTERFACE:include/snare>)
  set_property(GLOBAL APPEND PROPERTY SNARE_MODULES snare_${name})
  target_link_libraries(snare_${name} PUBLIC ${ARG_DEPS} PRIVATE snare_warnings)
endfunction()
