// The HTTP/2 frame guard of the server's own listeners
// (server/http2_frame_guard.h): frame headers split anywhere, and each policy
// that keeps one connection from growing the process (S33), with the probe
// port's limits and with the API's.
#include "server/http2_frame_guard.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http2_frames.h"

namespace deviceapi::server {
namespace {

using Clock = Http2FrameGuard::Clock;

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const std::string& payload = "") {
  return deviceapi::testing::Http2Frame(type, flags, stream, payload);
}

std::string Headers(std::uint32_t stream) { return Frame(0x1, 0x4, stream, std::string(12, 'h')); }
std::string Reset(std::uint32_t stream) { return Frame(0x3, 0, stream, std::string("\0\0\0\x8", 4)); }
std::string Preface() { return std::string(kHttp2ClientPreface) + Frame(0x4, 0, 0); }

TEST(Http2FrameReader, HeaderArrivingByteByByteS33) {
  const std::string stream = std::string(kHttp2ClientPreface) + Frame(0x4, 0, 0, std::string(6, 's')) +
                             Headers(1) + Frame(0x0, 0x1, 1, std::string(100, 'd')) + Reset(3);
  std::vector<Http2FrameHeader> seen;
  Http2FrameReader reader(true);
  std::vector<std::uint64_t> boundaries;
  for (char ch : stream) {
    ASSERT_TRUE(reader.Feed(std::string_view(&ch, 1), [&](const Http2FrameHeader& h) {
      seen.push_back(h);
      return true;
    }));
    boundaries.push_back(reader.last_boundary());
  }
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].type, 0x4);
  EXPECT_EQ(seen[0].length, 6u);
  EXPECT_EQ(seen[1].type, 0x1);
  EXPECT_EQ(seen[1].flags, 0x4);
  EXPECT_EQ(seen[1].stream_id, 1u);
  EXPECT_EQ(seen[2].type, 0x0);
  EXPECT_EQ(seen[2].length, 100u);
  EXPECT_EQ(seen[3].type, 0x3);
  EXPECT_EQ(seen[3].stream_id, 3u);
  EXPECT_EQ(reader.last_boundary(), stream.size());
  // Mid-frame, the boundary is the end of the previous frame.
  EXPECT_EQ(boundaries[kHttp2ClientPreface.size() + 3], kHttp2ClientPreface.size());
}

TEST(Http2FrameReader, SplitAnywhereSameFramesS33) {
  std::string stream = Preface();
  for (std::uint32_t id = 1; id < 40; id += 2) stream += Headers(id) + Frame(0x0, 0x1, id, std::string(id * 7, 'x'));
  auto headers_of = [&](std::size_t chunk) {
    std::vector<std::uint32_t> ids;
    Http2FrameReader reader(true);
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      reader.Feed(std::string_view(stream).substr(i, chunk), [&](const Http2FrameHeader& h) {
        ids.push_back(h.type * 1000 + h.stream_id);
        return true;
      });
    }
    return ids;
  };
  const auto whole = headers_of(stream.size());
  for (std::size_t chunk : {1, 2, 3, 5, 8, 9, 10, 17, 64}) EXPECT_EQ(headers_of(chunk), whole) << chunk;
}

TEST(Http2FrameGuard, BadPrefaceS33) {
  Http2FrameGuard guard;
  EXPECT_EQ(guard.Feed("PRI * HTTP/2.0\r\n"), Http2Violation::kNone);  // so far so good
  EXPECT_EQ(guard.Feed("\r\nXX"), Http2Violation::kBadPreface);
  Http2FrameGuard http1;
  EXPECT_EQ(http1.Feed("GET / HTTP/1.1\r\n"), Http2Violation::kBadPreface);
}

TEST(Http2FrameGuard, FrameLargerThanMaxFrameSizeS33) {
  Http2FrameGuard guard;
  const auto t = Clock::now();
  EXPECT_EQ(guard.Feed(Preface() + Frame(0x0, 0, 1, std::string(16384, 'x')), t), Http2Violation::kNone);
  // Only the header is needed to know.
  EXPECT_EQ(guard.Feed(Frame(0x0, 0, 1, std::string(16385, 'x')).substr(0, 9), t),
            Http2Violation::kFrameTooLarge);
}

// S33: a header block split over CONTINUATION frames passes while it stays
// small; one that grows past the bound, or over too many frames, is cut off
// (gRPC 1.51 buffers it without a bound: CVE-2023-33953), as are
// CONTINUATIONs out of sequence, on the probe port and the API alike.
TEST(Http2FrameGuard, HeaderBlocksAreBoundedAndInSequenceS33) {
  const auto t = Clock::now();
  for (const Http2GuardLimits& limits : {Http2GuardLimits{}, ApiGuardLimits(250, 4 << 20)}) {
    Http2FrameGuard ok(limits, t);
    // HEADERS without END_HEADERS, two CONTINUATIONs, the last ending it.
    EXPECT_EQ(ok.Feed(Preface() + Frame(0x1, 0, 1, std::string(4000, 'h')) + Frame(0x9, 0, 1, std::string(4000, 'c')) +
                          Frame(0x9, 0x4, 1, std::string(4000, 'c')) + Frame(0x0, 0x1, 1, "12345"),
                      t),
              Http2Violation::kNone);
    EXPECT_EQ(ok.Feed(Headers(3) + Frame(0x0, 0x1, 3, "12345"), t), Http2Violation::kNone);

    Http2FrameGuard big(limits, t);
    std::string flood = Preface() + Frame(0x1, 0, 1, std::string(100, 'h'));
    for (int i = 0; i < 3; ++i) flood += Frame(0x9, 0, 1, std::string(8000, 'c'));
    EXPECT_EQ(big.Feed(flood, t), Http2Violation::kHeaderBlock) << "header block past 16 KiB";

    Http2FrameGuard many(limits, t);
    flood = Preface() + Frame(0x1, 0, 1, "h");
    for (int i = 0; i < 17; ++i) flood += Frame(0x9, 0, 1, "c");
    EXPECT_EQ(many.Feed(flood, t), Http2Violation::kHeaderBlock) << "17 CONTINUATIONs of one byte";

    Http2FrameGuard stray(limits, t);
    EXPECT_EQ(stray.Feed(Preface() + Headers(1) + Frame(0x9, 0x4, 1, "c"), t), Http2Violation::kHeaderBlock)
        << "CONTINUATION after a finished block";
    Http2FrameGuard other_stream(limits, t);
    EXPECT_EQ(other_stream.Feed(Preface() + Frame(0x1, 0, 1, "h") + Frame(0x9, 0x4, 3, "c"), t),
              Http2Violation::kHeaderBlock);
    Http2FrameGuard interleaved(limits, t);
    EXPECT_EQ(interleaved.Feed(Preface() + Frame(0x1, 0, 1, "h") + Frame(0x6, 0, 0, std::string(8, 'p')), t),
              Http2Violation::kHeaderBlock)
        << "a PING inside a header block";
  }
  EXPECT_STREQ(Http2ViolationName(Http2Violation::kHeaderBlock), "header_block");
}

TEST(Http2FrameGuard, RapidResetS33) {
  const auto t = Clock::now();
  Http2FrameGuard guard({}, t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  std::uint32_t id = 1;
  for (int i = 0; i < 10; ++i, id += 2) {
    ASSERT_EQ(guard.Feed(Headers(id) + Reset(id), t + std::chrono::seconds(i)), Http2Violation::kNone) << i;
  }
  EXPECT_EQ(guard.Feed(Headers(id) + Reset(id), t + std::chrono::seconds(10)), Http2Violation::kResets);
  EXPECT_EQ(guard.highest_stream_id(), id);
  EXPECT_EQ(std::string(Http2ViolationName(guard.violation())), "rapid_reset");
  // Sticky.
  EXPECT_EQ(guard.Feed(Frame(0x4, 0, 0), t + std::chrono::seconds(11)), Http2Violation::kResets);
}

// The probe's limits without its stream tracking: the rate limit alone.
Http2GuardLimits RateOnly() {
  Http2GuardLimits limits;
  limits.max_open_streams = 0;
  limits.max_pending_streams = 0;
  return limits;
}

TEST(Http2FrameGuard, StreamRateBurstThenRefillS33) {
  const auto t = Clock::now();
  Http2FrameGuard guard(RateOnly(), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  std::uint32_t id = 1;
  for (int i = 0; i < 20; ++i, id += 2) ASSERT_EQ(guard.Feed(Headers(id), t), Http2Violation::kNone) << i;
  // 100 ms later: one more token (10/s).
  ASSERT_EQ(guard.Feed(Headers(id), t + std::chrono::milliseconds(100)), Http2Violation::kNone);
  id += 2;
  // Trailers on an old stream open nothing.
  ASSERT_EQ(guard.Feed(Headers(1), t + std::chrono::milliseconds(100)), Http2Violation::kNone);
  EXPECT_EQ(guard.Feed(Headers(id), t + std::chrono::milliseconds(100)), Http2Violation::kStreamRate);
  EXPECT_EQ(guard.streams_opened(), 22u);
}

TEST(Http2FrameGuard, SlowProbesNeverTripS33) {
  // One probe stream a second for an hour on one connection.
  const auto t = Clock::now();
  Http2FrameGuard guard({}, t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  for (std::uint32_t i = 0; i < 3600; ++i) {
    ASSERT_EQ(guard.Feed(Headers(2 * i + 1) + Frame(0x0, 0x1, 2 * i + 1, "12345"), t + std::chrono::seconds(i)),
              Http2Violation::kNone);
    // gRPC answers: response headers, the message, trailers ending the stream.
    guard.FeedServer(Frame(0x1, 0x4, 2 * i + 1, "h") + Frame(0x0, 0, 2 * i + 1, "12345") +
                     Frame(0x1, 0x5, 2 * i + 1, "t"));
  }
}

// S33: on the probe port too, streams opened under the rate limit but never
// finished (no END_STREAM) are bounded (4), and so are open ones (8, what
// the probe server advertises): each cost gRPC about 8 KB, and 32
// connections opening 2 a second grew the server by 84 MB in 100 s.
TEST(Http2FrameGuard, ProbeStreamsNeverFinishedAreBoundedS33) {
  const auto t = Clock::now();
  Http2FrameGuard pending({}, t);
  ASSERT_EQ(pending.Feed(Preface(), t), Http2Violation::kNone);
  for (std::uint32_t i = 0; i < 4; ++i) {
    ASSERT_EQ(pending.Feed(Headers(2 * i + 1), t + std::chrono::seconds(i)), Http2Violation::kNone) << i;
  }
  EXPECT_EQ(pending.Feed(Headers(9), t + std::chrono::seconds(4)), Http2Violation::kPendingStreams);

  Http2FrameGuard open({}, t);
  ASSERT_EQ(open.Feed(Preface(), t), Http2Violation::kNone);
  for (std::uint32_t i = 0; i < kProbeMaxOpenStreams; ++i) {  // health Watch streams: requests sent, never ended
    ASSERT_EQ(open.Feed(Headers(2 * i + 1) + Frame(0x0, 0x1, 2 * i + 1, "12345"), t + std::chrono::seconds(i)),
              Http2Violation::kNone)
        << i;
  }
  EXPECT_EQ(open.Feed(Headers(2 * kProbeMaxOpenStreams + 1), t + std::chrono::seconds(10)),
            Http2Violation::kOpenStreams);
}

// ---- the API's limits: any rate of calls, bounded open and half-sent streams ----

std::string Data(std::uint32_t stream, bool end) { return Frame(0x0, end ? 0x1 : 0x0, stream, "12345"); }
std::string Trailers(std::uint32_t stream) { return Frame(0x1, 0x5, stream, std::string(8, 't')); }
std::string ServerReset(std::uint32_t stream) { return Reset(stream); }

TEST(Http2FrameGuardApi, ThousandsOfCallsASecondNeverTripS33) {
  // 100,000 unary calls in one second on one connection, each answered.
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 4 << 20), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  for (std::uint32_t i = 0; i < 100000; ++i) {
    const std::uint32_t id = 2 * i + 1;
    ASSERT_EQ(guard.Feed(Headers(id) + Data(id, true), t + std::chrono::microseconds(10 * i)), Http2Violation::kNone)
        << i;
    guard.FeedServer(Frame(0x1, 0x4, id, "h") + Data(id, false) + Trailers(id));
  }
  EXPECT_EQ(guard.open_streams(), 0u);
  EXPECT_EQ(guard.pending_streams(), 0u);
}

TEST(Http2FrameGuardApi, OpenStreamsBeyondTheAdvertisedLimitS33) {
  // 250 watches (requests complete, answers streaming) are fine; the 251st
  // open stream ignores MAX_CONCURRENT_STREAMS.
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 4 << 20), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  std::uint32_t id = 1;
  for (int i = 0; i < 250; ++i, id += 2) {
    ASSERT_EQ(guard.Feed(Headers(id) + Data(id, true), t), Http2Violation::kNone) << i;
    guard.FeedServer(Frame(0x1, 0x4, id, "h") + Data(id, false));
  }
  EXPECT_EQ(guard.open_streams(), 250u);
  // One ends (trailers), another is reset by gRPC: room for two more.
  guard.FeedServer(Trailers(1) + ServerReset(3));
  ASSERT_EQ(guard.Feed(Headers(id) + Data(id, true), t), Http2Violation::kNone);
  id += 2;
  ASSERT_EQ(guard.Feed(Headers(id) + Data(id, true), t), Http2Violation::kNone);
  id += 2;
  EXPECT_EQ(guard.Feed(Headers(id) + Data(id, true), t), Http2Violation::kOpenStreams);
  EXPECT_EQ(std::string(Http2ViolationName(guard.violation())), "open_streams");
}

TEST(Http2FrameGuardApi, StreamsThatNeverSendTheirRequestS33) {
  // HEADERS alone: each waits in gRPC for a message that never comes.
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 4 << 20), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  std::uint32_t id = 1;
  for (int i = 0; i < 32; ++i, id += 2) ASSERT_EQ(guard.Feed(Headers(id), t), Http2Violation::kNone) << i;
  EXPECT_EQ(guard.pending_streams(), 32u);
  // A request finished (END_STREAM on its DATA) is no longer pending.
  ASSERT_EQ(guard.Feed(Data(1, false) + Data(1, true), t), Http2Violation::kNone);
  EXPECT_EQ(guard.pending_streams(), 31u);
  ASSERT_EQ(guard.Feed(Headers(id), t), Http2Violation::kNone);
  id += 2;
  EXPECT_EQ(guard.Feed(Headers(id), t), Http2Violation::kPendingStreams);
  EXPECT_EQ(std::string(Http2ViolationName(guard.violation())), "pending_streams");
}

TEST(Http2FrameGuardApi, HalfSentRequestBytesAreBoundedS33) {
  // Twice the largest request (here 64 KiB, so 128 KiB) may be half-sent at
  // once; finished requests no longer count.
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 64 << 10), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  const std::string chunk(16000, 'x');
  for (std::uint32_t id = 1; id <= 7; id += 2) ASSERT_EQ(guard.Feed(Headers(id), t), Http2Violation::kNone);
  // Streams 1..7: 2 frames each, 128,000 bytes in all.
  for (std::uint32_t id = 1; id <= 7; id += 2) {
    ASSERT_EQ(guard.Feed(Frame(0x0, 0, id, chunk) + Frame(0x0, 0, id, chunk), t), Http2Violation::kNone) << id;
  }
  EXPECT_EQ(guard.pending_bytes(), 128000u);
  // Stream 1 finishes: its bytes leave the count; gRPC ending stream 3
  // (trailers) takes its bytes away too.
  ASSERT_EQ(guard.Feed(Frame(0x0, 0x1, 1, "x"), t), Http2Violation::kNone);
  guard.FeedServer(Trailers(3));
  EXPECT_EQ(guard.pending_bytes(), 64000u);
  ASSERT_EQ(guard.Feed(Frame(0x0, 0, 5, chunk) + Frame(0x0, 0, 7, chunk) + Frame(0x0, 0, 5, chunk), t),
            Http2Violation::kNone);
  EXPECT_EQ(guard.Feed(Frame(0x0, 0, 7, chunk) + Frame(0x0, 0, 7, chunk), t), Http2Violation::kPendingBytes);
  EXPECT_EQ(std::string(Http2ViolationName(guard.violation())), "pending_bytes");
}

TEST(Http2FrameGuardApi, ResetsPassAtARateThenTripS33) {
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 4 << 20), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  std::uint32_t id = 1;
  // A burst of 200 cancels, then 50 a second for a minute.
  for (int i = 0; i < 200; ++i, id += 2) ASSERT_EQ(guard.Feed(Headers(id) + Reset(id), t), Http2Violation::kNone) << i;
  for (int i = 0; i < 3000; ++i, id += 2) {
    ASSERT_EQ(guard.Feed(Headers(id) + Reset(id), t + std::chrono::milliseconds(20 * (i + 1))), Http2Violation::kNone)
        << i;
  }
  EXPECT_EQ(guard.open_streams(), 0u);
  // Then a rapid reset: at most a burst's worth passes.
  const auto later = t + std::chrono::seconds(60);
  Http2Violation v = Http2Violation::kNone;
  int passed = 0;
  for (; passed < 1000 && v == Http2Violation::kNone; ++passed, id += 2) v = guard.Feed(Headers(id) + Reset(id), later);
  EXPECT_EQ(v, Http2Violation::kResets);
  EXPECT_LE(passed, 202);
}

TEST(Http2FrameGuardApi, ServerOutputSplitAnywhereS33) {
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 4 << 20), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  std::string out = Frame(0x4, 0, 0, std::string(6, 's'));
  for (std::uint32_t id = 1; id < 200; id += 2) {
    ASSERT_EQ(guard.Feed(Headers(id) + Data(id, true), t), Http2Violation::kNone);
    out += Frame(0x1, 0x4, id, "h") + Frame(0x0, 0, id, std::string(3000, 'd')) + Trailers(id);
  }
  EXPECT_EQ(guard.open_streams(), 100u);
  for (std::size_t i = 0; i < out.size(); i += 7) guard.FeedServer(std::string_view(out).substr(i, 7));
  EXPECT_EQ(guard.open_streams(), 0u);
  EXPECT_EQ(guard.server_boundary(), out.size());
}

TEST(Http2FrameGuardApi, LargerFramesOnceGrpcAdvertisesThemS33) {
  // gRPC raises SETTINGS_MAX_FRAME_SIZE with its bandwidth estimate; a client
  // may then send frames that large, and no larger.
  const auto t = Clock::now();
  Http2FrameGuard guard(ApiGuardLimits(250, 4 << 20), t);
  ASSERT_EQ(guard.Feed(Preface(), t), Http2Violation::kNone);
  auto setting = [](std::uint16_t id, std::uint32_t v) {
    std::string e(6, '\0');
    e[0] = static_cast<char>(id >> 8);
    e[1] = static_cast<char>(id & 0xff);
    for (int i = 0; i < 4; ++i) e[2 + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
    return e;
  };
  const std::string settings = Frame(0x4, 0, 0, setting(0x3, 250) + setting(0x5, 1 << 20) + setting(0x4, 65535));
  // Split inside the payload, and an ACK (no payload) after it.
  guard.FeedServer(settings.substr(0, 14));
  guard.FeedServer(settings.substr(14) + Frame(0x4, 0x1, 0));
  EXPECT_EQ(guard.Feed(Headers(1) + Frame(0x0, 0, 1, std::string(1 << 20, 'x')), t), Http2Violation::kNone);
  EXPECT_EQ(guard.Feed(Frame(0x0, 0, 1, std::string((1 << 20) + 1, 'x')).substr(0, 9), t),
            Http2Violation::kFrameTooLarge);
}

TEST(Http2FrameGuard, GoAwayFrameLayout) {
  const std::string f = Http2GoAwayFrame(7, kHttp2EnhanceYourCalm);
  ASSERT_EQ(f.size(), 17u);
  EXPECT_EQ(f.substr(0, 9), std::string("\0\0\x8\x7\0\0\0\0\0", 9));
  EXPECT_EQ(f.substr(9), std::string("\0\0\0\x7\0\0\0\xb", 8));
}

}  // namespace
}  // namespace deviceapi::server
