// GGUF → Hugging Face model directory: config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json and generation_config.json from one llama.cpp GGUF file. Mirrors (in reverse)
// llama.cpp's convert_hf_to_gguf.py and gguf-py's tensor map, and reproduces what transformers'
// GGUF loader (modeling_gguf_pytorch_utils.py) yields: the same HF names, shapes and dequantized
// values, with llama's Q/K row permutation undone. Architectures: llama (incl. Mistral, SmolLM2),
// qwen2, qwen3, lfm2. This is a converter only; it does not run the model.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "model/config.h"
#include "tensor/dtype.h"

namespace mc {

/// general.architecture values gguf_import understands, in the order errors list them.
const std::vector<std::string>& gguf_supported_architectures();

/// The HF config described by a GGUF's metadata (and tensor inventory: tied embeddings, biases).
/// Throws mc::Error("[gguf-import] <file>: ...") for an unsupported architecture (listing the
/// supported ones) or missing/invalid hyperparameters.
ModelConfig config_from_gguf(const GgufFile& g);

/// HF tensor name for a GGUF tensor name, e.g. "blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj.weight".
/// Returns "" for a tensor with no HF counterpart in this architecture (rope_freqs, a block index
/// past the last layer, an attention tensor in an LFM2 conv layer, ...): callers report and skip it.
std::string gguf_to_hf_tensor_name(const std::string& gguf_name, const ModelConfig& c);

/// llama.cpp's LlamaModel.permute on the rows of a (rows, cols) row-major matrix (cols = 1 for a bias):
/// viewed as (n_head, 2, rows/n_head/2, cols), axes 1 and 2 are swapped. Used for Q (n_head) and K
/// (n_head_kv). rows must be a multiple of 2·n_head. Provided for tests and future GGUF export.
std::vector<float> llama_permute_rows(std::span<const float> w, int64_t rows, int64_t cols, int64_t n_head);
/// The inverse of llama_permute_rows: HF row h·D + i·D/2 + j comes from GGUF row h·D + 2j + i.
std::vector<float> llama_unpermute_rows(std::span<const float> w, int64_t rows, int64_t cols, int64_t n_head);

struct GgufImportOptions {
  Dtype dtype = Dtype::BF16;  // BF16 (round to nearest even) or F32
  bool  force = false;        // replace an existing output directory
};

struct GgufImportResult {
  ModelConfig              config;
  int64_t                  n_tensors = 0;     // tensors written
  int64_t                  n_parameters = 0;  // elements written (tied lm_head not counted: it is not stored)
  std::vector<std::string> skipped;           // GGUF tensors with no HF counterpart
};

/// Converts `gguf_path` into the HF model directory `out_dir`. The directory is built under a temporary
/// name and renamed into place only when complete, so a failure leaves nothing behind; an existing
/// `out_dir` is an error unless options.force. Progress goes to stderr. Throws mc::Error on bad input.
GgufImportResult gguf_import(const std::string& gguf_path, const std::string& out_dir, const GgufImportOptions& options);

}  // namespace mc
