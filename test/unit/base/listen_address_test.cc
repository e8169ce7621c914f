#include "base/listen_address.h"

#include <gtest/gtest.h>

namespace deviceapi::base {
namespace {

ListenAddress Parse(const std::string& text) {
  ListenAddress out;
  std::string error;
  EXPECT_TRUE(ParseListenAddress(text, &out, &error)) << text << ": " << error;
  return out;
}

std::string Error(const std::string& text) {
  ListenAddress out;
  std::string error;
  EXPECT_FALSE(ParseListenAddress(text, &out, &error)) << text;
  return error;
}

TEST(ListenAddress, UnixForms) {
  EXPECT_EQ(std::get<UnixAddress>(Parse("unix:///var/run/x.sock")).path, "/var/run/x.sock");
  EXPECT_EQ(std::get<UnixAddress>(Parse("unix:/var/run/x.sock")).path, "/var/run/x.sock");
  EXPECT_EQ(std::get<UnixAddress>(Parse("unix:rel/x.sock")).path, "rel/x.sock");
  EXPECT_EQ(std::get<UnixAddress>(Parse("/abs/x.sock")).path, "/abs/x.sock");
}

TEST(ListenAddress, AbstractSocketsRefused) {
  for (const char* text : {"unix-abstract:name", "@name", "unix:@name", "unix://@name"}) {
    EXPECT_NE(Error(text).find("abstract"), std::string::npos) << text;
  }
}

TEST(ListenAddress, BadUnixPaths) {
  EXPECT_NE(Error("unix://relative").find("absolute"), std::string::npos);
  EXPECT_NE(Error("unix:///dir/").find("directory"), std::string::npos);
  EXPECT_NE(Error("unix:///" + std::string(200, 'a')).find("longer than"), std::string::npos);
  EXPECT_NE(Error(std::string("unix:///a\0b", 11)).find("NUL"), std::string::npos);
  EXPECT_FALSE(Error("").empty());
}

TEST(ListenAddress, TcpForms) {
  auto a = std::get<TcpAddress>(Parse(":50051"));
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, 50051);
  EXPECT_EQ(a.GrpcTarget(), "[::]:50051");
  EXPECT_FALSE(a.IsLoopback());
  auto b = std::get<TcpAddress>(Parse("127.0.0.1:0"));
  EXPECT_EQ(b.port, 0);
  EXPECT_TRUE(b.IsLoopback());
  auto c = std::get<TcpAddress>(Parse("[::1]:8443"));
  EXPECT_EQ(c.host, "::1");
  EXPECT_TRUE(c.IsLoopback());
  EXPECT_EQ(c.ToString(), "[::1]:8443");
  EXPECT_TRUE(std::get<TcpAddress>(Parse("localhost:1")).IsLoopback());
  EXPECT_TRUE(std::get<TcpAddress>(Parse("127.8.9.10:1")).IsLoopback());
  EXPECT_FALSE(std::get<TcpAddress>(Parse("128.0.0.1:1")).IsLoopback());
  EXPECT_FALSE(std::get<TcpAddress>(Parse("0.0.0.0:1")).IsLoopback());
  EXPECT_FALSE(std::get<TcpAddress>(Parse("[::]:1")).IsLoopback());
  EXPECT_FALSE(std::get<TcpAddress>(Parse("[::ffff:127.0.0.1]:1")).IsLoopback());
  EXPECT_FALSE(std::get<TcpAddress>(Parse("localhost.evil.com:1")).IsLoopback());
  EXPECT_EQ(std::get<TcpAddress>(Parse("tcp://10.0.0.1:80")).host, "10.0.0.1");
}

TEST(ListenAddress, BadTcp) {
  EXPECT_EQ(Error(":99999"), "port out of range");
  EXPECT_EQ(Error(":65536"), "port out of range");
  EXPECT_EQ(Error(":1234567"), "port out of range");
  EXPECT_EQ(Error(":-1"), "port is not a number");
  EXPECT_EQ(Error(":http"), "port is not a number");
  EXPECT_EQ(Error("host"), "expected host:port");
  EXPECT_EQ(Error("host:"), "missing port");
  EXPECT_FALSE(Error("::1:80").empty());
  EXPECT_FALSE(Error("[::1]").empty());
  EXPECT_FALSE(Error("[zz]:80").empty());
  EXPECT_FALSE(Error("ho st:80").empty());
  EXPECT_FALSE(Error("h\xc3\xa9:80").empty());
}

}  // namespace
}  // namespace deviceapi::base
