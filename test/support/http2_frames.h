// Writing raw HTTP/2 frames, for tests that speak to a server below any HTTP/2 library
// (the health-probe guard and its attack tests).
#pragma once

#include <cstdint>
#include <string>

namespace deviceapi::testing {

// One frame: the 9-byte header (24-bit length, type, flags, 31-bit stream id) and payload.
inline std::string Http2Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                              const std::string& payload = "") {
  std::string f;
  const auto n = static_cast<std::uint32_t>(payload.size());
  f += static_cast<char>((n >> 16) & 0xff);
  f += static_cast<char>((n >> 8) & 0xff);
  f += static_cast<char>(n & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift : {24, 16, 8, 0}) f += static_cast<char>((stream >> shift) & 0xff);
  return f + payload;
}

}  // namespace deviceapi::testing
