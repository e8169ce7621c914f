#pragma once
// Unix-socket control channel of the fake NVML: each line a client sends is a
// JSON command applied to the model; each reply is one line ("ok", "error: ...",
// or JSON for "state"). Listens on $FAKE_NVML_CONTROL while NVML is initialized.
#include <string>

namespace fakenvml {
bool StartControlServer(const std::string& path, std::string* error);
void StopControlServer();
}  // namespace fakenvml
