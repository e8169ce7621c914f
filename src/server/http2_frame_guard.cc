#include "server/http2_frame_guard.h"

#include <algorithm>

namespace deviceapi::server {

namespace {
constexpr std::uint8_t kEndStream = 0x1;
constexpr std::uint8_t kEndHeaders = 0x4;
constexpr std::uint8_t kAck = 0x1;
constexpr std::uint16_t kSettingsMaxFrameSize = 0x5;
constexpr std::size_t kSettingsEntryBytes = 6;
// gRPC sends a handful of settings; more than this is not parsed.
constexpr std::size_t kMaxSettingsBytes = 64 * kSettingsEntryBytes;
}  // namespace

const char* Http2ViolationName(Http2Violation v) {
  switch (v) {
    case Http2Violation::kNone: return "";
    case Http2Violation::kBadPreface: return "bad_preface";
    case Http2Violation::kFrameTooLarge: return "frame_too_large";
    case Http2Violation::kStreamRate: return "stream_rate";
    case Http2Violation::kResets: return "rapid_reset";
    case Http2Violation::kOpenStreams: return "open_streams";
    case Http2Violation::kPendingStreams: return "pending_streams";
    case Http2Violation::kPendingBytes: return "pending_bytes";
    case Http2Violation::kHeaderBlock: return "header_block";
  }
  return "";
}

Http2GuardLimits ApiGuardLimits(std::uint32_t max_streams_per_connection, std::uint64_t max_request_bytes) {
  Http2GuardLimits limits;
  limits.stream_burst = 0;
  limits.reset_burst = 200;
  limits.resets_per_second = 50;
  limits.max_open_streams = std::max<std::uint32_t>(1, max_streams_per_connection);
  limits.max_pending_streams = std::min<std::uint32_t>(32, limits.max_open_streams);
  limits.max_pending_bytes = 2 * std::max<std::uint64_t>(max_request_bytes, 64 << 10);
  return limits;
}

bool Http2FrameGuard::Bucket::Take(double burst, double per_second, Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - refilled).count();
  if (elapsed > 0) {
    tokens = std::min(burst, tokens + elapsed * per_second);
    refilled = now;
  }
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

Http2FrameGuard::Http2FrameGuard(Http2GuardLimits limits, Clock::time_point now)
    : limits_(limits), stream_tokens_{limits.stream_burst, now}, reset_tokens_{limits.reset_burst, now} {}

Http2Violation Http2FrameGuard::Feed(std::string_view bytes, Clock::time_point now) {
  if (violation_ != Http2Violation::kNone) return violation_;
  const bool ok = reader_.Feed(bytes, [&](const Http2FrameHeader& h) { return OnFrame(h, now); });
  if (!ok && violation_ == Http2Violation::kNone) violation_ = Http2Violation::kBadPreface;
  return violation_;
}

void Http2FrameGuard::FeedServer(std::string_view bytes) {
  auto end_settings = [this] {
    if (!in_settings_) return;
    in_settings_ = false;
    for (std::size_t at = 0; at + kSettingsEntryBytes <= settings_.size(); at += kSettingsEntryBytes) {
      const auto* e = reinterpret_cast<const unsigned char*>(settings_.data() + at);
      const std::uint16_t id = static_cast<std::uint16_t>((e[0] << 8) | e[1]);
      const std::uint32_t value = (std::uint32_t{e[2]} << 24) | (std::uint32_t{e[3]} << 16) |
                                  (std::uint32_t{e[4]} << 8) | e[5];
      if (id == kSettingsMaxFrameSize) advertised_frame_size_ = std::max(advertised_frame_size_, value);
    }
    settings_.clear();
  };
  server_reader_.Feed(
      bytes,
      [&](const Http2FrameHeader& h) {
        end_settings();
        const auto type = static_cast<Http2FrameType>(h.type);
        if (type == Http2FrameType::kSettings && (h.flags & kAck) == 0) {
          in_settings_ = true;
          if (h.length == 0) end_settings();
        }
        if (Tracking() && (type == Http2FrameType::kRstStream ||
                           ((type == Http2FrameType::kHeaders || type == Http2FrameType::kData) &&
                            (h.flags & kEndStream) != 0))) {
          Close(h.stream_id);
        }
        return true;
      },
      [&](std::string_view payload) {
        if (!in_settings_) return;
        settings_.append(payload.substr(0, kMaxSettingsBytes - std::min(kMaxSettingsBytes, settings_.size())));
        if (server_reader_.at_boundary()) end_settings();
      });
}

void Http2FrameGuard::Close(std::uint32_t stream_id) {
  const auto it = open_.find(stream_id);
  if (it == open_.end()) return;
  if (!it->second.request_done) {
    --pending_;
    pending_bytes_ -= it->second.request_bytes;
  }
  open_.erase(it);
}

bool Http2FrameGuard::HeaderBlock(const Http2FrameHeader& h) {
  const auto type = static_cast<Http2FrameType>(h.type);
  const bool continuation = type == Http2FrameType::kContinuation;
  if (in_header_block_ != continuation || (continuation && h.stream_id != header_block_stream_)) {
    violation_ = Http2Violation::kHeaderBlock;  // out of sequence
    return false;
  }
  if (continuation) {
    header_block_bytes_ += h.length;
    ++continuations_;
  } else if (type == Http2FrameType::kHeaders) {
    header_block_stream_ = h.stream_id;
    header_block_bytes_ = h.length;
    continuations_ = 0;
  } else {
    return true;
  }
  if (header_block_bytes_ > limits_.max_header_block_bytes || continuations_ > limits_.max_continuation_frames) {
    violation_ = Http2Violation::kHeaderBlock;
    return false;
  }
  in_header_block_ = (h.flags & kEndHeaders) == 0;
  return true;
}

bool Http2FrameGuard::OnFrame(const Http2FrameHeader& h, Clock::time_point now) {
  if (h.length > std::max(limits_.max_frame_payload, advertised_frame_size_)) {
    violation_ = Http2Violation::kFrameTooLarge;
    return false;
  }
  if (!HeaderBlock(h)) return false;
  const bool end_stream = (h.flags & kEndStream) != 0;
  switch (static_cast<Http2FrameType>(h.type)) {
    case Http2FrameType::kHeaders:
      // Client streams are odd and increase (RFC 9113 5.1.1): a HEADERS on a
      // higher id opens a stream; on a lower one it is trailers or an error
      // gRPC answers itself.
      if (h.stream_id > highest_stream_ && (h.stream_id & 1u) == 1u) {
        highest_stream_ = h.stream_id;
        ++streams_;
        if (limits_.stream_burst > 0 && !stream_tokens_.Take(limits_.stream_burst, limits_.streams_per_second, now)) {
          violation_ = Http2Violation::kStreamRate;
          return false;
        }
        if (Tracking()) {
          open_.emplace(h.stream_id, OpenStream{end_stream, 0});
          if (!end_stream) ++pending_;
          if (limits_.max_open_streams > 0 && open_.size() > limits_.max_open_streams) {
            violation_ = Http2Violation::kOpenStreams;
            return false;
          }
          if (limits_.max_pending_streams > 0 && pending_ > limits_.max_pending_streams) {
            violation_ = Http2Violation::kPendingStreams;
            return false;
          }
        }
        break;
      }
      [[fallthrough]];
    case Http2FrameType::kData:
      if (Tracking()) {
        const auto it = open_.find(h.stream_id);
        if (it == open_.end() || it->second.request_done) break;
        OpenStream& s = it->second;
        if (static_cast<Http2FrameType>(h.type) == Http2FrameType::kData) {
          s.request_bytes += h.length;
          pending_bytes_ += h.length;
          if (limits_.max_pending_bytes > 0 && pending_bytes_ > limits_.max_pending_bytes) {
            violation_ = Http2Violation::kPendingBytes;
            return false;
          }
        }
        if (end_stream) {
          s.request_done = true;
          --pending_;
          pending_bytes_ -= s.request_bytes;
          s.request_bytes = 0;
        }
      }
      break;
    case Http2FrameType::kRstStream:
      ++resets_;
      if (!reset_tokens_.Take(limits_.reset_burst, limits_.resets_per_second, now)) {
        violation_ = Http2Violation::kResets;
        return false;
      }
      if (Tracking()) Close(h.stream_id);
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
