// Kubernetes label selectors, exactly the language of apimachinery's
// labels.Parse, shared by the store (List/Watch filters, S10, S17), the
// apiserver and the client SDK's lister, so that a selector the SDK accepts
// is one the server accepts, and a label the server stores is one a selector
// can name.
//
//   selector    := "" | requirement ( ',' requirement )*
//   requirement := [ '!' ] KEY
//                | KEY ( '=' | '==' | '!=' ) [ VALUE ]
//                | KEY ( '>' | '<' ) INTEGER
//                | KEY ( 'in' | 'notin' ) '(' [ VALUE ] ( ',' [ VALUE ] )* ')'
//
// KEY is a qualified name and VALUE a label value (labels/names.h); a missing
// VALUE is the empty value ("k=", "k in ()", "k in (a,)"). 'in' and 'notin'
// are also ordinary values and keys where an identifier is expected.
// Whitespace (space, tab, CR, LF) separates tokens. Requirements must all
// hold. One deliberate difference: Kubernetes' lexer stops at a NUL byte and
// silently ignores what follows; here a NUL byte is refused.
//
// Cost (S33): parsing is linear in the text; a parsed selector keeps its keys
// and values in one buffer (about the text's size plus 8 bytes per value and
// 32 per requirement) and matching costs one label lookup and one binary
// search per requirement. SelectorLimits bound both for untrusted input.
//
// Thread safety: a Selector is immutable after Parse; share it freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deviceapi::labels {

enum class Operator : std::uint8_t {
  kEquals,        // k=v
  kDoubleEquals,  // k==v
  kNotEquals,     // k!=v
  kIn,            // k in (a,b)
  kNotIn,         // k notin (a,b)
  kExists,        // k
  kDoesNotExist,  // !k
  kGreaterThan,   // k>1 (the label's value, read as an integer, is greater)
  kLessThan,      // k<1
};

// Bounds for selectors from untrusted clients; 0 means unbounded.
struct SelectorLimits {
  std::size_t max_bytes = 0;         // length of the selector text
  std::size_t max_requirements = 0;  // comma-separated requirements
};

class ParsedSelector;

class Selector {
 public:
  // One requirement as views into the selector; values sorted, unique.
  struct RequirementView {
    std::string_view key;
    Operator op;
    std::vector<std::string_view> values;
  };

  Selector() = default;  // matches everything

  // Parses `text`; see ParsedSelector for the error. Never throws.
  static ParsedSelector Parse(std::string_view text, const SelectorLimits& limits = {});

  bool Empty() const { return requirements_.empty(); }
  std::size_t size() const { return requirements_.size(); }
  // The requirements sorted by key (stable), as Kubernetes orders them.
  std::vector<RequirementView> requirements() const;

  // `find(key)` returns the value of label `key` as something convertible to
  // std::optional<std::string_view> (nullopt: no such label).
  template <typename Find>
  bool MatchesWith(const Find& find) const {
    for (const Requirement& r : requirements_) {
      if (!Holds(r, find(Chars(r.key_begin, r.key_size)))) return false;
    }
    return true;
  }

  // Any map from string to string: std::map (with or without a transparent
  // comparator), std::unordered_map, google::protobuf::Map.
  template <typename Map>
  bool Matches(const Map& labels) const {
    return MatchesWith([&labels](std::string_view key) -> std::optional<std::string_view> {
      auto it = [&] {
        if constexpr (requires { labels.find(key); }) {
          return labels.find(key);
        } else {
          return labels.find(std::string(key));
        }
      }();
      if (it == labels.end()) return std::nullopt;
      return std::string_view(it->second);
    });
  }

  // The canonical text, as Kubernetes' Selector.String(): requirements by
  // key, values sorted, no spaces except around in/notin.
  std::string ToString() const;

  // Heap bytes this selector holds (what a watcher keeps alive per S33).
  std::size_t MemoryUsage() const;

 private:
  friend class SelectorBuilder;
  struct Requirement {
    std::uint32_t key_begin = 0, key_size = 0;
    std::uint32_t values_begin = 0, values_count = 0;  // into values_
    std::int64_t number = 0;                           // kGreaterThan / kLessThan
    Operator op = Operator::kExists;
  };
  struct Span {
    std::uint32_t begin, size;
  };

  std::string_view Chars(std::uint32_t begin, std::uint32_t size) const {
    return std::string_view(chars_).substr(begin, size);
  }
  bool Holds(const Requirement& r, std::optional<std::string_view> value) const;
  bool HasValue(const Requirement& r, std::string_view value) const;

  std::string chars_;                      // every key and value, back to back
  std::vector<Requirement> requirements_;  // sorted by key
  std::vector<Span> values_;               // each requirement's, sorted, unique
};

// A parse's outcome: the selector, or a message naming the problem (syntax,
// an invalid key or value, or an exceeded SelectorLimits bound).
class ParsedSelector {
 public:
  static ParsedSelector Ok(Selector s) { return ParsedSelector(std::move(s), {}); }
  static ParsedSelector Error(std::string message) { return ParsedSelector({}, std::move(message)); }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // Only when ok().
  Selector& operator*() { return selector_; }
  const Selector& operator*() const { return selector_; }
  Selector* operator->() { return &selector_; }
  const Selector* operator->() const { return &selector_; }

 private:
  ParsedSelector(Selector s, std::string e) : selector_(std::move(s)), error_(std::move(e)) {}
  Selector selector_;
  std::string error_;
};

// Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, in range.
std::optional<std::int64_t> ParseInt64(std::string_view s);

}  // namespace deviceapi::labels
