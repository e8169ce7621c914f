// devicectl --help (and each command's --help) appears verbatim in
// docs/sdk.md, so the documentation always matches the binary.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli/app.h"

namespace deviceapi::cli {
namespace {

std::string Help(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  Environment env;
  env.connect = [](const std::string&, std::chrono::milliseconds) -> std::shared_ptr<Client> {
    return nullptr;
  };
  EXPECT_EQ(Run(args, out, err, env), kExitOk);
  return out.str();
}

TEST(HelpDocs, EveryHelpTextIsInTheDocs) {
  std::ifstream in(std::string(DEVICEAPI_SOURCE_DIR) + "/docs/sdk.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string docs = ss.str();
  ASSERT_FALSE(docs.empty());
  std::vector<std::vector<std::string>> cases = {
      {"--help"},           {"get", "--help"},    {"describe", "--help"},
      {"create", "--help"}, {"delete", "--help"}, {"label", "--help"},
      {"set-condition", "--help"}, {"patch", "--help"}, {"health", "--help"},
      {"version", "--help"}};
  for (const auto& args : cases) {
    std::string cmd = "$ devicectl";
    for (const auto& a : args) cmd += " " + a;
    std::string block = "```text\n" + cmd + "\n" + Help(args) + "```";
    EXPECT_NE(docs.find(block), std::string::npos)
        << "docs/sdk.md lacks, verbatim:\n" << block;
  }
}

}  // namespace
}  // namespace deviceapi::cli
