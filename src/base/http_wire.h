// HTTP/1.1 on the wire for HttpServer: parsing a request head, formatting a
// response. Pure functions, no sockets.
#pragma once

#include <string>
#include <string_view>

#include "base/http_server.h"

namespace deviceapi::base::http_wire {

inline constexpr std::size_t kMaxHeadBytes = 16 << 10;
inline constexpr std::size_t kMaxBodyBytes = 64 << 10;
// Request bytes the server holds for a connection ahead of their answers:
// two of the largest requests. Requests are answered one per round, so a
// client pipelining faster than that, even one that reads what it is sent,
// would otherwise grow them for as long as it sends; past this the
// connection is not read from until half of them are answered.
inline constexpr std::size_t kMaxUnansweredBytes = 2 * (kMaxHeadBytes + kMaxBodyBytes);

// A parsed request head (up to, without, the blank line); ok == false means
// answer 400 and close.
struct Head {
  bool ok = false;
  HttpRequest request;
  bool keep_alive = true;
  bool chunked = false;
  long long content_length = 0;
};
Head ParseHead(std::string_view head);

// Status line, Content-Type, Content-Length, extra headers, Connection, body
// (no body for HEAD).
std::string FormatResponse(const HttpResponse& res, bool head_only, bool keep_alive);

// A plain-text response with `text` and a newline as its body.
HttpResponse ErrorResponse(int status, const char* text);

}  // namespace deviceapi::base::http_wire
