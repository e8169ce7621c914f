// The selector grammar of selector.h: a lexer and a recursive-descent parser
// that follow apimachinery's labels.Parse token by token (longest operator
// match, 'in'/'notin' as keywords only where an operator is expected, the
// empty value in "k=", "k in ()" and "k in (a,,b)"), so that both accept the
// same texts.
#include <string>

#include "labels/names.h"
#include "labels/selector.h"
#include "labels/selector_builder.h"

namespace deviceapi::labels {
namespace {

enum class Tok {
  kEnd, kIdent, kComma, kNot, kEquals, kDoubleEquals, kNotEquals, kGreater, kLess,
  kOpen, kClose, kIn, kNotIn, kNul,
};

struct Token {
  Tok kind;
  std::string_view text;
};

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token Next() {
    while (pos_ < s_.size() && IsWhitespace(s_[pos_])) ++pos_;
    if (pos_ == s_.size()) return {Tok::kEnd, {}};
    const std::size_t start = pos_;
    const char c = s_[pos_];
    if (c == '\0') return {Tok::kNul, s_.substr(pos_, 1)};
    if (IsSpecial(c)) {
      ++pos_;
      // The longest operator: "==" and "!=" are the only two-character ones.
      if ((c == '=' || c == '!') && pos_ < s_.size() && s_[pos_] == '=') {
        ++pos_;
        return {c == '=' ? Tok::kDoubleEquals : Tok::kNotEquals, s_.substr(start, 2)};
      }
      switch (c) {
        case '=': return {Tok::kEquals, s_.substr(start, 1)};
        case '!': return {Tok::kNot, s_.substr(start, 1)};
        case '(': return {Tok::kOpen, s_.substr(start, 1)};
        case ')': return {Tok::kClose, s_.substr(start, 1)};
        case ',': return {Tok::kComma, s_.substr(start, 1)};
        case '>': return {Tok::kGreater, s_.substr(start, 1)};
        default: return {Tok::kLess, s_.substr(start, 1)};
      }
    }
    while (pos_ < s_.size() && !IsWhitespace(s_[pos_]) && !IsSpecial(s_[pos_]) && s_[pos_] != '\0') ++pos_;
    const std::string_view word = s_.substr(start, pos_ - start);
    if (word == "in") return {Tok::kIn, word};
    if (word == "notin") return {Tok::kNotIn, word};
    return {Tok::kIdent, word};
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

// Printable and bounded: an error never echoes a huge selector back.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  for (char c : s.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

class Parser {
 public:
  Parser(std::string_view text, const SelectorLimits& limits) : lex_(text), limits_(limits) {
    ahead_ = lex_.Next();
  }

  // Empty on success, else why not.
  std::string Parse(std::vector<RequirementText>* out) {
    while (true) {
      const Token t = Peek(kValues);
      if (t.kind == Tok::kEnd) return {};
      if (t.kind != Tok::kIdent && t.kind != Tok::kNot) {
        return Found(t, "expected: !, identifier, or 'end of string'");
      }
      if (limits_.max_requirements != 0 && out->size() == limits_.max_requirements) {
        return "too many requirements: the limit is " + std::to_string(limits_.max_requirements);
      }
      RequirementText r;
      if (std::string err = Requirement(&r); !err.empty()) return "unable to parse requirement: " + err;
      out->push_back(std::move(r));
      const Token sep = Take(kValues);
      if (sep.kind == Tok::kEnd) return {};
      if (sep.kind != Tok::kComma) return Found(sep, "expected: ',' or 'end of string'");
      const Token next = Peek(kValues);
      if (next.kind != Tok::kIdent && next.kind != Tok::kNot) {
        return Found(next, "expected: identifier after ','");
      }
    }
  }

 private:
  // Where an identifier is expected, 'in' and 'notin' are identifiers.
  enum Context { kKeyAndOperator, kValues };

  Token Peek(Context ctx) const { return InContext(ahead_, ctx); }
  Token Take(Context ctx) {
    Token t = InContext(ahead_, ctx);
    ahead_ = lex_.Next();
    return t;
  }
  static Token InContext(Token t, Context ctx) {
    if (ctx == kValues && (t.kind == Tok::kIn || t.kind == Tok::kNotIn)) t.kind = Tok::kIdent;
    return t;
  }
  static std::string Found(const Token& t, const std::string& expected) {
    if (t.kind == Tok::kNul) return "found a NUL byte, " + expected;
    return "found " + Quote(t.text) + ", " + expected;
  }

  std::string Requirement(RequirementText* r) {
    Token t = Take(kValues);
    const bool negated = t.kind == Tok::kNot;
    if (negated) t = Take(kValues);
    if (t.kind != Tok::kIdent) return Found(t, "expected: identifier");
    if (std::string why = QualifiedNameError(t.text); !why.empty()) {
      return "invalid label key " + Quote(t.text) + ": " + why;
    }
    r->key = t.text;
    const Tok next = Peek(kValues).kind;
    if (negated || next == Tok::kEnd || next == Tok::kComma) {
      // "!k" takes no operator: anything after it is the caller's error.
      r->op = negated ? Operator::kDoesNotExist : Operator::kExists;
      return {};
    }
    const Token op = Take(kKeyAndOperator);
    std::string err;
    switch (op.kind) {
      case Tok::kIn: r->op = Operator::kIn; err = ValueSet(r); break;
      case Tok::kNotIn: r->op = Operator::kNotIn; err = ValueSet(r); break;
      case Tok::kEquals: r->op = Operator::kEquals; err = ExactValue(r); break;
      case Tok::kDoubleEquals: r->op = Operator::kDoubleEquals; err = ExactValue(r); break;
      case Tok::kNotEquals: r->op = Operator::kNotEquals; err = ExactValue(r); break;
      case Tok::kGreater: r->op = Operator::kGreaterThan; err = ExactValue(r); break;
      case Tok::kLess: r->op = Operator::kLessThan; err = ExactValue(r); break;
      default: return Found(op, "expected: in, notin, =, ==, !=, gt, lt");
    }
    if (!err.empty()) return err;
    for (std::string_view v : r->values) {
      if (std::string why = LabelValueError(v); !why.empty()) {
        return "invalid label value " + Quote(v) + " for key " + Quote(r->key) + ": " + why;
      }
    }
    if (r->op == Operator::kGreaterThan || r->op == Operator::kLessThan) {
      const std::optional<std::int64_t> n = ParseInt64(r->values.front());
      if (!n) {
        return "for 'Gt', 'Lt' operators, the value must be an integer, found " + Quote(r->values.front());
      }
      r->number = *n;
    }
    return {};
  }

  // "k in (a,b)": values in parentheses; empty slots are the empty value.
  std::string ValueSet(RequirementText* r) {
    const Token open = Take(kValues);
    if (open.kind != Tok::kOpen) return Found(open, "expected: '('");
    const Token first = Peek(kValues);
    if (first.kind == Tok::kClose) {  // "()"
      Take(kValues);
      r->values.emplace_back();
      return {};
    }
    if (first.kind != Tok::kIdent && first.kind != Tok::kComma) {
      return Found(first, "expected: ',', ')' or identifier");
    }
    while (true) {
      const Token t = Take(kValues);
      if (t.kind == Tok::kIdent) {
        r->values.push_back(t.text);
        const Token next = Peek(kValues);
        if (next.kind == Tok::kComma) continue;
        if (next.kind == Tok::kClose) break;
        return Found(next, "expected: ',' or ')'");
      }
      if (t.kind != Tok::kComma) return Found(t, "expected: ',', or identifier");
      if (r->values.empty()) r->values.emplace_back();  // "(,"
      const Tok next = Peek(kValues).kind;
      if (next == Tok::kClose) {                        // ",)"
        r->values.emplace_back();
        break;
      }
      if (next == Tok::kComma) r->values.emplace_back();  // ",,"
    }
    Take(kValues);  // the ')' seen above
    return {};
  }

  // "k=v": one value, or the empty value when none follows.
  std::string ExactValue(RequirementText* r) {
    const Tok next = Peek(kValues).kind;
    if (next == Tok::kEnd || next == Tok::kComma) {
      r->values.emplace_back();
      return {};
    }
    const Token t = Take(kValues);
    if (t.kind != Tok::kIdent) return Found(t, "expected: identifier");
    r->values.push_back(t.text);
    return {};
  }

  Lexer lex_;
  const SelectorLimits& limits_;
  Token ahead_;
};

}  // namespace

ParsedSelector Selector::Parse(std::string_view text, const SelectorLimits& limits) {
  if (limits.max_bytes != 0 && text.size() > limits.max_bytes) {
    return ParsedSelector::Error("invalid label selector: too long: " + std::to_string(text.size()) +
                                 " bytes, the limit is " + std::to_string(limits.max_bytes));
  }
  std::vector<RequirementText> requirements;
  if (std::string err = Parser(text, limits).Parse(&requirements); !err.empty()) {
    return ParsedSelector::Error("invalid label selector: " + err);
  }
  return ParsedSelector::Ok(SelectorBuilder::Build(std::move(requirements)));
}

}  // namespace deviceapi::labels
