// Test objects and temporary directories shared by the SDK tests.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "deviceapi/client.h"

namespace deviceapi::testing {

// "GPU-0000000i-0000-0000-0000-000000000000" style UUID for index i.
inline std::string TestUuid(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "GPU-%08x-0000-4000-8000-%012x", i, i);
  return buf;
}

inline Gpu MakeGpu(const std::string& name, int index,
                   const std::string& namespace_name = "") {
  Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_(namespace_name);
  g.mutable_spec()->set_uuid(TestUuid(index));
  return g;
}

inline ClientOptions Opts(const std::string& target) {
  ClientOptions o;
  o.target = target;
  return o;
}

// A private temporary directory, removed on destruction. Short paths: Unix
// socket paths are limited to 107 bytes.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dapi-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace deviceapi::testing
