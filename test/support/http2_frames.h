// Writing raw HTTP/2 frames, for tests that speak to a server below any HTTP/2 library
// (the health-probe guard and its attack tests, a watch client that sends nothing
// after its request).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

// HPACK string literal, no Huffman (RFC 7541 5.2); lengths here are < 127.
inline std::string HpackString(const std::string& s) { return static_cast<char>(s.size()) + s; }

// Header block of a gRPC call to `path`: every field as "literal header field
// without indexing, new name" (0x00, RFC 7541 6.2.2), so the server's HPACK
// table never grows.
inline std::string GrpcCallHeaderBlock(const std::string& path) {
  std::string block;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {":method", "POST"},
           {":scheme", "http"},
           {":path", path},
           {":authority", "localhost"},
           {"content-type", "application/grpc"},
           {"te", "trailers"}}) {
    block += '\0';
    block += HpackString(name);
    block += HpackString(value);
  }
  return block;
}

// A gRPC length-prefixed message (uncompressed) around `bytes`.
inline std::string GrpcMessage(const std::string& bytes) {
  std::string m(1, '\0');
  const auto n = static_cast<std::uint32_t>(bytes.size());
  for (int shift : {24, 16, 8, 0}) m += static_cast<char>((n >> shift) & 0xff);
  return m + bytes;
}

}  // namespace deviceapi::testing
