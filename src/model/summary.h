// A lazy description of a model on disk (HF directory, .safetensors file or .gguf file): config,
// tensor inventory with parameter counts by group, bytes on disk, tokenizer kind and special tokens.
// Reads headers and small JSON files only — never tensor data. Backs `mc model info`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "model/config.h"

namespace mc {

struct TensorSummary {
  std::string          name;    // HF name (GGUF names are mapped; unmapped ones keep the GGUF name)
  std::string          dtype;   // "BF16", "F32", "Q4_1", ...
  std::vector<int64_t> shape;   // PyTorch order
  uint64_t             numel = 0;
  uint64_t             nbytes = 0;
  std::string          group;   // embedding, attention, mlp, norm, conv, lm_head, other
};

struct TokenizerSummary {
  bool                     present = false;
  std::string              kind;          // "BPE (byte-level)", "BPE (SentencePiece)", "gguf:gpt2", ...
  std::string              source;        // file it was read from
  int64_t                  vocab_size = 0;  // base vocabulary + added tokens
  std::vector<std::string> special_tokens;
  std::string              bos_token, eos_token, pad_token;
  bool                     has_chat_template = false;
};

struct ModelSummary {
  std::string                path;
  std::string                format;  // "hf-directory", "safetensors", "gguf"
  std::optional<ModelConfig> config;
  std::string                config_note;  // why config is absent, when it is
  std::vector<TensorSummary> tensors;
  uint64_t                   bytes_on_disk = 0;
  std::vector<std::string>   files;        // weight files read
  TokenizerSummary           tokenizer;
  uint32_t                   gguf_version = 0;

  uint64_t total_params() const;
  /// Parameters per group, in a fixed order: embedding, attention, mlp, norm, conv, lm_head, other.
  std::vector<std::pair<std::string, uint64_t>> params_by_group() const;
  /// Distinct storage dtypes with their tensor counts.
  std::vector<std::pair<std::string, uint64_t>> dtypes() const;
};

/// Builds the summary. Throws mc::Error naming the path for missing or invalid files.
ModelSummary model_summary(const std::string& path);
/// The summary as the `mc.model.info.v1` JSON document.
OrderedJson model_summary_json(const ModelSummary& s);

}  // namespace mc
