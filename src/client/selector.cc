// A small recursive-descent parser for Kubernetes label selector text.
#include "deviceapi/selector.h"

#include <algorithm>
#include <cctype>

namespace deviceapi {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
         c == '/';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Status Fail(const std::string& what) const {
    return Status(grpc::StatusCode::INVALID_ARGUMENT,
                  "invalid label selector \"" + std::string(s_) + "\": " + what);
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= s_.size();
  }
  bool Consume(std::string_view tok) {
    SkipSpace();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  // A key or value token; may be empty.
  std::string Word() {
    SkipSpace();
    std::size_t start = pos_;
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  // "in" / "notin" only as whole words followed by '('.
  bool Keyword(std::string_view kw) {
    SkipSpace();
    std::size_t save = pos_;
    if (s_.substr(pos_, kw.size()) != kw) return false;
    pos_ += kw.size();
    if (pos_ < s_.size() && IsNameChar(s_[pos_])) {
      pos_ = save;
      return false;
    }
    return true;
  }

  Status Values(std::vector<std::string>* out) {
    if (!Consume("(")) return Fail("expected '('");
    if (Consume(")")) return Fail("the value set must not be empty");
    while (true) {
      std::string v = Word();
      if (Status s = CheckValue(v); !s.ok()) return s;
      out->push_back(std::move(v));
      if (Consume(")")) break;
      if (!Consume(",")) return Fail("expected ',' or ')' in value set");
    }
    return Status();
  }

  Status CheckKey(const std::string& k) const {
    if (k.empty()) return Fail("missing key");
    std::string_view name = k;
    auto slash = name.find('/');
    if (slash != std::string_view::npos) {
      if (slash == 0 || slash > 253) return Fail("bad key prefix in \"" + k + "\"");
      name = name.substr(slash + 1);
      if (name.find('/') != std::string_view::npos) return Fail("bad key \"" + k + "\"");
    }
    if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name.front())) ||
        !std::isalnum(static_cast<unsigned char>(name.back())))
      return Fail("bad key \"" + k + "\"");
    return Status();
  }
  Status CheckValue(const std::string& v) const {
    if (v.size() > 63) return Fail("value too long");
    if (v.find('/') != std::string::npos) return Fail("bad value \"" + v + "\"");
    if (!v.empty() && (!std::isalnum(static_cast<unsigned char>(v.front())) ||
                       !std::isalnum(static_cast<unsigned char>(v.back()))))
      return Fail("bad value \"" + v + "\"");
    return Status();
  }

  Status Requirement(LabelSelector::Requirement* r) {
    using Op = LabelSelector::Op;
    if (Consume("!")) {
      r->key = Word();
      r->op = Op::kDoesNotExist;
      return CheckKey(r->key);
    }
    r->key = Word();
    if (Status s = CheckKey(r->key); !s.ok()) return s;
    SkipSpace();
    if (AtEnd() || s_[pos_] == ',') {
      r->op = Op::kExists;
      return Status();
    }
    if (Consume("!=")) {
      r->op = Op::kNotEquals;
    } else if (Consume("==") || Consume("=")) {
      r->op = Op::kEquals;
    } else if (Keyword("notin")) {
      r->op = Op::kNotIn;
      return Values(&r->values);
    } else if (Keyword("in")) {
      r->op = Op::kIn;
      return Values(&r->values);
    } else {
      return Fail("unexpected text after key \"" + r->key + "\"");
    }
    std::string v = Word();
    if (Status s = CheckValue(v); !s.ok()) return s;
    r->values.push_back(std::move(v));
    return Status();
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  Parser p(text);
  if (p.AtEnd()) return sel;
  while (true) {
    Requirement r;
    if (Status s = p.Requirement(&r); !s.ok()) return s;
    sel.requirements_.push_back(std::move(r));
    if (p.AtEnd()) break;
    if (!p.Consume(",")) return p.Fail("expected ','");
  }
  return sel;
}

bool LabelSelector::MatchOne(const Requirement& r, bool has, std::string_view value) {
  auto in = [&] {
    return std::find(r.values.begin(), r.values.end(), value) != r.values.end();
  };
  switch (r.op) {
    case Op::kEquals: return has && value == r.values.front();
    case Op::kNotEquals: return !has || value != r.values.front();
    case Op::kIn: return has && in();
    case Op::kNotIn: return !has || !in();
    case Op::kExists: return has;
    case Op::kDoesNotExist: return !has;
  }
  return false;
}

}  // namespace deviceapi
