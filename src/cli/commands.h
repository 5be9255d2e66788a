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
int cmd_train_run_research(const std::vector<std::string>& args);
int cmd_train_evaluate(const std::vector<std::string>& args);
int cmd_train_run(const std::vector<std::string>& args);
int cmd_train_validate_derived(const std::vector<std::string>& args);
int cmd_infer_run(const std::vector<std::string>& args);
int cmd_infer_chat(const std::vector<std::string>& args);
int cmd_train_status(const std::vector<std::string>& args);
int cmd_train_compare(const std::vector<std::string>& args);

inline const std::vector<Command>& command_table() {
  static const std::vector<Command> table = {
      {"model", "info", "architecture, sizes, dtypes, parameter counts and tokenizer of a model", cmd_model_info},
      {"model", "import-gguf", "convert a GGUF file into a Hugging Face model directory", cmd_model_import_gguf},
      {"model", "capacity", "per-matrix spectra: sigma_max, stable/effective rank, tail dims, alpha", cmd_model_capacity},
      {"data", "prepare", "validate and normalise a training set (txt, md, csv, tsv, json, jsonl -> jsonl)", cmd_data_prepare},
      {"infer", "run", "generate a reply to one prompt (greedy or sampled; streams text)", cmd_infer_run},
      {"infer", "chat", "interactive conversation through the model's chat template (stdin lines)", cmd_infer_chat},
      {"tokenize", "", "ids and pieces of text, loss masks of records, token counts of datasets", cmd_tokenize},
      {"analyze", "spectral-trajectory", "per-layer spectral summary of a model's weights", cmd_analyze_spectral_trajectory},
      {"analyze", "intrinsic-dimension", "TwoNN or MLE intrinsic dimension of an activation matrix", cmd_analyze_intrinsic_dimension},
      {"analyze", "dimension-profile", "TwoNN intrinsic dimension of mean-pooled hidden states per layer", cmd_analyze_dimension_profile},
      {"analyze", "entropy-trajectory", "logit-lens entropy of the last token per layer", cmd_analyze_entropy_trajectory},
      {"analyze", "expansion-ratio", "TwoNN over a prompt's token states per layer: peak / final", cmd_analyze_expansion_ratio},
      {"analyze", "cka", "CKA of two activation files, or layer by layer between two models", cmd_analyze_cka},
      {"analyze", "lora-svd", "spectrum of a LoRA adapter's updates and their overlap with the base", cmd_analyze_lora_svd},
      {"train", "run", "zero-configuration LoRA training: every hyperparameter derived from weight geometry and data", cmd_train_run},
      {"train", "run-research", "LoRA fine-tuning with explicit hyperparameters (the conventional baseline)", cmd_train_run_research},
      {"train", "evaluate", "loss and perplexity of the base model and an adapter on a dataset, side by side", cmd_train_evaluate},
      {"train", "status", "state of a training run directory: progress, losses, checkpoint; --report writes HTML", cmd_train_status},
      {"train", "compare", "two runs' results side by side, or two adapters on data with a paired bootstrap CI", cmd_train_compare},
      {"train", "validate-derived", "repeat the derived training over seeds and data subsamples; report counterexamples", cmd_train_validate_derived},
      {"adapter", "analyze", "ranks, scales and norms of a PEFT LoRA adapter", cmd_adapter_analyze},
  };
  return table;
}

}  // namespace mc::cli
