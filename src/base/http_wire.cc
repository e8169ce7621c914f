#include "base/http_wire.h"

#include <algorithm>
#include <cctype>

namespace deviceapi::base::http_wire {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Head ParseHead(std::string_view head) {
  Head h;
  std::size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return h;
  }
  h.request.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target.empty() || (version != "HTTP/1.1" && version != "HTTP/1.0")) return h;
  // Origin form only ("/path?query"): a handler never sees a path that does
  // not start with '/' ("GET ?a", "GET metrics"). The absolute form
  // ("http://host/path"), which servers must also take, is reduced to it.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.substr(0, scheme.size()) == scheme) {
      const std::size_t slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  if (target.front() != '/') return h;
  std::size_t q = target.find('?');
  h.request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) h.request.query = std::string(target.substr(q + 1));
  h.keep_alive = version == "HTTP/1.1";
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  bool seen_length = false;
  while (!rest.empty()) {
    std::size_t end = rest.find("\r\n");
    std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    if (field.empty()) continue;
    std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return h;
    // RFC 9112 5.1: whitespace between a field's name and its colon (or a
    // folded line's leading whitespace) is refused, not trimmed.
    if (field.substr(0, colon).find_first_of(" \t") != std::string_view::npos) return h;
    const std::string name = Lower(field.substr(0, colon));
    const std::string value = Lower(Trim(field.substr(colon + 1)));
    if (name == "connection") {
      if (value.find("close") != std::string::npos) h.keep_alive = false;
      if (value.find("keep-alive") != std::string::npos) h.keep_alive = true;
    } else if (name == "transfer-encoding") {
      h.chunked = true;
    } else if (name == "content-length") {
      if (value.empty() || value.size() > 18 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        return h;
      }
      // RFC 9112 6.3: lengths that disagree leave the request's end
      // unknown; the same length repeated is harmless.
      const long long length = std::stoll(value);
      if (seen_length && length != h.content_length) return h;
      seen_length = true;
      h.content_length = length;
    }
  }
  h.ok = true;
  return h;
}

std::string FormatResponse(const HttpResponse& res, bool head_only, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + Reason(res.status) + "\r\n";
  out += "Content-Type: " + res.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  for (const auto& [name, value] : res.headers) out += name + ": " + value + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!head_only) out += res.body;
  return out;
}

HttpResponse ErrorResponse(int status, const char* text) {
  HttpResponse r;
  r.status = status;
  r.body = std::string(text) + "\n";
  return r;
}

}  // namespace deviceapi::base::http_wire
