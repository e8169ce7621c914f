# Warnings and sanitizers applied to every target of the project.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)
# GCC 12 at -O2 reports -Wrestrict inside libstdc++'s string concatenation
# for code with no overlap at all (GCC bug 105651, fixed in GCC 13): every
# `"x" + std::string` that gets inlined. It would bury real warnings.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  add_compile_options(-Wno-restrict)
endif()
if(DEVICEAPI_SANITIZE)
  add_compile_options(-fsanitize=${DEVICEAPI_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DEVICEAPI_SANITIZE})
endif()
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
if(DEVICEAPI_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DEVICEAPI_BUILD_FUZZERS needs clang: -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage feedback from all of the project's code; the fuzzers themselves
  # link libFuzzer's main (test/fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
