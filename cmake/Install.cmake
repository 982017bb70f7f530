# `cmake --install build --prefix P` puts the library where another CMake project finds it:
#   P/include/snare/snare.h (the public header) and every module header under P/include/snare/<module>/,
#   P/lib/libsnare_*.a, P/lib/cmake/snare/snareConfig.cmake (find_package(snare); target snare::snare).
include(CMakePackageConfigHelpers)

# One target for users: every module (the CLI's excepted) behind snare::snare.
get_property(snare_modules GLOBAL PROPERTY SNARE_MODULES)
list(REMOVE_ITEM snare_modules snare_cli)
add_library(snare_library INTERFACE)
target_link_libraries(snare_library INTERFACE ${snare_modules})
target_include_directories(snare_library INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                                   $<INSTALL_INTERFACE:include>)
set_target_properties(snare_library PROPERTIES EXPORT_NAME snare)

install(TARGETS snare_library ${snare_modules} snare_torch snare_warnings EXPORT snareTargets
        ARCHIVE DESTINATION lib INCLUDES DESTINATION include)
install(FILES ${PROJECT_SOURCE_DIR}/include/snare/snare.h DESTINATION include/snare)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/ DESTINATION include/snare FILES_MATCHING PATTERN "*.h"
        PATTERN "cli" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/generated/common/version.h DESTINATION include/snare/common)
install(EXPORT snareTargets NAMESPACE snare:: DESTINATION lib/cmake/snare)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/snareConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/snareConfig.cmake INSTALL_DESTINATION lib/cmake/snare)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/snareConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/snareConfig.cmake ${PROJECT_BINARY_DIR}/snareConfigVersion.cmake
        DESTINATION lib/cmake/snare)
