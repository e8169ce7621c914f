// Writing and reading raw HTTP/2 frames, for tests that speak to a server below any HTTP/2 library
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

// One frame read back: header fields and payload.
struct Http2FrameIn {
  std::uint8_t type = 0, flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

// Takes the first whole frame off the front of `bytes` (what was read so
// far); false while it is incomplete.
inline bool TakeHttp2Frame(std::string* bytes, Http2FrameIn* out) {
  if (bytes->size() < 9) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(bytes->data());
  const std::size_t length = (std::size_t{b[0]} << 16) | (std::size_t{b[1]} << 8) | b[2];
  if (bytes->size() < 9 + length) return false;
  out->type = b[3];
  out->flags = b[4];
  out->stream = ((std::uint32_t{b[5]} & 0x7f) << 24) | (std::uint32_t{b[6]} << 16) | (std::uint32_t{b[7]} << 8) | b[8];
  out->payload = bytes->substr(9, length);
  bytes->erase(0, 9 + length);
  return true;
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

// Takes the first whole gRPC message's bytes off the front of `bytes` (the
// DATA received so far); false while it is incomplete.
inline bool TakeGrpcMessage(std::string* bytes, std::string* message) {
  if (bytes->size() < 5) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(bytes->data());
  const std::size_t length =
      (std::size_t{b[1]} << 24) | (std::size_t{b[2]} << 16) | (std::size_t{b[3]} << 8) | b[4];
  if (bytes->size() < 5 + length) return false;
  *message = bytes->substr(5, length);
  bytes->erase(0, 5 + length);
  return true;
}

}  // namespace deviceapi::testing
