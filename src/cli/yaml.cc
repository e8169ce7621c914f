#include "cli/yaml.h"

#include <cctype>
#include <sstream>
#include <vector>

namespace deviceapi::cli {
namespace {

// ---- emitter ------------------------------------------------------------

bool LooksNumeric(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i >= s.size()) return false;
  bool digit = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) digit = true;
    else if (c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+' && c != '_') return false;
  }
  return digit;
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty() || LooksNumeric(s)) return true;
  static const char* kReserved[] = {"true", "false", "null", "~", "yes", "no", "on", "off",
                                    "True", "False", "Null", "Yes", "No", "On", "Off",
                                    "TRUE", "FALSE", "NULL", "YES", "NO", "ON", "OFF"};
  for (const char* r : kReserved)
    if (s == r) return true;
  if (std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back())))
    return true;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos)
    return true;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos ||
         s.back() == ':';
}

std::string Scalar(const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return NeedsQuotes(s) ? Json(s).dump() : s;
  }
  return v.dump();  // numbers, booleans, null
}

bool IsEmptyCollection(const Json& v) {
  return (v.is_object() || v.is_array()) && v.empty();
}

void Emit(const Json& v, int indent, std::ostringstream& out);

void EmitValueAfterKey(const Json& v, int indent, std::ostringstream& out) {
  if (IsEmptyCollection(v)) {
    out << (v.is_object() ? " {}\n" : " []\n");
  } else if (v.is_object()) {
    out << "\n";
    Emit(v, indent + 2, out);
  } else if (v.is_array()) {
    out << "\n";
    Emit(v, indent, out);  // kubectl style: list items at the key's indent
  } else {
    out << " " << Scalar(v) << "\n";
  }
}

void Emit(const Json& v, int indent, std::ostringstream& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << pad << Scalar(Json(it.key())) << ":";
      EmitValueAfterKey(it.value(), indent, out);
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_object() && !item.empty()) {
        // First key on the dash line, the rest aligned under it.
        bool first = true;
        for (auto it = item.begin(); it != item.end(); ++it) {
          out << (first ? pad + "- " : pad + "  ") << Scalar(Json(it.key())) << ":";
          EmitValueAfterKey(it.value(), indent + 2, out);
          first = false;
        }
      } else if (item.is_array() && !item.empty()) {
        out << pad << "-\n";
        Emit(item, indent + 2, out);
      } else {
        out << pad << "- " << (IsEmptyCollection(item) ? (item.is_object() ? "{}" : "[]")
                                                         : Scalar(item))
            << "\n";
      }
    }
  } else {
    out << pad << Scalar(v) << "\n";
  }
}

// ---- parser -------------------------------------------------------------

struct Line {
  int number;   // 1-based, for messages
  int indent;   // leading spaces
  std::string text;  // without indent and trailing comment/space
};

Status Fail(int line, const std::string& what) {
  return Status(grpc::StatusCode::INVALID_ARGUMENT,
                "yaml line " + std::to_string(line) + ": " + what);
}

// Strips a trailing " # comment" outside quotes.
std::string StripComment(const std::string& s) {
  char quote = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])))) {
      return s.substr(0, i);
    }
  }
  return s;
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF). JSON values hold only such text.
bool IsUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c < 0x80) n = 0;
    else if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) n = 2, lo = 0xA0;
    else if (c == 0xED) n = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) n = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else if (c == 0xF4) n = 3, hi = 0x8F;
    else return false;
    if (i + n >= s.size() && n > 0) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string TrimRight(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

class YamlParser {
 public:
  explicit YamlParser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  StatusOr<Json> Document() {
    if (lines_.empty()) return Json::object();
    Json v;
    const char first = lines_[0].text[0];
    if (first == '{' || first == '[') {
      // The whole document is one flow collection (JSON), as ToYaml writes
      // an empty one ("{}"), possibly over several lines.
      std::string text;
      for (const Line& line : lines_) text += line.text + "\n";
      if (Status s = ScalarValue(lines_[0].number, text, &v); !s.ok()) return s;
      return v;
    }
    if (Status s = Block(lines_[0].indent, &v); !s.ok()) return s;
    if (pos_ < lines_.size()) return Fail(lines_[pos_].number, "unexpected indentation");
    return v;
  }

 private:
  Status Block(int indent, Json* out) {
    const Line& first = lines_[pos_];
    // Hostile input must not exhaust the stack.
    if (++depth_ > kMaxDepth) return Fail(first.number, "nesting deeper than 64 levels");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    if (first.text.rfind("- ", 0) == 0 || first.text == "-") return Sequence(indent, out);
    return Mapping(indent, out);
  }

  Status Sequence(int indent, Json* out) {
    *out = Json::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           (lines_[pos_].text.rfind("- ", 0) == 0 || lines_[pos_].text == "-")) {
      Line& line = lines_[pos_];
      std::string rest = line.text.size() > 1 ? line.text.substr(2) : "";
      std::size_t lead = 0;
      while (lead < rest.size() && rest[lead] == ' ') ++lead;
      rest = rest.substr(lead);
      Json item;
      if (rest.empty()) {
        ++pos_;
        if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
          if (Status s = Block(lines_[pos_].indent, &item); !s.ok()) return s;
        }
      } else if (IsMappingEntry(rest)) {
        // "- key: value": the item is a mapping whose first line sits after the dash.
        line.indent = indent + 2 + static_cast<int>(lead);
        line.text = rest;
        if (Status s = Mapping(line.indent, &item); !s.ok()) return s;
      } else {
        if (Status s = ScalarValue(line.number, rest, &item); !s.ok()) return s;
        ++pos_;
      }
      out->push_back(std::move(item));
    }
    return Status();
  }

  static bool IsMappingEntry(const std::string& text) {
    return !FindColon(text).empty() || (text.size() > 0 && text.back() == ':' &&
                                        text[0] != '"' && text[0] != '\'');
  }

  // Position of the key/value colon as a 1-element string marker, or "".
  static std::string FindColon(const std::string& text) {
    std::size_t p = ColonPos(text);
    return p == std::string::npos ? "" : ":";
  }

  static std::size_t ColonPos(const std::string& text) {
    char quote = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (quote) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
        continue;
      }
      if ((c == '"' || c == '\'') && i == 0) { quote = c; continue; }
      // A flow collection only where the text starts; inside a plain key
      // ("t[pe") a bracket is an ordinary character.
      if ((c == '{' || c == '[') && i == 0) return std::string::npos;
      if (c == ':' && (i + 1 == text.size() || text[i + 1] == ' ')) return i;
    }
    return std::string::npos;
  }

  Status Mapping(int indent, Json* out) {
    *out = Json::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent) {
      const Line& line = lines_[pos_];
      if (line.text.rfind("- ", 0) == 0 || line.text == "-")
        return Fail(line.number, "a list item where a key was expected");
      std::size_t colon = ColonPos(line.text);
      if (colon == std::string::npos) return Fail(line.number, "expected \"key: value\"");
      Json key;
      if (Status s = ScalarValue(line.number, TrimRight(line.text.substr(0, colon)), &key);
          !s.ok())
        return s;
      std::string k = key.is_string() ? key.get<std::string>() : key.dump();
      if (out->contains(k)) return Fail(line.number, "duplicate key \"" + k + "\"");
      std::string rest = line.text.substr(colon + 1);
      std::size_t lead = rest.find_first_not_of(' ');
      rest = lead == std::string::npos ? "" : rest.substr(lead);
      int number = line.number;
      ++pos_;
      Json value;
      if (!rest.empty()) {
        if (Status s = ScalarValue(number, rest, &value); !s.ok()) return s;
      } else if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
        if (Status s = Block(lines_[pos_].indent, &value); !s.ok()) return s;
      } else if (pos_ < lines_.size() && lines_[pos_].indent == indent &&
                 lines_[pos_].text.rfind("-", 0) == 0) {
        // "key:\n- a\n- b": a sequence at the key's own indent.
        if (Status s = Sequence(indent, &value); !s.ok()) return s;
      }  // else null
      (*out)[k] = std::move(value);
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent)
      return Fail(lines_[pos_].number, "unexpected indentation");
    return Status();
  }

  static Status ScalarValue(int number, const std::string& text, Json* out) {
    if (text.empty()) {
      *out = nullptr;
      return Status();
    }
    char c = text[0];
    if (c == '{' || c == '[') {
      Json v = Json::parse(text, nullptr, false);
      if (v.is_discarded()) return Fail(number, "bad flow collection (write it as JSON)");
      *out = std::move(v);
      return Status();
    }
    if (c == '"') {
      Json v = Json::parse(text, nullptr, false);
      if (v.is_discarded() || !v.is_string()) return Fail(number, "bad double-quoted string");
      *out = std::move(v);
      return Status();
    }
    if (c == '\'') {
      std::string s;
      std::size_t i = 1;
      for (; i < text.size(); ++i) {
        if (text[i] == '\'') {
          if (i + 1 < text.size() && text[i + 1] == '\'') { s += '\''; ++i; continue; }
          break;
        }
        s += text[i];
      }
      if (i != text.size() - 1) return Fail(number, "bad single-quoted string");
      *out = s;
      return Status();
    }
    if (c == '&' || c == '*' || c == '!' || c == '|' || c == '>' || c == '%' || c == '@' ||
        c == '`')
      return Fail(number, std::string("unsupported YAML feature '") + c + "'");
    if (text == "true" || text == "True" || text == "TRUE") *out = true;
    else if (text == "false" || text == "False" || text == "FALSE") *out = false;
    else if (text == "null" || text == "Null" || text == "NULL" || text == "~") *out = nullptr;
    else *out = text;
    return Status();
  }

  static constexpr int kMaxDepth = 64;
  std::vector<Line> lines_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::string ToYaml(const Json& value) {
  std::ostringstream out;
  if (IsEmptyCollection(value)) return value.is_object() ? "{}\n" : "[]\n";
  Emit(value, 0, out);
  return out.str();
}

StatusOr<Json> ParseYaml(std::string_view text) {
  std::vector<Line> lines;
  std::istringstream in{std::string(text)};
  std::string raw;
  int number = 0;
  bool seen_content = false;
  while (std::getline(in, raw)) {
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (!IsUtf8(raw)) return Fail(number, "not valid UTF-8");
    if (raw.find('\t') != std::string::npos && raw.find_first_not_of(" \t") != std::string::npos &&
        raw.find_first_not_of(' ') < raw.size() && raw[raw.find_first_not_of(' ')] == '\t')
      return Fail(number, "tabs are not allowed for indentation");
    std::string body = TrimRight(StripComment(raw));
    std::size_t indent = body.find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    if (body == "---" && !seen_content) continue;
    if (body == "---" || body == "...") return Fail(number, "only one document is supported");
    seen_content = true;
    lines.push_back({number, static_cast<int>(indent), body.substr(indent)});
  }
  YamlParser parser(std::move(lines));
  return parser.Document();
}

}  // namespace deviceapi::cli
