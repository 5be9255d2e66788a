// The command table: every `mc <group> <command>` with its one-line summary and entry point.
// Each group's commands live in cmd_<group>.cpp; main.cpp only dispatches.
#pragma once
#include <string>
#include <vector>

namespace mc::cli {

using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  const char* group;
  const char* name;     // "" when the group is itself the command (`mc tokenize ...`)
  const char* summary;
  CommandFn   run;
};

int cmd_model_info(const std::vector<std::string>& args);
int cmd_model_import_gguf(const std::vector<std::string>& args);
int cmd_model_capacity(const std::vector<std::string>& args);
int cmd_analyze_spectral_trajectory(const std::vector<std::string>& args);
int cmd_analyze_intrinsic_dimension(const std::vector<std::string>& args);
int cmd_analyze_cka(const std::vector<std::string>& args);
int cmd_analyze_lora_svd(const std::vector<std::string>& args);
int cmd_adapter_analyze(const std::vector<std::string>& args);
int cmd_analyze_dimension_profile(const std::vector<std::string>& args);
int cmd_analyze_entropy_trajectory(const std::vector<std::string>& args);
int cmd_analyze_expansion_ratio(const std::vector<std::string>& args);
int cmd_data_prepare(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);

inline const std::vector<Command>& command_table() {
  static const std::vector<Command> table = {
      {"model", "info", "architecture, sizes, dtypes, parameter counts and tokenizer of a model", cmd_model_info},
      {"model", "import-gguf", "convert a GGUF file into a Hugging Face model directory", cmd_model_import_gguf},
      {"model", "capacity", "per-matrix spectra: sigma_max, stable/effective rank, tail dims, alpha", cmd_model_capacity},
      {"data", "prepare", "validate and normalise a training set (txt, md, csv, tsv, json, jsonl -> jsonl)", cmd_data_prepare},
      {"tokenize", "", "ids and pieces of text, loss masks of records, token counts of datasets", cmd_tokenize},
      {"analyze", "spectral-trajectory", "per-layer spectral summary of a model's weights", cmd_analyze_spectral_trajectory},
      {"analyze", "intrinsic-dimension", "TwoNN or MLE intrinsic dimension of an activation matrix", cmd_analyze_intrinsic_dimension},
      {"analyze", "dimension-profile", "TwoNN intrinsic dimension of mean-pooled hidden states per layer", cmd_analyze_dimension_profile},
      {"analyze", "entropy-trajectory", "logit-lens entropy of the last token per layer", cmd_analyze_entropy_trajectory},
      {"analyze", "expansion-ratio", "TwoNN over a prompt's token states per layer: peak / final", cmd_analyze_expansion_ratio},
      {"analyze", "cka", "CKA of two activation files, or layer by layer between two models", cmd_analyze_cka},
      {"analyze", "lora-svd", "spectrum of a LoRA adapter's updates and their overlap with the base", cmd_analyze_lora_svd},
      {"adapter", "analyze", "ranks, scales and norms of a PEFT LoRA adapter", cmd_adapter_analyze},
  };
  return table;
}

}  // namespace mc::cli
