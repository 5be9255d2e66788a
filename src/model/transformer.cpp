#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/safetensors.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/linear.h"
#include "kernels/residual.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/short_conv.h"
#include "kernels/swiglu.h"
#include "model/lora_apply.h"
#include "model/weights.h"
#include "kernels/gemm.h"
#include "tensor/dtype.h"

namespace mc {

WeightDtype weight_dtype_from_name(const std::string& name) {
  if (name == "auto") return WeightDtype::Auto;
  if (name == "f32" || name == "fp32" || name == "float32") return WeightDtype::F32;
  if (name == "bf16" || name == "bfloat16") return WeightDtype::BF16;
  throw Error("usage", str("--dtype must be auto, f32 or bf16, got '", name, "'"));
}

const char* weight_dtype_name(WeightDtype d) {
  switch (d) {
    case WeightDtype::Auto: return "auto";
    case WeightDtype::F32: return "f32";
    case WeightDtype::BF16: return "bf16";
  }
  return "?";
}

const float* NamedWeight::f32(std::vector<float>& scratch) const {
  if (data) return data;
  const int64_t n = shape.numel();
  scratch.resize(static_cast<size_t>(n));
  convert_to_f32(Dtype::BF16, bf16, scratch.data(), static_cast<size_t>(n));
  return scratch.data();
}

// ---------------------------------------------------------------------------------------------------
// Batches and activations.

TokenBatch TokenBatch::from_sequences(const std::vector<std::vector<int32_t>>& seqs) {
  TokenBatch b;
  for (const auto& s : seqs) b.add(s);
  return b;
}

void TokenBatch::add(const std::vector<int32_t>& seq) {
  tokens.insert(tokens.end(), seq.begin(), seq.end());
  offsets.push_back(static_cast<int64_t>(tokens.size()));
}

const Tensor& Activations::layer_output(int64_t il) const {
  if (kept) return layers.at(static_cast<size_t>(il)).out;
  MC_CHECK(static_cast<size_t>(il) < hidden.size(), "layer_output(", il, ") needs capture_hidden or keep_acts");
  return hidden[static_cast<size_t>(il)];
}

// ---------------------------------------------------------------------------------------------------
// Loading.

namespace {

const float* or_null(const Tensor& t) { return t.empty() ? nullptr : t.data(); }

/// Copies checkpoint tensors into engine storage: fp32 tensors, and matrices in `matrix_dtype` (bf16
/// checkpoint values are copied as they are; others are converted).
struct WeightReader {
  const SafetensorsModel& st;
  const std::string& source;
  WeightDtype matrix_dtype = WeightDtype::F32;

  bool has(const std::string& name) const { return st.find(name) != nullptr; }

  /// Converts tensor `name` (numel elements expected) into dst.
  void into(const std::string& name, float* dst, int64_t numel) const {
    const SafetensorsModel::Entry* e = st.find(name);
    if (!e) throw Error("model", str(source, ": missing tensor '", name, "'"));
    if (static_cast<int64_t>(e->info->numel()) != numel)
      throw Error("model", str(source, ": tensor '", name, "' has ", e->info->numel(), " elements, expected ", numel));
    if (!dtype_is_float(e->info->dtype))
      throw Error("model", str(source, ": tensor '", name, "' has non-float dtype ", dtype_name(e->info->dtype)));
    auto raw = e->file->raw(*e->info);
    convert_to_f32(e->info->dtype, raw.data(), dst, static_cast<size_t>(numel));
  }

  /// Tensor `name` (numel elements expected) as bf16 into dst: bf16 values are copied bit for bit,
  /// other float dtypes go through fp32 and are rounded to nearest even.
  void into_bf16(const std::string& name, uint16_t* dst, int64_t numel) const {
    const SafetensorsModel::Entry* e = st.find(name);
    if (e && e->info->dtype == Dtype::BF16 && static_cast<int64_t>(e->info->numel()) == numel) {
      auto raw = e->file->raw(*e->info);
      std::memcpy(dst, raw.data(), static_cast<size_t>(numel) * sizeof(uint16_t));
      return;
    }
    std::vector<float> tmp(static_cast<size_t>(numel));
    into(name, tmp.data(), numel);
    for (int64_t i = 0; i < numel; ++i) dst[i] = f32_to_bf16(tmp[static_cast<size_t>(i)]);
  }

  void load(const std::string& name, Tensor& t, const Shape& shape) const {
    t.resize(shape);
    into(name, t.data(), shape.numel());
  }

  /// Allocates `w` as (rows, cols) in matrix_dtype.
  void alloc(WeightMatrix& w, int64_t rows, int64_t cols) const {
    if (matrix_dtype == WeightDtype::BF16) {
      w.f32 = Tensor();
      w.bf16.assign(static_cast<size_t>(rows * cols), 0);
    } else {
      w.bf16.clear();
      w.f32.resize({rows, cols});
    }
  }

  /// Rows [row0, row0 + rows) of matrix w (cols columns) from tensor `name`.
  void into_rows(const std::string& name, WeightMatrix& w, int64_t row0, int64_t rows, int64_t cols) const {
    if (matrix_dtype == WeightDtype::BF16)
      into_bf16(name, w.bf16.data() + row0 * cols, rows * cols);
    else
      into(name, w.f32.data() + row0 * cols, rows * cols);
  }

  void load(const std::string& name, WeightMatrix& w, int64_t rows, int64_t cols) const {
    alloc(w, rows, cols);
    into_rows(name, w, 0, rows, cols);
  }

  /// Stacks the weights (and, when the checkpoint has them, biases) of `modules` row-wise: module i
  /// contributes rows[i] rows of `cols` columns. Biases are all present or all absent.
  void stack(const std::vector<std::string>& modules, const std::vector<int64_t>& rows, int64_t cols,
             WeightMatrix& w, Tensor& b) const {
    int64_t total = 0;
    for (int64_t r : rows) total += r;
    alloc(w, total, cols);
    int64_t off = 0;
    size_t n_bias = 0;
    for (size_t i = 0; i < modules.size(); ++i) {
      into_rows(modules[i] + ".weight", w, off, rows[i], cols);
      off += rows[i];
      n_bias += has(modules[i] + ".bias") ? 1 : 0;
    }
    if (n_bias == 0) {
      b = Tensor();
      return;
    }
    if (n_bias != modules.size())
      throw Error("model", str(source, ": '", modules[0], "' and the projections stacked with it must all have a "
                               "bias or none"));
    b.resize({total});
    off = 0;
    for (size_t i = 0; i < modules.size(); ++i) {
      into(modules[i] + ".bias", b.data() + off, rows[i]);
      off += rows[i];
    }
  }

  void linear(const std::string& module, int64_t out, int64_t in, WeightMatrix& w, Tensor& b) const {
    stack({module}, {out}, in, w, b);
  }
};

}  // namespace

Model Model::load(const std::string& dir, const LoadOptions& opts) {
  Model m;
  m.config_ = config_load(dir);
  const ModelConfig& c = m.config_;
  m.arch_ = arch_spec(c);
  const RopeScaling& rs = c.rope_scaling;
  if (!rope_type_supported(rs.rope_type))
    throw Error("model", str(dir, ": rope_type '", rs.rope_type, "' is not supported (supported: default, linear, llama3)"));
  if (rs.rope_type == "llama3" && rs.original_max_position_embeddings <= 0)
    throw Error("model", str(dir, ": llama3 rope scaling needs original_max_position_embeddings"));
  if ((rs.rope_type == "linear" || rs.rope_type == "llama3") && !(rs.factor > 0))
    throw Error("model", str(dir, ": rope scaling factor must be positive, got ", rs.factor));
  if (c.head_dim % 2 != 0) throw Error("model", str(dir, ": head_dim ", c.head_dim, " must be even for RoPE"));
  RopeParams rp{rs.rope_type, c.rope_theta, rs.factor, rs.low_freq_factor, rs.high_freq_factor,
                rs.original_max_position_embeddings};
  m.rope_inv_freq_ = rope_inv_freq(rp, c.head_dim);

  SafetensorsModel st = SafetensorsModel::open(dir);
  check_weights(c, st, dir);
  m.weight_dtype_ = opts.weights;
  if (m.weight_dtype_ == WeightDtype::Auto) {  // the embedding's dtype stands for the checkpoint's matrices
    const SafetensorsModel::Entry* e = st.find(m.arch_.embed + ".weight");
    m.weight_dtype_ = e && e->info->dtype == Dtype::BF16 && cpu_has_bf16() ? WeightDtype::BF16 : WeightDtype::F32;
  }
  gemm_set_bf16_threading(m.weight_dtype_ == WeightDtype::BF16);  // who gets the threads (kernels/gemm.h)
  WeightReader r{st, dir, m.weight_dtype_};
  const int64_t D = c.hidden_size, V = c.vocab_size, F = c.ffn_dim, Dq = c.q_dim(), Dkv = c.kv_dim();
  const int64_t Dh = c.head_dim, Lc = c.conv_L_cache;
  r.load(m.arch_.embed + ".weight", m.embed_, V, D);
  r.load(m.arch_.final_norm + ".weight", m.final_norm_, {D});
  if (!c.tie_word_embeddings) r.load(m.arch_.lm_head + ".weight", m.lm_head_, V, D);

  m.layers_.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t il = 0; il < c.num_hidden_layers; ++il) {
    const LayerSpec& s = m.arch_.layers[static_cast<size_t>(il)];
    LayerWeights& w = m.layers_[static_cast<size_t>(il)];
    r.load(s.mixer_norm + ".weight", w.mixer_norm, {D});
    if (s.mixer == MixerKind::Attention) {
      r.stack({s.q_proj, s.k_proj, s.v_proj}, {Dq, Dkv, Dkv}, D, w.w_qkv, w.b_qkv);
      if (!s.q_norm.empty()) {
        r.load(s.q_norm + ".weight", w.q_norm, {Dh});
        r.load(s.k_norm + ".weight", w.k_norm, {Dh});
      }
      r.linear(s.o_proj, D, Dq, w.w_o, w.b_o);
    } else {
      if (Lc < 1) throw Error("model", str(dir, ": conv_L_cache must be positive"));
      r.linear(s.conv_in, 3 * D, D, w.w_conv_in, w.b_conv_in);
      r.load(s.conv_kernel + ".weight", w.conv_kernel, {D, Lc});
      if (r.has(s.conv_kernel + ".bias")) r.load(s.conv_kernel + ".bias", w.conv_bias, {D});
      r.linear(s.conv_out, D, D, w.w_o, w.b_o);
    }
    r.load(s.ffn_norm + ".weight", w.ffn_norm, {D});
    r.stack({s.gate, s.up}, {F, F}, D, w.w_gate_up, w.b_gate_up);
    r.linear(s.down, D, F, w.w_down, w.b_down);
  }
  return m;
}

std::vector<NamedWeight> Model::weights() const {
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, V = c.vocab_size, F = c.ffn_dim, Dq = c.q_dim(), Dkv = c.kv_dim();
  std::vector<NamedWeight> out;
  auto add = [&](const std::string& name, const float* p, Shape shape) {
    if (p) out.push_back({name, p, shape, nullptr});
  };
  // block `row0 ..` (shape[0] rows) of matrix w
  auto addm = [&](const std::string& name, const WeightMatrix& w, int64_t row0, Shape shape) {
    if (w.empty()) return;
    const int64_t cols = shape[shape.ndim - 1];
    if (w.f32.empty())
      out.push_back({name, nullptr, shape, w.bf16.data() + row0 * cols});
    else
      out.push_back({name, w.f32.data() + row0 * cols, shape, nullptr});
  };
  addm(arch_.embed + ".weight", embed_, 0, {V, D});
  for (size_t il = 0; il < layers_.size(); ++il) {
    const LayerSpec& s = arch_.layers[il];
    const LayerWeights& w = layers_[il];
    add(s.mixer_norm + ".weight", w.mixer_norm.data(), {D});
    if (s.mixer == MixerKind::Attention) {
      addm(s.q_proj + ".weight", w.w_qkv, 0, {Dq, D});
      addm(s.k_proj + ".weight", w.w_qkv, Dq, {Dkv, D});
      addm(s.v_proj + ".weight", w.w_qkv, Dq + Dkv, {Dkv, D});
      if (!w.b_qkv.empty()) {
        add(s.q_proj + ".bias", w.b_qkv.data(), {Dq});
        add(s.k_proj + ".bias", w.b_qkv.data() + Dq, {Dkv});
        add(s.v_proj + ".bias", w.b_qkv.data() + Dq + Dkv, {Dkv});
      }
      if (!w.q_norm.empty()) {
        add(s.q_norm + ".weight", w.q_norm.data(), {c.head_dim});
        add(s.k_norm + ".weight", w.k_norm.data(), {c.head_dim});
      }
      addm(s.o_proj + ".weight", w.w_o, 0, {D, Dq});
      if (!w.b_o.empty()) add(s.o_proj + ".bias", w.b_o.data(), {D});
    } else {
      addm(s.conv_in + ".weight", w.w_conv_in, 0, {3 * D, D});
      if (!w.b_conv_in.empty()) add(s.conv_in + ".bias", w.b_conv_in.data(), {3 * D});
      add(s.conv_kernel + ".weight", w.conv_kernel.data(), {D, 1, c.conv_L_cache});
      if (!w.conv_bias.empty()) add(s.conv_kernel + ".bias", w.conv_bias.data(), {D});
      addm(s.conv_out + ".weight", w.w_o, 0, {D, D});
      if (!w.b_o.empty()) add(s.conv_out + ".bias", w.b_o.data(), {D});
    }
    add(s.ffn_norm + ".weight", w.ffn_norm.data(), {D});
    addm(s.gate + ".weight", w.w_gate_up, 0, {F, D});
    addm(s.up + ".weight", w.w_gate_up, F, {F, D});
    if (!w.b_gate_up.empty()) {
      add(s.gate + ".bias", w.b_gate_up.data(), {F});
      add(s.up + ".bias", w.b_gate_up.data() + F, {F});
    }
    addm(s.down + ".weight", w.w_down, 0, {D, F});
    if (!w.b_down.empty()) add(s.down + ".bias", w.b_down.data(), {D});
  }
  add(arch_.final_norm + ".weight", final_norm_.data(), {D});
  addm(arch_.lm_head + ".weight", lm_head_, 0, {V, D});
  return out;
}

KvCache Model::make_cache(int64_t n_seq, int64_t capacity) const {
  const ModelConfig& c = config_;
  MC_CHECK(n_seq >= 0 && capacity >= 0, "make_cache(", n_seq, ", ", capacity, ")");
  KvCache kc;
  kc.capacity = capacity;
  kc.length.assign(static_cast<size_t>(n_seq), 0);
  const size_t L = layers_.size();
  kc.k.resize(L);
  kc.v.resize(L);
  kc.conv.resize(L);
  for (size_t il = 0; il < L; ++il) {
    if (arch_.layers[il].mixer == MixerKind::Attention) {
      kc.k[il] = Tensor({n_seq, capacity, c.num_key_value_heads, c.head_dim});
      kc.v[il] = Tensor({n_seq, capacity, c.num_key_value_heads, c.head_dim});
    } else {
      kc.conv[il] = Tensor({n_seq, c.conv_L_cache - 1, c.hidden_size});
    }
  }
  return kc;
}

// ---------------------------------------------------------------------------------------------------
// Forward.

void Model::layer_forward(int64_t il, const float* inp, LayerActs& a, const TokenBatch& batch,
                          const Activations& acts, KvCache* cache, const ForwardOptions& opts) const {
  const ModelConfig& c = config_;
  const LayerSpec& s = arch_.layers[static_cast<size_t>(il)];
  const LayerWeights& w = layers_[static_cast<size_t>(il)];
  const int64_t N = batch.n_tokens(), B = batch.n_seq(), D = c.hidden_size, F = c.ffn_dim;
  const int64_t H = c.num_attention_heads, Hkv = c.num_key_value_heads, Dh = c.head_dim;
  const int64_t Dq = c.q_dim(), Dkv = c.kv_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  // LoRA: adds site's low-rank term to the (n_rows, ld) output `out` from input x, column offset col
  auto lora = [&](LoraSite site, float* out, int64_t ld, const float* x, int64_t col) {
    const LoraWeights* lw = opts.lora ? opts.lora->find(il, site) : nullptr;
    if (!lw) return;
    lora_forward({lw, col}, out, ld, x, N, a.lora_t[static_cast<size_t>(site)], acts.lora_scratch, opts.training,
                 opts.dropout_seed);
  };

  a.norm1.resize({N, D});
  a.rstd1.resize({N});
  rms_norm_forward(a.norm1.data(), a.rstd1.data(), inp, w.mixer_norm.data(), N, D, eps);
  a.mix.resize({N, D});

  if (s.mixer == MixerKind::Attention) {
    const int64_t QKV = Dq + 2 * Dkv;
    a.qkv.resize({N, QKV});
    linear_forward(a.qkv.data(), a.norm1.data(), w.w_qkv.view(), or_null(w.b_qkv), N, D, QKV);
    lora(LoraSite::Q, a.qkv.data(), QKV, a.norm1.data(), 0);
    lora(LoraSite::K, a.qkv.data(), QKV, a.norm1.data(), Dq);
    lora(LoraSite::V, a.qkv.data(), QKV, a.norm1.data(), Dq + Dkv);
    a.q.resize({N, H, Dh});
    a.k.resize({N, Hkv, Dh});
    a.v.resize({N, Hkv, Dh});
    for (int64_t n = 0; n < N; ++n) {
      const float* row = a.qkv.data() + n * QKV;
      std::memcpy(a.q.data() + n * Dq, row, static_cast<size_t>(Dq) * sizeof(float));
      std::memcpy(a.k.data() + n * Dkv, row + Dq, static_cast<size_t>(Dkv) * sizeof(float));
      std::memcpy(a.v.data() + n * Dkv, row + Dq + Dkv, static_cast<size_t>(Dkv) * sizeof(float));
    }
    if (!w.q_norm.empty()) {  // per-head RMSNorm before RoPE (qwen3 q_norm, lfm2 q_layernorm)
      a.q_rstd.resize({N, H});
      a.k_rstd.resize({N, Hkv});
      rms_norm_forward(a.q.data(), a.q_rstd.data(), a.q.data(), w.q_norm.data(), N * H, Dh, eps);
      rms_norm_forward(a.k.data(), a.k_rstd.data(), a.k.data(), w.k_norm.data(), N * Hkv, Dh, eps);
    }
    rope_forward(a.q.data(), a.q.data(), acts.rope_cos.data(), acts.rope_sin.data(), N, H, Dh);
    rope_forward(a.k.data(), a.k.data(), acts.rope_cos.data(), acts.rope_sin.data(), N, Hkv, Dh);

    a.att.resize({N, H, Dh});
    a.lse.resize({N, H});
    // transformers: scaling = head_dim ** -0.5
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t off = batch.offsets[static_cast<size_t>(b)], T = batch.seq_len(b);
      if (T == 0) continue;
      const float* kp = a.k.data() + off * Dkv;
      const float* vp = a.v.data() + off * Dkv;
      int64_t Tk = T;
      if (cache) {  // append this chunk's keys and values, then attend over everything cached
        const int64_t base = b * cache->capacity * Dkv, past = cache->length[static_cast<size_t>(b)];
        float* kc = cache->k[static_cast<size_t>(il)].data() + base;
        float* vc = cache->v[static_cast<size_t>(il)].data() + base;
        std::memcpy(kc + past * Dkv, kp, static_cast<size_t>(T * Dkv) * sizeof(float));
        std::memcpy(vc + past * Dkv, vp, static_cast<size_t>(T * Dkv) * sizeof(float));
        kp = kc;
        vp = vc;
        Tk = past + T;
      }
      attention_forward(a.att.data() + off * Dq, a.lse.data() + off * H, a.q.data() + off * Dq, kp, vp, T, Tk, H, Hkv,
                        Dh, scale, s.window);
    }
    linear_forward(a.mix.data(), a.att.data(), w.w_o.view(), or_null(w.b_o), N, Dq, D);
    lora(LoraSite::O, a.mix.data(), D, a.att.data(), 0);
  } else {
    const int64_t Lc = c.conv_L_cache;
    a.bcx.resize({N, 3 * D});
    linear_forward(a.bcx.data(), a.norm1.data(), w.w_conv_in.view(), or_null(w.b_conv_in), N, D, 3 * D);
    lora(LoraSite::ConvIn, a.bcx.data(), 3 * D, a.norm1.data(), 0);
    a.bx.resize({N, D});
    a.conv.resize({N, D});
    a.y.resize({N, D});
    for (int64_t b = 0; b < B; ++b) {
      const int64_t off = batch.offsets[static_cast<size_t>(b)], T = batch.seq_len(b);
      if (T == 0) continue;
      float* state = cache ? cache->conv[static_cast<size_t>(il)].data() + b * (Lc - 1) * D : nullptr;
      short_conv_forward(a.y.data() + off * D, a.bx.data() + off * D, a.conv.data() + off * D,
                         a.bcx.data() + off * 3 * D, state, w.conv_kernel.data(), or_null(w.conv_bias), T, D, Lc);
      if (cache) short_conv_state_update(state, a.bx.data() + off * D, T, D, Lc);
    }
    linear_forward(a.mix.data(), a.y.data(), w.w_o.view(), or_null(w.b_o), N, D, D);
    lora(LoraSite::ConvOut, a.mix.data(), D, a.y.data(), 0);
  }

  a.res1.resize({N, D});
  residual_forward(a.res1.data(), inp, a.mix.data(), N * D);
  a.norm2.resize({N, D});
  a.rstd2.resize({N});
  rms_norm_forward(a.norm2.data(), a.rstd2.data(), a.res1.data(), w.ffn_norm.data(), N, D, eps);
  a.gate_up.resize({N, 2 * F});
  linear_forward(a.gate_up.data(), a.norm2.data(), w.w_gate_up.view(), or_null(w.b_gate_up), N, D, 2 * F);
  lora(LoraSite::Gate, a.gate_up.data(), 2 * F, a.norm2.data(), 0);
  lora(LoraSite::Up, a.gate_up.data(), 2 * F, a.norm2.data(), F);
  a.act.resize({N, F});
  swiglu_forward(a.act.data(), a.gate_up.data(), N, F);
  a.ffn.resize({N, D});
  linear_forward(a.ffn.data(), a.act.data(), w.w_down.view(), or_null(w.b_down), N, F, D);
  lora(LoraSite::Down, a.ffn.data(), D, a.act.data(), 0);
  a.out.resize({N, D});
  residual_forward(a.out.data(), a.res1.data(), a.ffn.data(), N * D);
}

void Model::forward(const TokenBatch& batch, Activations& acts, const ForwardOptions& opts, KvCache* cache) const {
  const ModelConfig& c = config_;
  const int64_t N = batch.n_tokens(), B = batch.n_seq(), D = c.hidden_size, V = c.vocab_size;
  const int64_t L = c.num_hidden_layers, half = c.head_dim / 2;
  MC_CHECK(!batch.offsets.empty() && batch.offsets.front() == 0 && batch.offsets.back() == N, "malformed TokenBatch");
  for (int64_t b = 0; b < B; ++b) MC_CHECK(batch.seq_len(b) >= 0, "malformed TokenBatch");
  for (int64_t n = 0; n < N; ++n) {
    int32_t t = batch.tokens[static_cast<size_t>(n)];
    if (t < 0 || t >= V) throw Error("model", str("token id ", t, " is outside the vocabulary [0, ", V, ")"));
  }
  if (cache) {
    MC_CHECK(cache->n_seq() == B, "cache holds ", cache->n_seq(), " sequences, batch has ", B);
    for (int64_t b = 0; b < B; ++b)
      if (cache->length[static_cast<size_t>(b)] + batch.seq_len(b) > cache->capacity)
        throw Error("model", str("sequence ", b, ": ", cache->length[static_cast<size_t>(b)] + batch.seq_len(b),
                                 " positions exceed the cache capacity of ", cache->capacity), ExitCode::Runtime);
  }

  acts.n_tokens = N;
  acts.pos.resize(static_cast<size_t>(N));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = cache ? cache->length[static_cast<size_t>(b)] : 0;
    for (int64_t i = 0; i < batch.seq_len(b); ++i)
      acts.pos[static_cast<size_t>(batch.offsets[static_cast<size_t>(b)] + i)] = static_cast<int32_t>(start + i);
  }
  acts.rope_cos.resize({N, half});
  acts.rope_sin.resize({N, half});
  rope_cos_sin(acts.rope_cos.data(), acts.rope_sin.data(), acts.pos.data(), rope_inv_freq_.data(), N, half);

  acts.embed.resize({N, D});
  embedding_forward(acts.embed.data(), batch.tokens.data(), embed_.view(), N, D, V);

  const bool keep = opts.keep_acts, capture = opts.capture_hidden || opts.keep_acts;
  acts.kept = keep;
  acts.layers.resize(static_cast<size_t>(keep ? L : std::min<int64_t>(L, 2)));
  acts.hidden.resize(static_cast<size_t>(capture && !keep ? L : 0));
  const float* x = acts.embed.data();
  for (int64_t il = 0; il < L; ++il) {
    LayerActs& la = acts.layers[static_cast<size_t>(keep ? il : il % 2)];
    layer_forward(il, x, la, batch, acts, cache, opts);
    if (capture && !keep) {
      Tensor& h = acts.hidden[static_cast<size_t>(il)];
      h.resize({N, D});
      std::memcpy(h.data(), la.out.data(), static_cast<size_t>(N * D) * sizeof(float));
    }
    x = la.out.data();
  }
  if (cache)
    for (int64_t b = 0; b < B; ++b) cache->length[static_cast<size_t>(b)] += batch.seq_len(b);

  acts.final_norm.resize({N, D});
  acts.final_rstd.resize({N});
  rms_norm_forward(acts.final_norm.data(), acts.final_rstd.data(), x, final_norm_.data(), N, D,
                   static_cast<float>(c.rms_norm_eps));

  const WeightView head = this->head();
  switch (opts.logits) {
    case LogitsMode::All:
      acts.logits.resize({N, V});
      linear_forward(acts.logits.data(), acts.final_norm.data(), head, nullptr, N, D, V);
      break;
    case LogitsMode::Last:
      acts.last_norm.resize({B, D});
      for (int64_t b = 0; b < B; ++b) {
        MC_CHECK(batch.seq_len(b) > 0, "LogitsMode::Last needs a token in every sequence");
        std::memcpy(acts.last_norm.data() + b * D, acts.final_norm.data() + (batch.offsets[static_cast<size_t>(b + 1)] - 1) * D,
                    static_cast<size_t>(D) * sizeof(float));
      }
      acts.logits.resize({B, V});
      linear_forward(acts.logits.data(), acts.last_norm.data(), head, nullptr, B, D, V);
      break;
    case LogitsMode::None:
      acts.logits.resize({0});
      break;
  }
}

// ---------------------------------------------------------------------------------------------------
// Decoding.

int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

std::vector<int32_t> generate_greedy(const Model& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                                     const std::vector<int64_t>& stop_ids) {
  if (prompt.empty()) throw Error("model", "generation needs a non-empty prompt");
  const int64_t V = model.config().vocab_size;
  KvCache cache = model.make_cache(1, static_cast<int64_t>(prompt.size()) + max_new_tokens);
  Activations acts;
  ForwardOptions opts;
  opts.logits = LogitsMode::Last;
  std::vector<int32_t> out;
  TokenBatch step = TokenBatch::from_sequences({prompt});
  while (static_cast<int64_t>(out.size()) < max_new_tokens) {
    model.forward(step, acts, opts, &cache);
    const int32_t next = static_cast<int32_t>(argmax(acts.logits.data(), V));
    out.push_back(next);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    step = TokenBatch::from_sequences({{next}});
  }
  return out;
}

}  // namespace mc
