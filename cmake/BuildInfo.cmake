# Version, commit and build date baked into every binary's --version.
# Overridable (container builds pass them as build args).
set(DEVICEAPI_VERSION "${PROJECT_VERSION}" CACHE STRING "Version reported by --version")
if(NOT DEFINED DEVICEAPI_COMMIT OR DEVICEAPI_COMMIT STREQUAL "")
  execute_process(COMMAND git rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    OUTPUT_VARIABLE _commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT _commit)
    set(_commit "unknown")
  endif()
  set(DEVICEAPI_COMMIT "${_commit}" CACHE STRING "Commit reported by --version")
endif()
if(NOT DEFINED DEVICEAPI_BUILD_DATE OR DEVICEAPI_BUILD_DATE STREQUAL "")
  string(TIMESTAMP _date "%Y-%m-%dT%H:%M:%SZ" UTC)
  set(DEVICEAPI_BUILD_DATE "${_date}" CACHE STRING "Build date reported by --version")
endif()
set(DEVICEAPI_COMPILER "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/build_info.h.in
  ${CMAKE_BINARY_DIR}/generated/deviceapi/build_info.h @ONLY)
add_library(deviceapi_build_info INTERFACE)
target_include_directories(deviceapi_build_info INTERFACE ${CMAKE_BINARY_DIR}/generated)
