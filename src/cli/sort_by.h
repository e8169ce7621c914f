// --sort-by: orders objects by a field named with kubectl's relaxed JSONPath
// (".metadata.name", "{.status.conditions[0].status}", "metadata.name"),
// read from the object as -o json prints it.
#pragma once

#include <string>
#include <vector>

#include "cli/format.h"

namespace deviceapi::cli {

// Sorts `gpus` stably by the field at `path`: objects without it first, then
// numbers (and strings of digits, as int64 fields print) by value, then
// other values by their text. INVALID_ARGUMENT for a path that is not
// ".field", "[index]" steps, or that no object has (as kubectl: a typo
// would otherwise sort nothing).
Status SortByField(const std::string& path, std::vector<Gpu>* gpus);

}  // namespace deviceapi::cli
