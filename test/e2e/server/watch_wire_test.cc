// A watch stream seen from a raw HTTP/2 client that sends nothing after its
// request (S12, S13, S15). The server lets gRPC buffer an event while another
// one waits for the same watcher; whatever it buffers must leave without the
// client doing anything, since no later frame of the client's would make the
// server's transport write. Clients of other stacks (Go's informers) behave
// like this: they read and wait.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "http2_frames.h"
#include "test_support.h"

namespace deviceapi::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Reads frames from `fd` until `deadline`; false when it passes first or the
// connection ends.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}

  bool Next(Http2FrameIn* out, Clock::time_point deadline) {
    while (true) {
      if (TakeHttp2Frame(&buffer_, out)) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char chunk[16384];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kSettings = 0x4;
constexpr std::uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;

// S13, S15: the initial events of a watch (three ADDED and the BOOKMARK that
// ends them, four events queued at once) all reach a client that, after its
// request, only reads. With the stream's first write buffered, its headers
// never left and the client saw nothing at all.
TEST(WatchWire, InitialEventsReachAClientThatOnlyReadsS13S15) {
  TempDir dir;
  RunningServer s = StartServer(dir.File("api.sock"));
  ASSERT_TRUE(s) << s.process->Stderr();
  auto channel = UnixChannel(s.socket);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CreateGpu(channel, "gpu-" + std::to_string(i), i).ok());

  const int fd = ConnectUnix(s.socket);
  ASSERT_GE(fd, 0);
  // Preface and SETTINGS, then the server's SETTINGS and its acknowledgement
  // of ours; everything the connection's start makes the server write is
  // over before the request goes out.
  std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Http2Frame(kSettings, 0, 0);
  ASSERT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL), static_cast<ssize_t>(hello.size()));
  FrameReader reader(fd);
  Http2FrameIn frame;
  bool settings = false, acked = false;
  const auto start_deadline = Clock::now() + std::chrono::seconds(5);
  while (!(settings && acked) && reader.Next(&frame, start_deadline)) {
    if (frame.type == kSettings) ((frame.flags & kAck) ? acked : settings) = true;
  }
  ASSERT_TRUE(settings && acked) << "no SETTINGS exchange";
  const std::string ack = Http2Frame(kSettings, kAck, 0);
  ASSERT_EQ(::send(fd, ack.data(), ack.size(), MSG_NOSIGNAL), static_cast<ssize_t>(ack.size()));
  // Whatever else the start brings (a WINDOW_UPDATE, a PING) is read and
  // left unanswered.
  while (reader.Next(&frame, Clock::now() + std::chrono::milliseconds(200))) {
  }

  v1::WatchGpusRequest request;
  request.mutable_opts()->set_send_initial_events(true);
  const std::string call =
      Http2Frame(kHeaders, kEndHeaders, 1, GrpcCallHeaderBlock("/nvidia.nvsentinel.v1alpha1.GpuService/WatchGpus")) +
      Http2Frame(kData, kEndStream, 1, GrpcMessage(request.SerializeAsString()));
  ASSERT_EQ(::send(fd, call.data(), call.size(), MSG_NOSIGNAL), static_cast<ssize_t>(call.size()));

  // The stream's HEADERS, then the four events as gRPC messages in DATA.
  bool headers = false;
  std::string data;
  int added = 0, bookmarks = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (bookmarks == 0 && reader.Next(&frame, deadline)) {
    if (frame.stream != 1) continue;
    if (frame.type == kHeaders) headers = true;
    if (frame.type != kData) continue;
    data += frame.payload;
    std::string message;
    while (TakeGrpcMessage(&data, &message)) {
      v1::WatchGpusResponse event;
      ASSERT_TRUE(event.ParseFromString(message));
      (event.type() == "BOOKMARK" ? bookmarks : added) += 1;
    }
  }
  EXPECT_TRUE(headers);
  EXPECT_EQ(added, 3);
  EXPECT_EQ(bookmarks, 1);
  ::close(fd);
}

}  // namespace
}  // namespace deviceapi::testing
