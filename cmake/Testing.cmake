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
    TEST_LIST ${T_NAME}_TESTS
    PROPERTIES TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
  # LABELS is set by a script of our own that runs after discovery:
  # gtest_discover_tests flattens list-valued PROPERTIES, so "unit;store" would
  # become LABELS "unit" plus a stray property "store" and `ctest -L store`
  # would find nothing.
  set(_labels_file ${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}_labels.cmake)
  file(WRITE ${_labels_file}
    "if(${T_NAME}_TESTS)\n  set_tests_properties(\${${T_NAME}_TESTS} PROPERTIES LABELS \"${T_LABELS}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_labels_file})
endfunction()
