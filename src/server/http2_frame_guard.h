// An HTTP/2 frame guard for the listeners the server accepts itself
// (guarded_listener.h): it reads the bytes a client sends to gRPC, frame
// header by frame header, and those gRPC sends back, and says when the
// client misbehaves in a way gRPC 1.51 cannot defend against itself.
//
// Why: gRPC 1.51 has no "rapid reset" mitigation (CVE-2023-44487) and does
// not enforce SETTINGS_MAX_CONCURRENT_STREAMS against a client that never
// acknowledges it: one connection sending HEADERS then RST_STREAM in a loop,
// or HEADERS alone, grew the server by GiBs in seconds, on the probe port
// and on the API socket alike (S33).
//
// What it parses: the 24-byte client connection preface, then 9-byte frame
// headers (24-bit length, type, flags, 31-bit stream id) each way; payloads
// are skipped, never buffered, so a connection costs a few bytes of state
// plus one entry per open stream (bounded by max_open_streams). Bytes may
// arrive split anywhere (even byte by byte).
//
// Policy (per connection), first violation wins and is sticky:
//   kBadPreface      the first 24 bytes are not the HTTP/2 client preface
//   kFrameTooLarge   a frame payload above max_frame_payload or, when gRPC
//                    advertised more (it raises SETTINGS_MAX_FRAME_SIZE
//                    with its bandwidth estimate), above that
//   kStreamRate      HEADERS opening new streams faster than a token bucket
//                    allows (stream_burst, then streams_per_second; off when
//                    stream_burst is 0). The probe port: a kubelet probe
//                    opens one stream, usually on a fresh connection.
//   kResets          client RST_STREAM frames faster than a token bucket
//                    allows (reset_burst, then resets_per_second; with a
//                    rate of 0, reset_burst in the connection's life):
//                    rapid reset. A client that cancels that often simply
//                    reconnects.
//   kOpenStreams     more than max_open_streams streams open at once: opened
//                    by the client and not yet ended by gRPC (END_STREAM) or
//                    reset by either side. gRPC advertises the same number
//                    as MAX_CONCURRENT_STREAMS, so only a client that ignores
//                    it trips this. 0: not tracked.
//   kPendingStreams  more than max_pending_streams open streams whose request
//                    the client has not finished (no END_STREAM from it):
//                    each costs gRPC a call waiting for its message, and a
//                    flood of them is the cheapest way to grow the server.
//                    0: not tracked.
//   kPendingBytes    more than max_pending_bytes of DATA on those streams:
//                    gRPC holds a request's bytes until its message is whole,
//                    so half-sent large requests are memory too. 0: no cap.
//   kHeaderBlock     a header block (HEADERS and its CONTINUATION frames)
//                    above max_header_block_bytes or in more than
//                    max_continuation_frames CONTINUATIONs, a CONTINUATION
//                    outside a header block, or another frame inside one
//                    (RFC 9113 6.10). gRPC 1.51 buffers a header block until
//                    it ends, without a bound, and parses it in quadratic
//                    time (CVE-2023-33953): each frame under the frame size,
//                    one connection grew the server by 270 MB in 2 s.
//
// Not thread-safe: one guard per connection, fed by one thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

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
  bool Feed(std::string_view bytes, OnFrame&& on_frame) {
    return Feed(bytes, on_frame, [](std::string_view) {});
  }
  // The same, and on_payload(chunk) with the payload bytes of each frame as
  // they pass, in order, after that frame's on_frame.
  template <typename OnFrame, typename OnPayload>
  bool Feed(std::string_view bytes, OnFrame&& on_frame, OnPayload&& on_payload);

  // Bytes fed so far that end exactly on a frame boundary (after the
  // preface): the offset, in the stream, of the end of the last complete
  // frame. Used to put a GOAWAY between frames, never inside one.
  std::uint64_t last_boundary() const { return last_boundary_; }
  bool failed() const { return failed_; }
  bool preface_ok() const { return preface_left_ == 0; }
  // No frame is partly read: the last one fed is complete, payload included.
  bool at_boundary() const { return header_have_ == 0 && payload_left_ == 0; }

 private:
  std::size_t preface_left_;
  std::uint64_t offset_ = 0;         // bytes fed
  std::uint64_t last_boundary_ = 0;  // see last_boundary()
  std::uint64_t payload_left_ = 0;   // of the current frame
  unsigned char header_[kHttp2FrameHeaderBytes] = {};
  std::size_t header_have_ = 0;
  bool failed_ = false;
};

// The streams a health-probe connection may have open (the probe server
// advertises it as MAX_CONCURRENT_STREAMS): a kubelet probe opens one, a
// monitor may keep a few health Watch streams.
inline constexpr std::uint32_t kProbeMaxOpenStreams = 8;

// The defaults are the health-probe port's; the API's are ApiGuardLimits().
struct Http2GuardLimits {
  std::uint32_t max_frame_payload = 16384;
  double stream_burst = 20;  // 0: no rate limit on new streams
  double streams_per_second = 10;
  double reset_burst = 10;
  double resets_per_second = 0;  // 0: reset_burst for the connection's life
  // On the probe port too: streams opened slowly enough for the rate limit
  // but never finished grew the server by 8 KB each, without a bound.
  std::uint32_t max_open_streams = kProbeMaxOpenStreams;  // 0: not tracked
  std::uint32_t max_pending_streams = 4;                  // 0: not tracked
  std::uint64_t max_pending_bytes = 0;    // 0: no cap
  // gRPC refuses metadata over 8 KiB (its default GRPC_ARG_MAX_METADATA_SIZE)
  // once it has it all; a block of twice that, in a frame or two, is more
  // than any client of this server sends.
  std::uint32_t max_header_block_bytes = 16384;
  std::uint32_t max_continuation_frames = 16;
};

// The API listeners' policy: any rate of well-formed calls, open streams up
// to what gRPC advertises (max_streams_per_connection), at most 32 requests
// half-sent at once holding at most twice the largest request
// (max_request_bytes) between them, and resets at 50 a second after a burst
// of 200 (a client cancelling its watches and calls now and then never
// comes close).
Http2GuardLimits ApiGuardLimits(std::uint32_t max_streams_per_connection, std::uint64_t max_request_bytes);

enum class Http2Violation {
  kNone,
  kBadPreface,
  kFrameTooLarge,
  kStreamRate,
  kResets,
  kOpenStreams,
  kPendingStreams,
  kPendingBytes,
  kHeaderBlock,
};

// "bad_preface", "frame_too_large", "stream_rate", "rapid_reset",
// "open_streams", "pending_streams", "pending_bytes", "header_block"; "" for
// kNone. The metric's reason label (guarded_listener.h).
const char* Http2ViolationName(Http2Violation v);
inline constexpr Http2Violation kAllHttp2Violations[] = {
    Http2Violation::kBadPreface,     Http2Violation::kFrameTooLarge, Http2Violation::kStreamRate,
    Http2Violation::kResets,         Http2Violation::kOpenStreams,   Http2Violation::kPendingStreams,
    Http2Violation::kPendingBytes,   Http2Violation::kHeaderBlock};

class Http2FrameGuard {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Http2FrameGuard(Http2GuardLimits limits = {}, Clock::time_point now = Clock::now());

  // Feeds client->server bytes; returns the first violation, or kNone.
  Http2Violation Feed(std::string_view bytes, Clock::time_point now = Clock::now());
  // Feeds server->client bytes (gRPC's output): streams it ends or resets
  // are no longer open.
  void FeedServer(std::string_view bytes);
  // The end of the last complete frame of gRPC's output, as an offset in
  // it: where a GOAWAY may be put without cutting a frame.
  std::uint64_t server_boundary() const { return server_reader_.last_boundary(); }

  Http2Violation violation() const { return violation_; }
  // The highest client stream id seen on a HEADERS frame (the GOAWAY's last
  // stream id).
  std::uint32_t highest_stream_id() const { return highest_stream_; }
  std::uint64_t streams_opened() const { return streams_; }
  std::uint32_t resets() const { return resets_; }
  std::size_t open_streams() const { return open_.size(); }
  std::uint32_t pending_streams() const { return pending_; }
  std::uint64_t pending_bytes() const { return pending_bytes_; }

 private:
  // A token bucket: `burst` tokens, refilled at `per_second`.
  struct Bucket {
    double tokens;
    Clock::time_point refilled;
    bool Take(double burst, double per_second, Clock::time_point now);
  };

  bool OnFrame(const Http2FrameHeader& h, Clock::time_point now);
  // Follows header blocks across frames; false on a kHeaderBlock violation.
  bool HeaderBlock(const Http2FrameHeader& h);
  bool Tracking() const { return limits_.max_open_streams > 0 || limits_.max_pending_streams > 0; }
  void Close(std::uint32_t stream_id);

  Http2GuardLimits limits_;
  Http2FrameReader reader_{true};
  Http2FrameReader server_reader_{false};
  Bucket stream_tokens_;
  Bucket reset_tokens_;
  // The largest SETTINGS_MAX_FRAME_SIZE gRPC has advertised, and the
  // payload of the SETTINGS frame of its output being read.
  std::uint32_t advertised_frame_size_ = 0;
  bool in_settings_ = false;
  std::string settings_;
  struct OpenStream {
    bool request_done = false;       // the client sent END_STREAM
    std::uint64_t request_bytes = 0;  // DATA before that
  };
  std::unordered_map<std::uint32_t, OpenStream> open_;
  std::uint32_t pending_ = 0;
  std::uint64_t pending_bytes_ = 0;
  std::uint32_t highest_stream_ = 0;
  std::uint64_t streams_ = 0;
  std::uint32_t resets_ = 0;
  // The header block being read: its stream, bytes and CONTINUATIONs so far.
  bool in_header_block_ = false;
  std::uint32_t header_block_stream_ = 0;
  std::uint64_t header_block_bytes_ = 0;
  std::uint32_t continuations_ = 0;
  Http2Violation violation_ = Http2Violation::kNone;
};

inline constexpr std::uint32_t kHttp2EnhanceYourCalm = 0xb;

// A GOAWAY frame (stream 0, no debug data).
std::string Http2GoAwayFrame(std::uint32_t last_stream_id, std::uint32_t error_code);

// ---- implementation of the template ----

template <typename OnFrame, typename OnPayload>
bool Http2FrameReader::Feed(std::string_view bytes, OnFrame&& on_frame, OnPayload&& on_payload) {
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
      const std::string_view chunk = bytes.substr(i, n);
      payload_left_ -= n;
      i += n;
      offset_ += n;
      if (payload_left_ == 0) last_boundary_ = offset_;
      on_payload(chunk);
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
