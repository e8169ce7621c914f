#include "server/http2_frame_guard.h"

#include <algorithm>

namespace deviceapi::server {

const char* Http2ViolationName(Http2Violation v) {
  switch (v) {
    case Http2Violation::kNone: return "";
    case Http2Violation::kBadPreface: return "bad_preface";
    case Http2Violation::kFrameTooLarge: return "frame_too_large";
    case Http2Violation::kStreamRate: return "stream_rate";
    case Http2Violation::kResets: return "rapid_reset";
  }
  return "";
}

Http2FrameGuard::Http2FrameGuard(Http2GuardLimits limits, Clock::time_point now)
    : limits_(limits), tokens_(limits.stream_burst), refilled_(now) {}

Http2Violation Http2FrameGuard::Feed(std::string_view bytes, Clock::time_point now) {
  if (violation_ != Http2Violation::kNone) return violation_;
  const bool ok = reader_.Feed(bytes, [&](const Http2FrameHeader& h) { return OnFrame(h, now); });
  if (!ok && violation_ == Http2Violation::kNone) violation_ = Http2Violation::kBadPreface;
  return violation_;
}

bool Http2FrameGuard::OnFrame(const Http2FrameHeader& h, Clock::time_point now) {
  if (h.length > limits_.max_frame_payload) {
    violation_ = Http2Violation::kFrameTooLarge;
    return false;
  }
  switch (static_cast<Http2FrameType>(h.type)) {
    case Http2FrameType::kHeaders:
      // Client streams are odd and increase (RFC 9113 5.1.1): a HEADERS on a
      // higher id opens a stream; on a lower one it is trailers or an error
      // gRPC answers itself.
      if (h.stream_id > highest_stream_ && (h.stream_id & 1u) == 1u) {
        highest_stream_ = h.stream_id;
        ++streams_;
        const double elapsed = std::chrono::duration<double>(now - refilled_).count();
        if (elapsed > 0) {
          tokens_ = std::min(limits_.stream_burst, tokens_ + elapsed * limits_.streams_per_second);
          refilled_ = now;
        }
        if (tokens_ < 1) {
          violation_ = Http2Violation::kStreamRate;
          return false;
        }
        tokens_ -= 1;
      }
      break;
    case Http2FrameType::kRstStream:
      if (++resets_ > limits_.max_resets) {
        violation_ = Http2Violation::kResets;
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

std::string Http2GoAwayFrame(std::uint32_t last_stream_id, std::uint32_t error_code) {
  std::string f(kHttp2FrameHeaderBytes + 8, '\0');
  f[2] = 8;  // length
  f[3] = static_cast<char>(Http2FrameType::kGoAway);
  auto put32 = [&f](std::size_t at, std::uint32_t v) {
    f[at] = static_cast<char>((v >> 24) & 0xff);
    f[at + 1] = static_cast<char>((v >> 16) & 0xff);
    f[at + 2] = static_cast<char>((v >> 8) & 0xff);
    f[at + 3] = static_cast<char>(v & 0xff);
  };
  put32(9, last_stream_id & 0x7fffffffu);
  put32(13, error_code);
  return f;
}

}  // namespace deviceapi::server
