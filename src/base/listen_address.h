// The listener addresses operators pass in flags, parsed once and checked
// before anything binds.
//
//   unix:///abs/path, unix:/abs/path, unix:rel/path, /abs/path  -> Unix socket
//   host:port, :port, [v6]:port                                 -> TCP
//
// Abstract Unix sockets (unix-abstract:name, unix:@name, @name) are refused:
// they carry no file permissions, so any process in the network namespace
// could reach the API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace deviceapi::base {

struct UnixAddress {
  std::string path;
};

struct TcpAddress {
  std::string host;  // "" means every interface
  std::uint16_t port = 0;  // 0: the kernel picks one

  // Address in gRPC's URI form ("[::]:50051" for all interfaces).
  std::string GrpcTarget() const;
  // "host:port" for logs, with IPv6 hosts bracketed.
  std::string ToString() const;
  // 127.0.0.0/8, ::1 or "localhost".
  bool IsLoopback() const;
};

using ListenAddress = std::variant<UnixAddress, TcpAddress>;

// Parses `text`; on failure returns false and a short reason in `error`
// (e.g. "port out of range"), without the flag name.
bool ParseListenAddress(std::string_view text, ListenAddress* out, std::string* error);
bool ParseTcpAddress(std::string_view text, TcpAddress* out, std::string* error);

}  // namespace deviceapi::base
