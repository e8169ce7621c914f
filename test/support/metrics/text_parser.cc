#include "metrics/text_parser.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <unordered_map>

namespace deviceapi::metrics {

namespace {

struct Failure {
  std::string message;
};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsMetricStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool IsMetricChar(char c) { return IsMetricStart(c) || (c >= '0' && c <= '9'); }
bool IsLabelStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsLabelChar(char c) { return IsLabelStart(c) || (c >= '0' && c <= '9'); }

// A cursor over one line.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  char next() { return s_[pos_++]; }
  void SkipBlanks() {
    while (!done() && IsBlank(peek())) ++pos_;
  }
  std::string_view Rest() const { return s_.substr(pos_); }
  std::string_view Token() {  // up to the next blank
    std::size_t start = pos_;
    while (!done() && !IsBlank(peek())) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  std::string MetricName() {
    std::size_t start = pos_;
    if (done() || !IsMetricStart(peek())) return {};
    while (!done() && IsMetricChar(peek())) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::string LabelName() {
    std::size_t start = pos_;
    if (done() || !IsLabelStart(peek())) return {};
    while (!done() && IsLabelChar(peek())) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool ParseFloat(std::string_view tok, double* out) {
  if (tok.empty()) return false;
  std::string s(tok);
  if (s == "+Inf" || s == "Inf") { *out = INFINITY; return true; }
  if (s == "-Inf") { *out = -INFINITY; return true; }
  if (s == "NaN") { *out = NAN; return true; }
  // Only plain decimal notation beyond the three words above.
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return false;
  }
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno != EINVAL;
}

bool ParseInt(std::string_view tok, std::int64_t* out) {
  if (tok.empty()) return false;
  std::string s(tok);
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (std::size_t j = i; j < s.size(); ++j) {
    if (s[j] < '0' || s[j] > '9') return false;
  }
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE) return false;
  *out = v;
  return true;
}

// Label block after '{'. Returns false with *err set.
bool ParseLabels(Cursor& c, LabelMap* labels, std::string* err) {
  c.SkipBlanks();
  while (true) {
    if (c.done()) { *err = "unterminated label set"; return false; }
    if (c.peek() == '}') { c.next(); return true; }
    std::string name = c.LabelName();
    if (name.empty()) { *err = "invalid label name"; return false; }
    if (name.size() >= 2 && name[0] == '_' && name[1] == '_') {
      *err = "reserved label name \"" + name + "\"";
      return false;
    }
    c.SkipBlanks();
    if (c.done() || c.next() != '=') { *err = "expected '=' after label " + name; return false; }
    c.SkipBlanks();
    if (c.done() || c.next() != '"') { *err = "expected '\"' to open value of label " + name; return false; }
    std::string value;
    bool closed = false;
    while (!c.done()) {
      char ch = c.next();
      if (ch == '"') { closed = true; break; }
      if (ch == '\\') {
        if (c.done()) break;
        char e = c.next();
        if (e == '\\') value += '\\';
        else if (e == '"') value += '"';
        else if (e == 'n') value += '\n';
        else { *err = std::string("invalid escape \\") + e + " in value of label " + name; return false; }
      } else {
        value += ch;
      }
    }
    if (!closed) { *err = "unterminated value of label " + name; return false; }
    if (!labels->emplace(name, std::move(value)).second) {
      *err = "duplicate label \"" + name + "\"";
      return false;
    }
    c.SkipBlanks();
    if (c.done()) { *err = "unterminated label set"; return false; }
    char sep = c.next();
    if (sep == '}') return true;
    if (sep != ',') { *err = "expected ',' or '}' in label set"; return false; }
    c.SkipBlanks();
  }
}

bool UnescapeHelp(std::string_view in, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') { *out += in[i]; continue; }
    if (i + 1 >= in.size()) return false;
    char e = in[++i];
    if (e == '\\') *out += '\\';
    else if (e == 'n') *out += '\n';
    else return false;
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string LabelKey(const std::string& name, const LabelMap& labels, std::string_view skip = {}) {
  std::string key = name;
  key += '{';
  for (const auto& [k, v] : labels) {
    if (k == skip) continue;
    key += k;
    key += '=';
    key += std::to_string(v.size());  // length-prefixed: unambiguous
    key += ':';
    key += v;
    key += ',';
  }
  key += '}';
  return key;
}

struct FamilyState {
  std::size_t index;        // into exposition.families
  bool help = false, type = false;
  bool closed = false;      // another family started after this one
  std::set<std::string> sample_keys;
};

class Parser {
 public:
  ParseResult Run(std::string_view text) {
    ParseResult r;
    if (!text.empty() && text.back() != '\n') {
      std::size_t lines = 1;
      for (char c : text) lines += c == '\n';
      r.error = "line " + std::to_string(lines) + ": missing final line feed";
      return r;
    }
    std::size_t line_no = 0, start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      ++line_no;
      std::string_view line = text.substr(start, end - start);
      start = end + 1;
      std::string err;
      if (!Line(line, &err)) {
        r.error = "line " + std::to_string(line_no) + ": " + err;
        return r;
      }
    }
    std::string err;
    if (!Finish(&err)) {
      r.error = err;
      return r;
    }
    r.ok = true;
    r.exposition = std::move(out_);
    return r;
  }

 private:
  FamilyState* Open(const std::string& name, std::string* err) {
    auto it = states_.find(name);
    if (it != states_.end()) {
      if (it->second.closed) {
        *err = "metric " + name + " appears again after other metrics (not contiguous)";
        return nullptr;
      }
      return &it->second;
    }
    if (!current_.empty()) states_[current_].closed = true;
    current_ = name;
    out_.families.push_back(ParsedFamily{name, "", "untyped", {}});
    FamilyState st;
    st.index = out_.families.size() - 1;
    return &states_.emplace(name, std::move(st)).first->second;
  }

  void SwitchTo(const std::string& name) {
    if (current_ != name) {
      if (!current_.empty()) states_[current_].closed = true;
      current_ = name;
    }
  }

  bool Line(std::string_view line, std::string* err) {
    Cursor c(line);
    c.SkipBlanks();
    if (c.done()) return true;  // blank line
    if (c.peek() == '#') return Comment(line, err);
    return Sample(line, err);
  }

  bool Comment(std::string_view line, std::string* err) {
    Cursor c(line);
    c.SkipBlanks();
    c.next();  // '#'
    c.SkipBlanks();
    std::string_view keyword = c.Token();
    if (keyword != "HELP" && keyword != "TYPE") return true;  // plain comment
    if (!IsBlank(c.peek())) { *err = std::string(keyword) + " without a metric name"; return false; }
    c.SkipBlanks();
    std::string name = c.MetricName();
    if (name.empty() || (!c.done() && !IsBlank(c.peek()))) {
      *err = "invalid metric name in " + std::string(keyword);
      return false;
    }
    FamilyState* st = Open(name, err);
    if (!st) return false;
    SwitchTo(name);
    ParsedFamily& fam = out_.families[st->index];
    if (keyword == "HELP") {
      if (st->help) { *err = "second HELP for " + name; return false; }
      st->help = true;
      if (!c.done()) c.next();  // the single separating blank
      if (!UnescapeHelp(c.Rest(), &fam.help)) { *err = "invalid escape in HELP for " + name; return false; }
      return true;
    }
    if (st->type) { *err = "second TYPE for " + name; return false; }
    if (!fam.samples.empty()) { *err = "TYPE for " + name + " after its samples"; return false; }
    c.SkipBlanks();
    std::string type(c.Token());
    c.SkipBlanks();
    if (!c.done()) { *err = "trailing text after TYPE of " + name; return false; }
    if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
        type != "untyped") {
      *err = "unknown TYPE \"" + type + "\" for " + name;
      return false;
    }
    st->type = true;
    fam.type = type;
    return true;
  }

  // The family a sample named `s` belongs to.
  std::string FamilyFor(const std::string& s) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!EndsWith(s, suffix)) continue;
      std::string base = s.substr(0, s.size() - std::string_view(suffix).size());
      auto it = states_.find(base);
      if (it == states_.end()) continue;
      const std::string& t = out_.families[it->second.index].type;
      if (t == "histogram" || (t == "summary" && std::string_view(suffix) != "_bucket")) return base;
    }
    return s;
  }

  bool Sample(std::string_view line, std::string* err) {
    Cursor c(line);
    c.SkipBlanks();
    ParsedSample sample;
    sample.name = c.MetricName();
    if (sample.name.empty()) { *err = "invalid metric name"; return false; }
    if (c.peek() == '{') {
      c.next();
      if (!ParseLabels(c, &sample.labels, err)) return false;
    }
    if (!IsBlank(c.peek())) { *err = "expected a blank before the value of " + sample.name; return false; }
    c.SkipBlanks();
    std::string_view value = c.Token();
    if (!ParseFloat(value, &sample.value)) {
      *err = "invalid value \"" + std::string(value) + "\" for " + sample.name;
      return false;
    }
    c.SkipBlanks();
    if (!c.done()) {
      std::string_view ts = c.Token();
      std::int64_t t;
      if (!ParseInt(ts, &t)) { *err = "invalid timestamp \"" + std::string(ts) + "\""; return false; }
      sample.timestamp_ms = t;
      c.SkipBlanks();
      if (!c.done()) { *err = "trailing text after sample " + sample.name; return false; }
    }

    const std::string fam_name = FamilyFor(sample.name);
    FamilyState* st = Open(fam_name, err);
    if (!st) return false;
    SwitchTo(fam_name);
    ParsedFamily& fam = out_.families[st->index];
    if (!CheckSample(fam, sample, err)) return false;
    if (!st->sample_keys.insert(LabelKey(sample.name, sample.labels)).second) {
      *err = "duplicate sample " + sample.name;
      return false;
    }
    fam.samples.push_back(std::move(sample));
    return true;
  }

  static bool CheckSample(const ParsedFamily& fam, const ParsedSample& s, std::string* err) {
    const std::string& t = fam.type;
    if (t == "histogram") {
      if (s.name == fam.name + "_bucket") {
        auto le = s.labels.find("le");
        double bound;
        if (le == s.labels.end() || !ParseFloat(le->second, &bound) || std::isnan(bound)) {
          *err = "histogram bucket " + s.name + " without a valid \"le\"";
          return false;
        }
      } else if (s.name != fam.name + "_sum" && s.name != fam.name + "_count") {
        *err = "sample " + s.name + " does not belong to histogram " + fam.name;
        return false;
      } else if (s.labels.count("le")) {
        *err = s.name + " must not carry \"le\"";
        return false;
      }
      if (s.name != fam.name + "_sum" && (s.value < 0 || std::isnan(s.value))) {
        *err = "negative or NaN count in " + s.name;
        return false;
      }
    } else if (t == "summary") {
      if (s.name == fam.name) {
        auto q = s.labels.find("quantile");
        double v;
        if (q == s.labels.end() || !ParseFloat(q->second, &v) || !(v >= 0 && v <= 1)) {
          *err = "summary sample " + s.name + " without a valid \"quantile\"";
          return false;
        }
      } else if (s.name != fam.name + "_sum" && s.name != fam.name + "_count") {
        *err = "sample " + s.name + " does not belong to summary " + fam.name;
        return false;
      }
    } else if (t == "counter") {
      if (s.value < 0) { *err = "negative counter " + s.name; return false; }
    }
    return true;
  }

  bool Finish(std::string* err) {
    for (const ParsedFamily& fam : out_.families) {
      if (fam.type != "histogram") continue;
      struct Group {
        std::vector<std::pair<double, double>> buckets;  // (le, count) in order
        const ParsedSample* count = nullptr;
        bool sum = false;
      };
      std::unordered_map<std::string, Group> groups;
      for (const ParsedSample& s : fam.samples) {
        Group& g = groups[LabelKey("", s.labels, "le")];
        if (s.name == fam.name + "_bucket") {
          double le;
          ParseFloat(s.labels.at("le"), &le);
          g.buckets.emplace_back(le, s.value);
        } else if (s.name == fam.name + "_count") {
          g.count = &s;
        } else {
          g.sum = true;
        }
      }
      for (const auto& [key, g] : groups) {
        const std::string what = "histogram " + fam.name + key.substr(0);
        for (std::size_t i = 1; i < g.buckets.size(); ++i) {
          if (!(g.buckets[i].first > g.buckets[i - 1].first)) {
            *err = what + ": bucket bounds not increasing";
            return false;
          }
          if (g.buckets[i].second < g.buckets[i - 1].second) {
            *err = what + ": bucket counts decreasing";
            return false;
          }
        }
        if (g.buckets.empty() || !std::isinf(g.buckets.back().first)) {
          *err = what + ": missing +Inf bucket";
          return false;
        }
        if (!g.count) { *err = what + ": missing _count"; return false; }
        if (!g.sum) { *err = what + ": missing _sum"; return false; }
        if (g.count->value != g.buckets.back().second) {
          *err = what + ": +Inf bucket differs from _count";
          return false;
        }
      }
    }
    return true;
  }

  ParsedExposition out_;
  std::unordered_map<std::string, FamilyState> states_;
  std::string current_;
};

}  // namespace

const ParsedFamily* ParsedExposition::Family(std::string_view name) const {
  for (const ParsedFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<const ParsedSample*> ParsedExposition::Samples(std::string_view sample_name) const {
  std::vector<const ParsedSample*> out;
  for (const ParsedFamily& f : families) {
    for (const ParsedSample& s : f.samples) {
      if (s.name == sample_name) out.push_back(&s);
    }
  }
  return out;
}

std::optional<double> ParsedExposition::Value(std::string_view sample_name,
                                              const LabelMap& labels) const {
  for (const ParsedSample* s : Samples(sample_name)) {
    if (s->labels == labels) return s->value;
  }
  return std::nullopt;
}

ParseResult ParseText(std::string_view text) { return Parser().Run(text); }

}  // namespace deviceapi::metrics
