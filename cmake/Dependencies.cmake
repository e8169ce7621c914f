# Third-party code, all from Debian 12 packages.
find_package(Threads REQUIRED)
# Debian ships no CMake config for protobuf: module mode.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
# devicectl's YAML reader (a shared library: no image ships devicectl).
find_package(yaml-cpp CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)  # the store's durable backend (libsqlite3-dev)
find_package(PkgConfig REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# deviceapi_rpc: gRPC (with server reflection), protobuf and Abseil, as every
# target of this project links them.
#
# DEVICEAPI_STATIC_GRPC (default ON) links Debian's static archives of them
# into each binary; OpenSSL, zlib and the rest stay shared libraries. The
# server then maps only the parts of gRPC it runs instead of whole shared
# libraries, which takes less resident memory and starts faster (measured by
# device-api-bench: docs/benchmarks.md), for binaries about 12 MiB larger. OFF
# links the shared libraries.
option(DEVICEAPI_STATIC_GRPC "Link gRPC, protobuf and Abseil statically" ON)
add_library(deviceapi_rpc INTERFACE)
if(DEVICEAPI_STATIC_GRPC)
  find_package(OpenSSL REQUIRED)
  find_package(ZLIB REQUIRED)
  set(_rpc_archives)
  foreach(_lib grpc++_reflection grpc++ grpc gpr upb address_sorting re2 cares protobuf)
    find_library(_archive_${_lib} NAMES lib${_lib}.a REQUIRED)
    list(APPEND _rpc_archives ${_archive_${_lib}})
  endforeach()
  # Every Abseil archive: the linker takes only the members something uses.
  get_filename_component(_lib_dir "${_archive_grpc}" DIRECTORY)
  file(GLOB _absl_archives "${_lib_dir}/libabsl_*.a")
  if(NOT _absl_archives)
    message(FATAL_ERROR "DEVICEAPI_STATIC_GRPC: no libabsl_*.a next to ${_archive_grpc}")
  endif()
  list(APPEND _rpc_archives ${_absl_archives})
  list(JOIN _rpc_archives "," _rpc_group)
  target_link_libraries(deviceapi_rpc INTERFACE
    "$<LINK_GROUP:RESCAN,${_rpc_group}>"
    OpenSSL::SSL OpenSSL::Crypto ZLIB::ZLIB Threads::Threads ${CMAKE_DL_LIBS} m rt
    # As gRPC's pkg-config file says: libatomic only where something uses it.
    -Wl,--push-state,--as-needed atomic -Wl,--pop-state)
  target_include_directories(deviceapi_rpc INTERFACE
    $<TARGET_PROPERTY:gRPC::grpc++,INTERFACE_INCLUDE_DIRECTORIES>
    ${Protobuf_INCLUDE_DIRS})
else()
  target_link_libraries(deviceapi_rpc INTERFACE
    gRPC::grpc++ gRPC::grpc++_reflection protobuf::libprotobuf absl::synchronization)
endif()
