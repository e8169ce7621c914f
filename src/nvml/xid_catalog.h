// The NVIDIA Xid catalog (one row per Xid, 1..172), compiled into the binary
// from the checked-in copy src/nvml/xid_catalog.tsv. Immutable after first
// use; safe to read from any thread.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deviceapi::nvml {

struct XidEntry {
  uint32_t xid = 0;
  std::string mnemonic;
  std::string description;
  // The catalog's "Resolution Bucket (Immediate Action)", as spelled there;
  // empty where the catalog gives none.
  std::string immediate_action;
  std::string investigatory_action;
  std::string notes;
};

class XidCatalog {
 public:
  // Parses a catalog in the TSV format of xid_catalog.tsv. Returns nullopt and
  // fills *error when a line does not have exactly six fields or a number is bad.
  static std::optional<XidCatalog> Parse(std::string_view tsv, std::string* error);

  // The catalog compiled into this binary.
  static const XidCatalog& Builtin();
  // The raw text compiled into this binary (for the test that it matches the data file).
  static std::string_view BuiltinText();

  // nullptr when the catalog has no row for `xid` (an unknown Xid).
  const XidEntry* Find(uint32_t xid) const;
  const std::vector<XidEntry>& entries() const { return entries_; }

 private:
  std::vector<XidEntry> entries_;  // sorted by xid
};

}  // namespace deviceapi::nvml
