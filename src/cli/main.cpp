// mc: the command-line entry point. Dispatches `mc <group> <command> ...` through the command table,
// turns mc::Error into one line `mc: error: [component] message` and the error's exit code.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace {

constexpr const char* kVersion = "0.1.0";

void print_overview() {
  std::printf("mc %s — geometry-first LoRA fine-tuning and LLM geometry, native C++\n\n", kVersion);
  std::printf("usage: mc <group> <command> [options]    (mc <group> <command> --help for details)\n\n");
  std::string group;
  for (const auto& c : mc::cli::command_table()) {
    if (group != c.group) {
      group = c.group;
      std::printf("%s:\n", c.group);
    }
    std::string full = std::string(c.group) + (c.name[0] ? " " : "") + c.name;
    std::printf("  mc %-28s %s\n", full.c_str(), c.summary);
  }
  std::printf("\nexit codes: 0 ok, 1 bad input, 2 cancelled, 3 missing dependency, 4 runtime failure, 5 internal\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_overview();
    return words.empty() ? 1 : 0;
  }
  if (words[0] == "--version") {
    std::printf("mc %s\n", kVersion);
    return 0;
  }
  const mc::cli::Command* cmd = nullptr;
  bool group_known = false;
  for (const auto& c : mc::cli::command_table()) {
    if (words[0] != c.group) continue;
    group_known = true;
    if (c.name[0] == '\0' || (words.size() > 1 && words[1] == c.name)) cmd = &c;
  }
  if (!cmd) {
    if (group_known && (words.size() == 1 || words[1] == "--help" || words[1] == "-h")) {
      std::printf("mc %s commands:\n", words[0].c_str());
      for (const auto& c : mc::cli::command_table())
        if (words[0] == c.group) std::printf("  mc %s %-20s %s\n", c.group, c.name, c.summary);  // named commands only reach here
      return words.size() == 1 ? 1 : 0;
    }
    std::string what = group_known ? words[0] + " " + (words.size() > 1 ? words[1] : "") : words[0];
    std::fprintf(stderr, "mc: error: [cli] unknown command '%s' (run `mc --help` for the list)\n", what.c_str());
    return static_cast<int>(mc::ExitCode::BadInput);
  }
  std::vector<std::string> args(words.begin() + (cmd->name[0] == '\0' ? 1 : 2), words.end());
  try {
    return cmd->run(args);
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "mc: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mc: error: [memory] out of memory\n");
    return static_cast<int>(mc::ExitCode::Runtime);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mc: error: [internal] %s\n", e.what());
    return static_cast<int>(mc::ExitCode::Internal);
  }
}
