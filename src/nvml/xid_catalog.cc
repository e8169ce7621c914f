#include "nvml/xid_catalog.h"

#include <algorithm>
#include <charconv>

namespace deviceapi::nvml {

extern const char kXidCatalogTsv[];

namespace {
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}
}  // namespace

std::optional<XidCatalog> XidCatalog::Parse(std::string_view tsv, std::string* error) {
  XidCatalog cat;
  auto lines = Split(tsv, '\n');
  bool header = true;
  size_t lineno = 0;
  for (auto line : lines) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (header) {  // first non-empty line names the columns
      header = false;
      continue;
    }
    auto f = Split(line, '\t');
    if (f.size() != 6) {
      if (error) *error = "line " + std::to_string(lineno) + ": expected 6 fields, got " + std::to_string(f.size());
      return std::nullopt;
    }
    XidEntry e;
    auto [p, ec] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), e.xid);
    if (ec != std::errc() || p != f[0].data() + f[0].size()) {
      if (error) *error = "line " + std::to_string(lineno) + ": bad xid '" + std::string(f[0]) + "'";
      return std::nullopt;
    }
    e.mnemonic = f[1];
    e.description = f[2];
    e.immediate_action = f[3];
    e.investigatory_action = f[4];
    e.notes = f[5];
    cat.entries_.push_back(std::move(e));
  }
  std::sort(cat.entries_.begin(), cat.entries_.end(),
            [](const XidEntry& a, const XidEntry& b) { return a.xid < b.xid; });
  for (size_t i = 1; i < cat.entries_.size(); ++i) {
    if (cat.entries_[i].xid == cat.entries_[i - 1].xid) {
      if (error) *error = "duplicate xid " + std::to_string(cat.entries_[i].xid);
      return std::nullopt;
    }
  }
  return cat;
}

const XidCatalog& XidCatalog::Builtin() {
  static const XidCatalog kCatalog = [] {
    std::string err;
    auto c = Parse(BuiltinText(), &err);
    // The text is checked by a unit test; an unparsable build is a build bug.
    return c ? std::move(*c) : XidCatalog{};
  }();
  return kCatalog;
}

std::string_view XidCatalog::BuiltinText() { return kXidCatalogTsv; }

const XidEntry* XidCatalog::Find(uint32_t xid) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), xid,
                             [](const XidEntry& e, uint32_t x) { return e.xid < x; });
  if (it == entries_.end() || it->xid != xid) return nullptr;
  return &*it;
}

}  // namespace deviceapi::nvml
