#include "cli/yaml.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

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

// The escape EscapeUnsafeCodePoints writes for the code point whose UTF-8
// encoding starts at s[i] (and its length), or nullptr for any other.
const char* UnsafeCodePointAt(std::string_view s, std::size_t i, std::size_t* length) {
  static const char* const kC1[32] = {
      "\\u0080", "\\u0081", "\\u0082", "\\u0083", "\\u0084", "\\u0085", "\\u0086", "\\u0087",
      "\\u0088", "\\u0089", "\\u008a", "\\u008b", "\\u008c", "\\u008d", "\\u008e", "\\u008f",
      "\\u0090", "\\u0091", "\\u0092", "\\u0093", "\\u0094", "\\u0095", "\\u0096", "\\u0097",
      "\\u0098", "\\u0099", "\\u009a", "\\u009b", "\\u009c", "\\u009d", "\\u009e", "\\u009f"};
  auto byte = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  if (byte(i) == 0xc2 && byte(i + 1) >= 0x80 && byte(i + 1) <= 0x9f) {
    *length = 2;
    return kC1[byte(i + 1) - 0x80];
  }
  *length = 3;
  if (byte(i) == 0xe2 && byte(i + 1) == 0x80 && byte(i + 2) == 0xa8) return "\\u2028";
  if (byte(i) == 0xe2 && byte(i + 1) == 0x80 && byte(i + 2) == 0xa9) return "\\u2029";
  if (byte(i) == 0xef && byte(i + 1) == 0xbb && byte(i + 2) == 0xbf) return "\\ufeff";
  if (byte(i) == 0xef && byte(i + 1) == 0xbf && byte(i + 2) == 0xbe) return "\\ufffe";
  if (byte(i) == 0xef && byte(i + 1) == 0xbf && byte(i + 2) == 0xbf) return "\\uffff";
  return nullptr;
}

bool HasUnsafeCodePoint(std::string_view s) {
  std::size_t length = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) >= 0xc2 && UnsafeCodePointAt(s, i, &length) != nullptr)
      return true;
  return false;
}

// What a YAML 1.1 reader (PyYAML, go-yaml v2) resolves a plain scalar to
// other than a string, beyond LooksNumeric and the reserved words: integers
// in base 2, 8 and 16 and sexagesimal ("0x1F", "0o17", "0b101", "1:30"),
// .inf and .nan, timestamps ("2026-01-02", "2026-01-02T03:04:05Z"), the
// merge key and the value indicator.
bool Yaml11Typed(const std::string& s) {
  static const char* kWords[] = {"y", "Y", "n", "N", "=", "<<", ".inf", ".Inf", ".INF", "-.inf",
                                 "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN"};
  for (const char* w : kWords)
    if (s == w) return true;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (s.size() > i + 2 && s[i] == '0' && std::string_view("xXoObB").find(s[i + 1]) != std::string_view::npos)
    return true;
  auto digit = [&](std::size_t k) { return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])); };
  if (digit(i) && s.find(':') != std::string::npos &&
      s.find_first_not_of("0123456789:._", i) == std::string::npos)
    return true;
  // A date, alone or starting a timestamp: dddd-d(d)-d(d).
  return digit(0) && digit(1) && digit(2) && digit(3) && s.size() >= 8 && s[4] == '-' && digit(5);
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty() || LooksNumeric(s) || Yaml11Typed(s) || HasUnsafeCodePoint(s)) return true;
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
  // At the start of a line "..." ends a document (a key written plain there).
  if (s.rfind("...", 0) == 0) return true;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos ||
         s.back() == ':';
}

// ParseYaml bounds bracket nesting over the whole text, brackets inside
// scalars included (FlowNestingTooDeep). A scalar whose own brackets close
// and nest at most 8 deep is written as it is; any other one has its
// opening brackets escaped, so that whatever ToYaml writes reads back.
bool BracketsStayShallow(const std::string& s) {
  int depth = 0;
  for (char c : s) {
    if (c == '[' || c == '{') {
      if (++depth > 8) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return depth == 0;
}

// Replaces each byte `c` of `quoted` with `escape` (ASCII bytes are never
// part of a longer UTF-8 sequence).
void EscapeByte(std::string& quoted, char c, const char* escape) {
  for (std::size_t at = quoted.find(c); at != std::string::npos; at = quoted.find(c, at))
    quoted.replace(at, 1, escape);
}

std::string Scalar(const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    const bool shallow = BracketsStayShallow(s);
    if (shallow && !NeedsQuotes(s)) return s;
    // JSON's escapes are YAML's, but JSON leaves DEL raw and YAML does not
    // allow it (ParseYaml refuses it): escape it too.
    std::string quoted = EscapeUnsafeCodePoints(Json(s).dump());
    EscapeByte(quoted, '\x7f', "\\u007f");
    if (!shallow) {
      EscapeByte(quoted, '[', "\\u005b");
      EscapeByte(quoted, '{', "\\u007b");
    }
    return quoted;
  }
  return v.dump();  // numbers, booleans, null
}

bool IsEmptyCollection(const Json& v) {
  return (v.is_object() || v.is_array()) && v.empty();
}

void Emit(const Json& v, int indent, std::ostringstream& out);

// `list_indent`: where the items of a list value go (kubectl writes them at
// the key's own indent).
void EmitValue(const Json& v, int indent, int list_indent, std::ostringstream& out) {
  if (IsEmptyCollection(v)) {
    out << (v.is_object() ? " {}\n" : " []\n");
  } else if (v.is_object()) {
    out << "\n";
    Emit(v, indent + 2, out);
  } else if (v.is_array()) {
    out << "\n";
    Emit(v, list_indent, out);
  } else {
    out << " " << Scalar(v) << "\n";
  }
}

// YAML limits an implicit key ("key: value") to 1024 characters on one
// line, and yaml-cpp counts the quotes and escapes as written: "[" escaped
// as "\u005b" makes a key of 200 characters 1200 long. Longer keys are
// written explicitly ("? key" then ": value"), which has no such limit. The
// bound counts bytes, never fewer than characters.
constexpr std::size_t kLongestImplicitKey = 1000;

// One mapping entry whose key starts after `lead` (its indent, or "- " for
// a list item's first key) and whose other lines start at column `indent`.
void EmitEntry(const std::string& lead, int indent, const std::string& key, const Json& value,
               std::ostringstream& out) {
  const std::string written = Scalar(Json(key));
  if (written.size() <= kLongestImplicitKey) {
    out << lead << written << ":";
    EmitValue(value, indent, indent, out);
  } else {
    out << lead << "? " << written << "\n" << std::string(indent, ' ') << ":";
    EmitValue(value, indent, indent + 2, out);
  }
}

void Emit(const Json& v, int indent, std::ostringstream& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) EmitEntry(pad, indent, it.key(), it.value(), out);
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_object() && !item.empty()) {
        // First key on the dash line, the rest aligned under it.
        bool first = true;
        for (auto it = item.begin(); it != item.end(); ++it) {
          EmitEntry(first ? pad + "- " : pad + "  ", indent + 2, it.key(), it.value(), out);
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

// ---- parser (yaml-cpp) ----------------------------------------------------

constexpr int kMaxDepth = 64;
// Aliases may repeat a subtree many times over; the expanded document is
// bounded (a GPU has a few dozen nodes).
constexpr std::size_t kMaxNodes = 100000;

// `line`: 0-based, as yaml-cpp marks count (-1: unknown).
// One line, whatever keys or tags `what` quotes.
Status Fail(int line, std::string what) {
  std::replace(what.begin(), what.end(), '\n', ' ');
  std::replace(what.begin(), what.end(), '\r', ' ');
  return Status(grpc::StatusCode::INVALID_ARGUMENT,
                "yaml line " + std::to_string(std::max(line, 0) + 1) + ": " + what);
}

bool ValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    // Continuation bytes that follow the lead byte c.
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
    if (n == 4) return false;
    std::uint32_t cp = n == 0 ? c : (c & (0x3f >> n));
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// The 0-based line of the first control character YAML does not allow
// (C0 other than tab, line feed and carriage return, and DEL), or -1. A file
// that starts with NUL bytes would otherwise be read as UTF-16 or UTF-32.
int FirstControlCharacterLine(std::string_view s) {
  int line = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n') ++line;
    else if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) return line;
  }
  return -1;
}

// yaml-cpp 0.7 turns some escapes of double-quoted strings into bytes that
// are not UTF-8: "\N" and "\_" into the single bytes 0x85 and 0xA0, and one
// that names no character ("\U0C002020") into whatever its number encodes.
constexpr const char* kEscapeNotUtf8 =
    "a string is not valid UTF-8 after its escapes (write the character itself instead of "
    "\\N or \\_)";

bool IsStandardTag(const std::string& tag, const char* name) {
  return tag == std::string("tag:yaml.org,2002:") + name;
}

class Converter {
 public:
  Status Convert(const YAML::Node& node, int depth, Json* out) {
    if (depth > kMaxDepth) return Fail(node.Mark().line, "nesting deeper than 64 levels");
    if (++nodes_ > kMaxNodes)
      return Fail(node.Mark().line, "more than 100000 values (after expanding aliases)");
    const std::string& tag = node.Tag();
    switch (node.Type()) {
      case YAML::NodeType::Null:
        *out = nullptr;
        return Status();
      case YAML::NodeType::Scalar:
        return Scalar(node, out);
      case YAML::NodeType::Sequence: {
        if (tag != "?" && tag != "!" && !IsStandardTag(tag, "seq"))
          return Fail(node.Mark().line, "unsupported tag " + tag);
        *out = Json::array();
        for (const auto& item : node) {
          Json value;
          if (Status s = Convert(item, depth + 1, &value); !s.ok()) return s;
          out->push_back(std::move(value));
        }
        return Status();
      }
      case YAML::NodeType::Map: {
        if (tag != "?" && tag != "!" && !IsStandardTag(tag, "map"))
          return Fail(node.Mark().line, "unsupported tag " + tag);
        *out = Json::object();
        for (const auto& entry : node) {
          if (!entry.first.IsScalar() && !entry.first.IsNull())
            return Fail(entry.first.Mark().line, "keys must be scalars");
          const std::string key = entry.first.IsNull() ? "" : entry.first.Scalar();
          if (!ValidUtf8(key)) return Fail(entry.first.Mark().line, kEscapeNotUtf8);
          if (out->contains(key)) return Fail(entry.first.Mark().line, "duplicate key \"" + key + "\"");
          Json value;
          if (Status s = Convert(entry.second, depth + 1, &value); !s.ok()) return s;
          (*out)[key] = std::move(value);
        }
        return Status();
      }
      default:
        *out = nullptr;
        return Status();
    }
  }

 private:
  // Plain scalars stay strings except true/false (protobuf's JSON reader
  // takes numbers written as strings); quoted and !!str ones are strings.
  static Status Scalar(const YAML::Node& node, Json* out) {
    const std::string& tag = node.Tag();
    const std::string& text = node.Scalar();
    if (!ValidUtf8(text)) return Fail(node.Mark().line, kEscapeNotUtf8);
    if (tag == "!" || IsStandardTag(tag, "str")) {
      *out = text;
    } else if (tag == "?" || IsStandardTag(tag, "bool") || IsStandardTag(tag, "int") ||
               IsStandardTag(tag, "float") || IsStandardTag(tag, "null")) {
      if (text == "true" || text == "True" || text == "TRUE") *out = true;
      else if (text == "false" || text == "False" || text == "FALSE") *out = false;
      else if (IsStandardTag(tag, "bool")) return Fail(node.Mark().line, "not a boolean: " + text);
      else if (IsStandardTag(tag, "null")) *out = nullptr;
      else *out = text;
    } else {
      return Fail(node.Mark().line, "unsupported tag " + tag);
    }
    return Status();
  }

  std::size_t nodes_ = 0;
};

// The line `index` (0-based) of `text`.
std::string_view LineOf(std::string_view text, std::size_t index) {
  std::size_t begin = 0;
  for (std::size_t i = 0; i < index; ++i) {
    begin = text.find('\n', begin);
    if (begin == std::string_view::npos) return {};
    ++begin;
  }
  std::size_t end = text.find('\n', begin);
  return text.substr(begin, end == std::string_view::npos ? text.size() - begin : end - begin);
}

// yaml-cpp backtracks exponentially on deeply nested, unclosed flow
// collections ("[[[[..." took over 10 s at 80 levels, also where a quote
// left open makes them text), so brackets are bounded before yaml-cpp sees
// the text, counted everywhere, quoted or not. Returns the 0-based line
// where the bound is passed, or -1.
constexpr int kMaxFlowDepth = 32;

int FlowNestingTooDeep(std::string_view text) {
  int depth = 0, line = 0;
  for (const char c : text) {
    if (c == '\n') ++line;
    if (c == '[' || c == '{') {
      if (++depth > kMaxFlowDepth) return line;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return -1;
}

// Counts the documents of a stream without building them, stopping at
// `limit`. yaml-cpp 0.7's LoadAll never ends on a node followed by a stray
// comma at document level ("[],", "\"x\","): every pass yields one more
// empty document without consuming the comma. Counting with a limit ends it,
// and the second document's mark says where the stray content starts.
class DocumentCounter : public YAML::EventHandler {
 public:
  int count = 0;
  YAML::Mark last_start;
  void OnDocumentStart(const YAML::Mark& mark) override {
    ++count;
    last_start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::string EscapeUnsafeCodePoints(const std::string& json_text) {
  if (!HasUnsafeCodePoint(json_text)) return json_text;
  std::string out;
  out.reserve(json_text.size() + 16);
  for (std::size_t i = 0; i < json_text.size();) {
    std::size_t length = 0;
    const char* escape = static_cast<unsigned char>(json_text[i]) >= 0xc2
                             ? UnsafeCodePointAt(json_text, i, &length)
                             : nullptr;
    if (escape != nullptr) {
      out += escape;
      i += length;
    } else {
      out += json_text[i++];
    }
  }
  return out;
}

std::string ToYaml(const Json& value) {
  std::ostringstream out;
  if (IsEmptyCollection(value)) return value.is_object() ? "{}\n" : "[]\n";
  Emit(value, 0, out);
  return out.str();
}

StatusOr<Json> ParseYaml(std::string_view text) {
  if (!ValidUtf8(text))
    return Status(grpc::StatusCode::INVALID_ARGUMENT, "yaml: the file is not valid UTF-8");
  if (int line = FirstControlCharacterLine(text); line >= 0)
    return Fail(line, "control characters are not allowed");
  if (int line = FlowNestingTooDeep(text); line >= 0)
    return Fail(line, "brackets nested deeper than " + std::to_string(kMaxFlowDepth) + " levels");
  YAML::Node doc;
  try {
    const std::string copy(text);
    std::istringstream stream(copy);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.count < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.count == 0) return Json::object();
    if (counter.count > 1)
      return Fail(counter.last_start.line,
                  "only one document is supported (or stray content after the first one)");
    doc = YAML::Load(copy);
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports a tab in the indentation as some other error.
    std::string_view line = LineOf(text, static_cast<std::size_t>(std::max(e.mark.line, 0)));
    std::size_t content = line.find_first_not_of(" \t");
    if (content != std::string_view::npos &&
        line.substr(0, content).find('\t') != std::string_view::npos)
      return Fail(e.mark.line, "tabs are not allowed for indentation");
    return Fail(e.mark.line, e.msg);
  }
  Json out;
  Converter converter;
  if (Status s = converter.Convert(doc, 0, &out); !s.ok()) return s;
  return out;
}

}  // namespace deviceapi::cli
