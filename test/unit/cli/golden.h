// Golden files: expected output kept next to the test. Set
// DEVICEAPI_UPDATE_GOLDEN=1 to rewrite them from the current output (then
// review the diff).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace deviceapi::cli {

inline void ExpectGolden(const std::string& name, const std::string& actual) {
  std::string path = std::string(DEVICEAPI_SOURCE_DIR) + "/test/unit/cli/golden/" + name;
  if (const char* u = std::getenv("DEVICEAPI_UPDATE_GOLDEN"); u != nullptr && *u == '1') {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), actual) << "output differs from " << path;
}

}  // namespace deviceapi::cli
