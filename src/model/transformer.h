// The transformer engine's model: weights loaded from a Hugging Face directory (the large matrices in
// fp32, or kept in bf16 for oneDNN's bf16 GEMM: LoadOptions), and an explicit
// forward pass (llm.c style) over a batch of token sequences that writes every intermediate the backward
// pass will need into per-layer activation structs. Mirrors transformers 5.23's LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM and Lfm2ForCausalLM (eager attention, fp32);
// tests/golden/forward_golden_test.cpp checks logits and every layer's hidden state against them.
//
// A batch is ragged: sequences of any lengths lie back to back as N token rows, so the linears run once
// over all N rows and attention/convolution run per sequence; nothing is padded or masked.
// Dimension letters: N tokens in the batch, B sequences, D hidden, H / Hkv query / kv heads, Dh head
// dim, Dq = H·Dh, Dkv = Hkv·Dh, F MLP width, V vocab, L layers, Lc LFM2 conv kernel.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/arch/arch.h"
#include "model/config.h"
#include "model/lora.h"
#include "kernels/linear.h"
#include "model/lora_apply.h"
#include "tensor/tensor.h"

namespace mc {

/// How the model keeps its large matrices (projections, embeddings, lm_head). Norms, biases and conv
/// kernels are always fp32; activations, LoRA and all other arithmetic are fp32 either way.
///   F32  — exact reference mode: every GEMM in fp32 (OpenBLAS), logits equal transformers' fp32 ones.
///   BF16 — weights in bf16 (converted with round-to-nearest-even if the checkpoint is not bf16),
///          GEMM inputs rounded to bf16, fp32 accumulation (oneDNN): ~2× the GEMM rate, half the memory.
///   Auto — BF16 when the checkpoint's matrices are bf16 and the CPU has AVX512-BF16, else F32.
enum class WeightDtype { Auto, F32, BF16 };

/// "auto" / "f32" / "bf16" (the CLI's --dtype); throws mc::Error("usage", ...) for anything else.
WeightDtype weight_dtype_from_name(const std::string& name);
const char* weight_dtype_name(WeightDtype d);

struct LoadOptions {
  WeightDtype weights = WeightDtype::F32;
};

/// A large weight matrix in the dtype the model keeps it: exactly one of the two is non-empty (both
/// empty = absent weight).
struct WeightMatrix {
  Tensor                f32;   // (rows, cols)
  std::vector<uint16_t> bf16;  // rows·cols values
  bool       empty() const { return f32.empty() && bf16.empty(); }
  WeightView view() const { return f32.empty() ? WeightView::of_bf16(bf16.data()) : WeightView(f32.data()); }
};

/// Token sequences of one forward pass, back to back: sequence b is tokens[offsets[b], offsets[b+1]).
struct TokenBatch {
  std::vector<int32_t> tokens;        // (N)
  std::vector<int64_t> offsets{0};    // (B + 1)

  static TokenBatch from_sequences(const std::vector<std::vector<int32_t>>& seqs);
  void add(const std::vector<int32_t>& seq);
  int64_t n_seq() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
  int64_t seq_len(int64_t b) const { return offsets[static_cast<size_t>(b + 1)] - offsets[static_cast<size_t>(b)]; }
};

/// One decoder layer's weights, HF (out, in) layout. Projections that read the same input are
/// stacked row-wise into one matrix so they run as one GEMM; each HF weight stays a contiguous block of
/// rows (Model::weights() lists the blocks by their HF names). Empty tensors are absent weights.
struct LayerWeights {
  Tensor       mixer_norm;   // (D)            input_layernorm / operator_norm
  WeightMatrix w_qkv;        // (Dq + 2Dkv, D) rows q_proj | k_proj | v_proj            (attention)
  Tensor       b_qkv;        // (Dq + 2Dkv)    their biases, or empty
  Tensor       q_norm;       // (Dh)           per-head RMSNorm weights, or empty
  Tensor       k_norm;       // (Dh)
  WeightMatrix w_conv_in;    // (3D, D)        LFM2 conv.in_proj, rows B | C | x         (short conv)
  Tensor       b_conv_in;    // (3D) or empty
  Tensor       conv_kernel;  // (D, Lc)        conv.conv.weight (D, 1, Lc) squeezed
  Tensor       conv_bias;    // (D) or empty
  WeightMatrix w_o;          // (D, Dq) o_proj / out_proj; (D, D) conv.out_proj
  Tensor       b_o;          // (D) or empty
  Tensor       ffn_norm;     // (D)            post_attention_layernorm / ffn_norm
  WeightMatrix w_gate_up;    // (2F, D)        rows gate | up
  Tensor       b_gate_up;    // (2F) or empty
  WeightMatrix w_down;       // (D, F)
  Tensor       b_down;       // (D) or empty
};

/// What one decoder layer's forward computes, kept for the backward pass. Shapes for N batch tokens;
/// only the fields of the layer's mixer kind are filled.
struct LayerActs {
  Tensor norm1;     // (N, D)          mixer_norm(inp)
  Tensor rstd1;     // (N)
  // attention
  Tensor qkv;       // (N, Dq + 2Dkv)  fused projection output: q, k before norm and RoPE; v
  Tensor q;         // (N, H, Dh)      after q_norm and RoPE
  Tensor k;         // (N, Hkv, Dh)    after k_norm and RoPE
  Tensor v;         // (N, Hkv, Dh)
  Tensor q_rstd;    // (N, H)          q_norm's rstd (qk-norm architectures)
  Tensor k_rstd;    // (N, Hkv)
  Tensor att;       // (N, H, Dh)      attention output, o_proj's input
  Tensor lse;       // (N, H)          log-sum-exp of each query row's scores
  // short conv
  Tensor bcx;       // (N, 3D)         in_proj output
  Tensor bx;        // (N, D)          B ⊙ x
  Tensor conv;      // (N, D)          causal conv of Bx
  Tensor y;         // (N, D)          C ⊙ conv, out_proj's input
  // shared
  Tensor mix;       // (N, D)          mixer output (o_proj / out_proj)
  Tensor res1;      // (N, D)          inp + mix
  Tensor norm2;     // (N, D)          ffn_norm(res1)
  Tensor rstd2;     // (N)
  Tensor gate_up;   // (N, 2F)         gate | up projections
  Tensor act;       // (N, F)          silu(gate) ⊙ up
  Tensor ffn;       // (N, D)          down projection
  Tensor out;       // (N, D)          res1 + ffn: the residual stream after the layer
  // LoRA: t = drop(x) Aᵀ (N, r) of each adapted site (model/lora_apply.h)
  std::array<Tensor, static_cast<size_t>(LoraSite::Count)> lora_t;
};

enum class LogitsMode {
  All,   // logits for every token: (N, V)
  Last,  // logits for the last token of each sequence: (B, V)
  None,  // no logits (hidden states only)
};

struct ForwardOptions {
  LogitsMode logits = LogitsMode::All;
  bool capture_hidden = false;  // keep the residual stream after every layer (Activations::layer_output)
  bool keep_acts = false;       // keep every layer's LayerActs (for backward); implies capture_hidden
  const LoraSet* lora = nullptr;  // adapters added to their linears (model/lora.h), or none
  bool training = false;        // LoRA dropout active
  uint64_t dropout_seed = 0;    // dropout masks are a function of this seed (vary it per step)
};

/// Everything a forward pass writes. Reused across calls: buffers grow but are not freed.
struct Activations {
  int64_t                n_tokens = 0;
  std::vector<int32_t>   pos;         // (N) position of each token
  Tensor                 rope_cos;    // (N, Dh/2)
  Tensor                 rope_sin;    // (N, Dh/2)
  Tensor                 embed;       // (N, D) token embeddings: the residual stream entering layer 0
  std::vector<LayerActs> layers;      // L with keep_acts; otherwise two scratch layers used alternately
  std::vector<Tensor>    hidden;      // L × (N, D) with capture_hidden and not keep_acts
  Tensor                 final_rstd;  // (N)
  Tensor                 final_norm;  // (N, D) the final norm's output (model.norm / embedding_norm)
  Tensor                 last_norm;   // (B, D) final_norm of each sequence's last token (LogitsMode::Last)
  Tensor                 logits;      // (N, V) or (B, V)
  bool                   kept = false;
  mutable LoraScratch    lora_scratch;  // LoRA dropout buffers reused by every layer

  /// The residual stream after layer il (N, D); needs capture_hidden or keep_acts.
  const Tensor& layer_output(int64_t il) const;
};

/// Workspace of the backward pass, reused across calls.
struct BackwardScratch {
  Tensor dx;        // (N, D) gradient of the residual stream, carried down the layers
  Tensor dnorm;     // (N, D)
  Tensor dffn_in;   // (N, F)  ∂L/∂act
  Tensor dgate_up;  // (N, 2F)
  Tensor dmix_in;   // (N, max(Dq, D)) ∂L/∂att or ∂L/∂y
  Tensor dq, dk, dv;        // (N, H, Dh), (N, Hkv, Dh)
  Tensor dqkv;      // (N, Dq + 2Dkv) or (N, 3D) for conv layers
  Tensor qk_pre;    // (N, max(H, Hkv), Dh) pre-norm q or k for the qk-norm backward
  Tensor logits;    // (chunk, V) logits, then their gradient
  LoraScratch lora; // LoRA scratch
  LayerActs layer;  // recomputed activations (gradient checkpointing)
  std::vector<int64_t> rows;  // positions with a target
};

/// Decoding state per sequence: attention layers' rotated keys and values, conv layers' last Lc − 1 Bx
/// rows. A forward pass with a cache treats the batch's tokens as continuing each sequence.
struct KvCache {
  int64_t              capacity = 0;  // positions per sequence
  std::vector<int64_t> length;        // (B) positions already cached
  std::vector<Tensor>  k;             // per layer (B, capacity, Hkv, Dh); empty for conv layers
  std::vector<Tensor>  v;             // per layer (B, capacity, Hkv, Dh)
  std::vector<Tensor>  conv;          // per layer (B, Lc − 1, D); empty for attention layers
  int64_t n_seq() const { return static_cast<int64_t>(length.size()); }
};

/// One HF tensor as the engine stores it: a view into the (possibly fused) storage, fp32 or bf16.
struct NamedWeight {
  std::string     name;            // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  const float*    data = nullptr;  // fp32 values, or null when the tensor is kept in bf16
  Shape           shape;           // PyTorch order, as in the checkpoint (conv.conv.weight is (D, 1, Lc))
  const uint16_t* bf16 = nullptr;  // bf16 values when data is null
  /// The values in fp32: `data` itself, or the bf16 values widened (exactly) into `scratch`.
  const float* f32(std::vector<float>& scratch) const;
};

class Model {
 public:
  /// Loads config.json and the safetensors weights of an HF model directory. Throws mc::Error on an
  /// unsupported architecture or rope type, and on missing or mis-shaped tensors (model/weights.h).
  static Model load(const std::string& dir, const LoadOptions& opts = {});

  /// The dtype the large matrices are kept in (F32 or BF16; never Auto).
  WeightDtype weight_dtype() const { return weight_dtype_; }

  const ModelConfig& config() const { return config_; }
  const ArchSpec& arch() const { return arch_; }
  /// Every weight under its HF name (lm_head absent when tied).
  std::vector<NamedWeight> weights() const;

  /// Runs the model over `batch`. With `cache`, each sequence continues from cache->length[b] (its
  /// positions start there, attention sees the cached keys) and the cache is extended; cache->n_seq()
  /// must equal batch.n_seq(). Throws mc::Error for a token id outside the vocabulary or a full cache.
  void forward(const TokenBatch& batch, Activations& acts, const ForwardOptions& opts = {},
               KvCache* cache = nullptr) const;

  /// An empty cache for n_seq sequences of up to `capacity` positions each.
  KvCache make_cache(int64_t n_seq, int64_t capacity) const;

  /// Next-token cross-entropy of every position of a forward pass run with LogitsMode::None:
  /// losses (N) = −log softmax(logits[n])[targets[n]], 0 where targets[n] < 0. Logits are computed a
  /// chunk of rows at a time (never (N, V) at once). Throws mc::Error for a target outside the vocabulary.
  void token_losses(const Activations& acts, const int32_t* targets, float* losses, BackwardScratch& ws) const;

  /// Loss and backward pass of the batch `forward` just ran (LogitsMode::None, with keep_acts, or with
  /// capture_hidden only — then each layer is recomputed from its input: gradient checkpointing).
  /// targets (N) as in token_losses; dscale (N) = ∂(objective)/∂(loss of position n). Writes losses (N)
  /// and ACCUMULATES the LoRA gradients of opts.lora into grads (base weights are frozen).
  void backward(const TokenBatch& batch, Activations& acts, const ForwardOptions& opts, const int32_t* targets,
                const float* dscale, float* losses, LoraGrads& grads, BackwardScratch& ws) const;

 private:
  void layer_forward(int64_t il, const float* inp, LayerActs& a, const TokenBatch& batch, const Activations& acts,
                     KvCache* cache, const ForwardOptions& opts) const;
  void layer_backward(int64_t il, const float* inp, const LayerActs& a, const TokenBatch& batch,
                      const Activations& acts, const ForwardOptions& opts, LoraGrads& grads,
                      BackwardScratch& ws) const;
  WeightView head() const { return lm_head_.empty() ? embed_.view() : lm_head_.view(); }
  /// Cross-entropy of the positions with a target, 64 rows of logits at a time; with dnorm (N, D), also
  /// ∂(Σ dscale·loss)/∂final_norm (zero at positions without a target).
  void loss_head(const Activations& acts, const int32_t* targets, const float* dscale, float* losses, float* dnorm,
                 BackwardScratch& ws) const;

  ModelConfig               config_;
  ArchSpec                  arch_;
  std::vector<float>        rope_inv_freq_;  // (Dh/2)
  WeightDtype               weight_dtype_ = WeightDtype::F32;
  WeightMatrix              embed_;          // (V, D)
  Tensor                    final_norm_;     // (D)
  WeightMatrix              lm_head_;        // (V, D); empty when tied to embed_
  std::vector<LayerWeights> layers_;
};

/// Greedy decoding with the KV cache: appends up to max_new_tokens argmax tokens to `prompt` and returns
/// the new tokens only, stopping after the first token in stop_ids (which is included). Ties go to the
/// lowest id, as torch.argmax does.
std::vector<int32_t> generate_greedy(const Model& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                                     const std::vector<int64_t>& stop_ids = {});

/// Index of the largest of n values (the first one on ties).
int64_t argmax(const float* x, int64_t n);

}  // namespace mc
