// `mc model ...` commands: argument parsing and printing only.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"

namespace mc::cli {

int cmd_model_info(const std::vector<std::string>& args) {
  (void)args;
  throw Error("model", "info: not implemented yet", ExitCode::Internal);
}

int cmd_model_import_gguf(const std::vector<std::string>& args) {
  (void)args;
  throw Error("model", "import-gguf: not implemented yet", ExitCode::Internal);
}

}  // namespace mc::cli
