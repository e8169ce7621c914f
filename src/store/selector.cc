// Label selector parsing and matching, following the Kubernetes grammar
// (k8s.io/apimachinery/pkg/labels):
//
//   selector    := requirement ( ',' requirement )*
//   requirement := [ '!' ] KEY
//                | KEY ( '=' | '==' | '!=' ) VALUE
//                | KEY ( 'in' | 'notin' ) '(' VALUE ( ',' VALUE )* ')'
//
// Keys are qualified names ([DNS-1123 subdomain '/'] name, name at most 63
// characters of [A-Za-z0-9_.-] starting and ending alphanumeric); values are
// empty or follow the name rule. Set-based operators (>, <) are not supported.
#include "store/selector.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace deviceapi::store {
namespace {

enum class Tok { kEnd, kIdent, kComma, kEq, kDoubleEq, kNotEq, kBang, kOpenPar, kClosePar, kIn, kNotIn, kBad };

struct Token {
  Tok kind;
  std::string text;
};

bool IsSpecial(char c) {
  return c == ',' || c == '=' || c == '!' || c == '(' || c == ')' || c == '<' || c == '>' ||
         std::isspace(static_cast<unsigned char>(c));
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  Token Next() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    if (pos_ >= s_.size()) return {Tok::kEnd, ""};
    char c = s_[pos_];
    switch (c) {
      case ',': ++pos_; return {Tok::kComma, ","};
      case '(': ++pos_; return {Tok::kOpenPar, "("};
      case ')': ++pos_; return {Tok::kClosePar, ")"};
      case '=':
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '=') { pos_ += 2; return {Tok::kDoubleEq, "=="}; }
        ++pos_;
        return {Tok::kEq, "="};
      case '!':
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '=') { pos_ += 2; return {Tok::kNotEq, "!="}; }
        ++pos_;
        return {Tok::kBang, "!"};
      case '<': case '>':
        ++pos_;
        return {Tok::kBad, std::string(1, c)};
      default: break;
    }
    std::size_t start = pos_;
    while (pos_ < s_.size() && !IsSpecial(s_[pos_])) ++pos_;
    std::string word(s_.substr(start, pos_ - start));
    if (word == "in") return {Tok::kIn, word};
    if (word == "notin") return {Tok::kNotIn, word};
    return {Tok::kIdent, word};
  }

  Token Peek() {
    std::size_t saved = pos_;
    Token t = Next();
    pos_ = saved;
    return t;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253,
// starting and ending alphanumeric, each dot-separated label non-empty.
bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    for (char c : label) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::optional<std::string> ValidateKey(std::string_view key) {
  std::string_view name = key;
  std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!IsDns1123Subdomain(prefix)) {
      return "invalid label key \"" + std::string(key) +
             "\": prefix must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters)";
    }
  }
  if (!IsQualifiedNamePart(name)) {
    return "invalid label key \"" + std::string(key) +
           "\": name part must be at most 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric";
  }
  return std::nullopt;
}

std::optional<std::string> ValidateValue(std::string_view value) {
  if (value.empty()) return std::nullopt;
  if (!IsQualifiedNamePart(value)) {
    return "invalid label value \"" + std::string(value) +
           "\": must be empty or at most 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric";
  }
  return std::nullopt;
}

Error Invalid(std::string message) { return MakeError(ErrorCode::kInvalid, "invalid label selector: " + std::move(message)); }

}  // namespace

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector selector;
  Lexer lex(text);
  if (lex.Peek().kind == Tok::kEnd) return selector;  // empty: matches everything

  while (true) {
    Requirement req;
    Token t = lex.Next();
    bool negated = false;
    if (t.kind == Tok::kBang) {
      negated = true;
      t = lex.Next();
    }
    if (t.kind != Tok::kIdent) {
      return Invalid("expected a label key, found " + (t.kind == Tok::kEnd ? std::string("end of input") : "\"" + t.text + "\""));
    }
    if (auto err = ValidateKey(t.text)) return Invalid(*err);
    req.key = t.text;

    Token op = lex.Peek();
    if (negated) {
      req.op = Op::kDoesNotExist;
    } else if (op.kind == Tok::kEnd || op.kind == Tok::kComma) {
      req.op = Op::kExists;
    } else {
      lex.Next();
      switch (op.kind) {
        case Tok::kEq:
        case Tok::kDoubleEq:
        case Tok::kNotEq: {
          req.op = op.kind == Tok::kNotEq ? Op::kNotEquals : Op::kEquals;
          // An empty value is allowed: "k=" matches k with the value "".
          Token v = lex.Peek();
          std::string value;
          if (v.kind == Tok::kIdent) {
            lex.Next();
            value = v.text;
          } else if (v.kind != Tok::kEnd && v.kind != Tok::kComma) {
            return Invalid("expected a value after \"" + op.text + "\", found \"" + v.text + "\"");
          }
          if (auto err = ValidateValue(value)) return Invalid(*err);
          req.values.push_back(std::move(value));
          break;
        }
        case Tok::kIn:
        case Tok::kNotIn: {
          req.op = op.kind == Tok::kIn ? Op::kIn : Op::kNotIn;
          if (lex.Next().kind != Tok::kOpenPar) return Invalid("expected \"(\" after \"" + op.text + "\"");
          // Values separated by commas; an empty slot is the empty value, as in Kubernetes.
          while (true) {
            Token v = lex.Next();
            std::string value;
            if (v.kind == Tok::kIdent) {
              value = v.text;
              v = lex.Next();
            }
            if (auto err = ValidateValue(value)) return Invalid(*err);
            if (v.kind == Tok::kClosePar) {
              if (!(value.empty() && req.values.empty())) req.values.push_back(std::move(value));
              break;
            }
            if (v.kind != Tok::kComma) {
              return Invalid("expected \",\" or \")\" in the value list of \"" + req.key + "\", found " +
                             (v.kind == Tok::kEnd ? std::string("end of input") : "\"" + v.text + "\""));
            }
            req.values.push_back(std::move(value));
          }
          if (req.values.empty()) {
            return Invalid("the value set of \"" + req.key + "\" for \"" + op.text + "\" must not be empty");
          }
          break;
        }
        default:
          return Invalid("expected an operator (=, ==, !=, in, notin) after \"" + req.key + "\", found \"" +
                         op.text + "\"");
      }
    }
    selector.requirements_.push_back(std::move(req));

    Token sep = lex.Next();
    if (sep.kind == Tok::kEnd) break;
    if (sep.kind != Tok::kComma) return Invalid("expected \",\" or end of input, found \"" + sep.text + "\"");
  }
  return selector;
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const Requirement& r : requirements_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    auto in_values = [&] { return std::find(r.values.begin(), r.values.end(), it->second) != r.values.end(); };
    bool ok = false;
    switch (r.op) {
      case Op::kEquals: ok = has && it->second == r.values.front(); break;
      case Op::kNotEquals: ok = !has || it->second != r.values.front(); break;
      case Op::kIn: ok = has && in_values(); break;
      case Op::kNotIn: ok = !has || !in_values(); break;
      case Op::kExists: ok = has; break;
      case Op::kDoesNotExist: ok = !has; break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace deviceapi::store
