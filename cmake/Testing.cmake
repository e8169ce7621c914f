# deviceapi_add_test(NAME <name> SOURCES <files...> LIBS <targets...>
#                    LABELS <unit|integration|e2e> [store ...] [TIMEOUT <s>])
# One GoogleTest executable whose tests are registered with CTest under the labels.
find_package(GTest REQUIRED)
include(GoogleTest)
function(deviceapi_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main Threads::Threads)
  target_compile_definitions(${T_NAME} PRIVATE
    DEVICEAPI_BINARY_DIR="${CMAKE_BINARY_DIR}" DEVICEAPI_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
