#include "base/listen_address.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <cctype>

namespace deviceapi::base {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool ValidHostName(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  }
  return true;
}

}  // namespace

std::string TcpAddress::GrpcTarget() const {
  if (host.empty()) return "[::]:" + std::to_string(port);
  return ToString();
}

std::string TcpAddress::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool TcpAddress::IsLoopback() const {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

bool ParseTcpAddress(std::string_view text, TcpAddress* out, std::string* error) {
  if (StartsWith(text, "tcp://")) text.remove_prefix(6);
  std::string_view host, port;
  if (StartsWith(text, "[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "expected [ipv6]:port";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      *error = "invalid IPv6 address";
      return false;
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *error = "expected host:port";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      *error = "IPv6 hosts must be bracketed, e.g. [::1]:8080";
      return false;
    }
    if (!host.empty() && !ValidHostName(host)) {
      *error = "invalid host";
      return false;
    }
  }
  if (port.empty() || port.size() > 6) {
    *error = port.empty() ? "missing port" : "port out of range";
    return false;
  }
  unsigned long value = 0;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      *error = "port is not a number";
      return false;
    }
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value > 65535) {
    *error = "port out of range";
    return false;
  }
  out->host = std::string(host);
  out->port = static_cast<std::uint16_t>(value);
  return true;
}

bool ParseListenAddress(std::string_view text, ListenAddress* out, std::string* error) {
  if (text.empty()) {
    *error = "empty address";
    return false;
  }
  if (StartsWith(text, "unix-abstract:") || StartsWith(text, "@") || StartsWith(text, "unix:@") ||
      StartsWith(text, "unix://@")) {
    *error = "abstract Unix sockets are not allowed (no file permissions); use a socket path";
    return false;
  }
  std::string_view path;
  if (StartsWith(text, "unix://")) {
    path = text.substr(7);
    if (!StartsWith(path, "/")) {
      *error = "unix:// needs an absolute path (unix:///dir/file.sock)";
      return false;
    }
  } else if (StartsWith(text, "unix:")) {
    path = text.substr(5);
  } else if (StartsWith(text, "/")) {
    path = text;
  } else {
    TcpAddress tcp;
    if (!ParseTcpAddress(text, &tcp, error)) return false;
    *out = tcp;
    return true;
  }
  if (path.empty() || path.back() == '/') {
    *error = "socket path names a directory";
    return false;
  }
  if (path.find('\0') != std::string_view::npos) {
    *error = "socket path contains a NUL byte";
    return false;
  }
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    *error = "socket path longer than " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
             " bytes";
    return false;
  }
  *out = UnixAddress{std::string(path)};
  return true;
}

}  // namespace deviceapi::base
