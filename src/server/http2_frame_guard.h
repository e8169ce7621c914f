// An HTTP/2 frame guard for the health-probe listener: it reads the bytes a
// client sends to gRPC, frame header by frame header, and says when the
// client misbehaves in a way gRPC 1.51 cannot defend against itself.
//
// Why: gRPC 1.51 has no "rapid reset" mitigation (CVE-2023-44487) and does
// not enforce SETTINGS_MAX_CONCURRENT_STREAMS against the client: one TCP
// connection sending HEADERS then RST_STREAM in a loop grew the server by
// GiBs in seconds (S33). The API Unix socket is not exposed to the pod
// network and keeps its latency budget, so only the probe port goes through
// this guard (probe_listener.h pumps the bytes).
//
// What it parses: the 24-byte client connection preface, then 9-byte frame
// headers (24-bit length, type, flags, 31-bit stream id); payloads are
// skipped, never buffered, so a connection costs a few bytes of state
// whatever it sends. Bytes may arrive split anywhere (even byte by byte).
//
// Policy (per connection), first violation wins and is sticky:
//   kBadPreface     the first 24 bytes are not the HTTP/2 client preface
//   kFrameTooLarge  a frame payload above max_frame_payload (gRPC never
//                   raises SETTINGS_MAX_FRAME_SIZE above the 16 KiB default)
//   kStreamRate     HEADERS opening new streams faster than a token bucket
//                   allows (stream_burst, then streams_per_second): a
//                   kubelet probe opens one stream, usually on a fresh
//                   connection; this also bounds floods that ignore
//                   MAX_CONCURRENT_STREAMS
//   kResets         more than max_resets client RST_STREAM frames in the
//                   connection's life: rapid reset; a client that cancels
//                   that often simply reconnects
//
// Not thread-safe: one guard per connection, fed by one thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace deviceapi::server {

inline constexpr std::string_view kHttp2ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr std::size_t kHttp2FrameHeaderBytes = 9;

enum class Http2FrameType : std::uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoAway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};

struct Http2FrameHeader {
  std::uint32_t length = 0;  // payload bytes (24 bits)
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream_id = 0;  // 31 bits, reserved bit cleared
};

// Splits a byte stream into frame headers, skipping payloads. Feed() may be
// given any slice of the stream; it calls on_frame(header) once per frame,
// when its 9-byte header is complete (before its payload). With
// expect_preface, the first 24 bytes must be the client preface.
class Http2FrameReader {
 public:
  explicit Http2FrameReader(bool expect_preface) : preface_left_(expect_preface ? kHttp2ClientPreface.size() : 0) {}

  // Returns false (and stays failed) when the preface does not match or
  // on_frame returns false; bytes after that are not looked at.
  template <typename OnFrame>
  bool Feed(std::string_view bytes, OnFrame&& on_frame);

  // Bytes fed so far that end exactly on a frame boundary (after the
  // preface): the offset, in the stream, of the end of the last complete
  // frame. Used to put a GOAWAY between frames, never inside one.
  std::uint64_t last_boundary() const { return last_boundary_; }
  bool failed() const { return failed_; }
  bool preface_ok() const { return preface_left_ == 0; }

 private:
  std::size_t preface_left_;
  std::uint64_t offset_ = 0;         // bytes fed
  std::uint64_t last_boundary_ = 0;  // see last_boundary()
  std::uint64_t payload_left_ = 0;   // of the current frame
  unsigned char header_[kHttp2FrameHeaderBytes] = {};
  std::size_t header_have_ = 0;
  bool failed_ = false;
};

struct Http2GuardLimits {
  std::uint32_t max_frame_payload = 16384;
  double stream_burst = 20;
  double streams_per_second = 10;
  std::uint32_t max_resets = 10;
};

enum class Http2Violation { kNone, kBadPreface, kFrameTooLarge, kStreamRate, kResets };

// "bad_preface", "frame_too_large", "stream_rate", "rapid_reset"; "" for kNone.
// The metric's reason label (probe_listener.h).
const char* Http2ViolationName(Http2Violation v);

class Http2FrameGuard {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Http2FrameGuard(Http2GuardLimits limits = {}, Clock::time_point now = Clock::now());

  // Feeds client->server bytes; returns the first violation, or kNone.
  Http2Violation Feed(std::string_view bytes, Clock::time_point now = Clock::now());

  Http2Violation violation() const { return violation_; }
  // The highest client stream id seen on a HEADERS frame (the GOAWAY's last
  // stream id).
  std::uint32_t highest_stream_id() const { return highest_stream_; }
  std::uint64_t streams_opened() const { return streams_; }
  std::uint32_t resets() const { return resets_; }

 private:
  bool OnFrame(const Http2FrameHeader& h, Clock::time_point now);

  Http2GuardLimits limits_;
  Http2FrameReader reader_{true};
  double tokens_;
  Clock::time_point refilled_;
  std::uint32_t highest_stream_ = 0;
  std::uint64_t streams_ = 0;
  std::uint32_t resets_ = 0;
  Http2Violation violation_ = Http2Violation::kNone;
};

inline constexpr std::uint32_t kHttp2EnhanceYourCalm = 0xb;

// A GOAWAY frame (stream 0, no debug data).
std::string Http2GoAwayFrame(std::uint32_t last_stream_id, std::uint32_t error_code);

// ---- implementation of the template ----

template <typename OnFrame>
bool Http2FrameReader::Feed(std::string_view bytes, OnFrame&& on_frame) {
  std::size_t i = 0;
  while (!failed_ && i < bytes.size()) {
    if (preface_left_ > 0) {
      const std::size_t at = kHttp2ClientPreface.size() - preface_left_;
      const std::size_t n = std::min(preface_left_, bytes.size() - i);
      if (bytes.substr(i, n) != kHttp2ClientPreface.substr(at, n)) {
        failed_ = true;
        return false;
      }
      preface_left_ -= n;
      i += n;
      offset_ += n;
      if (preface_left_ == 0) last_boundary_ = offset_;
      continue;
    }
    if (payload_left_ > 0) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, bytes.size() - i));
      payload_left_ -= n;
      i += n;
      offset_ += n;
      if (payload_left_ == 0) last_boundary_ = offset_;
      continue;
    }
    header_[header_have_++] = static_cast<unsigned char>(bytes[i++]);
    ++offset_;
    if (header_have_ < kHttp2FrameHeaderBytes) continue;
    header_have_ = 0;
    Http2FrameHeader h;
    h.length = (std::uint32_t{header_[0]} << 16) | (std::uint32_t{header_[1]} << 8) | header_[2];
    h.type = header_[3];
    h.flags = header_[4];
    h.stream_id = ((std::uint32_t{header_[5]} << 24) | (std::uint32_t{header_[6]} << 16) |
                   (std::uint32_t{header_[7]} << 8) | header_[8]) &
                  0x7fffffffu;
    payload_left_ = h.length;
    if (payload_left_ == 0) last_boundary_ = offset_;
    if (!on_frame(h)) {
      failed_ = true;
      return false;
    }
  }
  return !failed_;
}

}  // namespace deviceapi::server
