// The command table: every `mc <group> <command>` with its one-line summary and entry point.
// Each group's commands live in cmd_<group>.cpp; main.cpp only dispatches.
#pragma once
#include <string>
#include <vector>

namespace mc::cli {

using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  const char* group;
  const char* name;
  const char* summary;
  CommandFn   run;
};

int cmd_model_info(const std::vector<std::string>& args);
int cmd_model_import_gguf(const std::vector<std::string>& args);

inline const std::vector<Command>& command_table() {
  static const std::vector<Command> table = {
      {"model", "info", "architecture, sizes, dtypes, parameter counts and tokenizer of a model", cmd_model_info},
      {"model", "import-gguf", "convert a GGUF file into a Hugging Face model directory", cmd_model_import_gguf},
  };
  return table;
}

}  // namespace mc::cli
