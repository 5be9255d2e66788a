// The engine's loss and backward pass (llm.c style: explicit reverse of layer_forward, no autograd).
// Base weights are frozen, so only input gradients flow through the base linears (one GEMM each) and
// weight gradients are taken for the LoRA factors alone (model/lora_apply.h). The loss is next-token
// cross-entropy computed from the final norm a chunk of rows at a time: each chunk's logits are turned
// into their gradient in place and folded back into ∂L/∂final_norm before the next chunk, so a
// training batch never holds (N, V) logits. Positions without a target are skipped entirely.
//
// Checked against PyTorch + PEFT gradients in tests/golden/train_grad_golden_test.cpp and against finite
// differences of the forward in tests/unit/model/backward_test.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/short_conv.h"
#include "kernels/swiglu.h"
#include "model/lora_apply.h"
#include "model/transformer.h"

namespace mc {

namespace {

/// Rows of logits computed at once: 64 × 49152 floats = 12 MiB for SmolLM2's vocabulary, small enough
/// to stay out of the way, large enough that the (64, D) × (D, V) GEMM runs near peak.
constexpr int64_t kLossChunkRows = 64;

/// Gathers the positions with a target and checks the ids.
void target_rows(const int32_t* targets, int64_t N, int64_t V, std::vector<int64_t>& rows) {
  rows.clear();
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    if (targets[n] >= V)
      throw Error("model", str("target token id ", targets[n], " is outside the vocabulary [0, ", V, ")"));
    rows.push_back(n);
  }
}

}  // namespace

void Model::loss_head(const Activations& acts, const int32_t* targets, const float* dscale, float* losses,
                      float* dnorm, BackwardScratch& ws) const {
  const int64_t N = acts.n_tokens, D = config_.hidden_size, V = config_.vocab_size;
  std::fill(losses, losses + N, 0.0f);
  if (dnorm) std::fill(dnorm, dnorm + N * D, 0.0f);
  target_rows(targets, N, V, ws.rows);
  Tensor xin({kLossChunkRows, D}), dxin({kLossChunkRows, D});
  std::vector<int32_t> tg(static_cast<size_t>(kLossChunkRows));
  std::vector<float> sc(static_cast<size_t>(kLossChunkRows)), lc(static_cast<size_t>(kLossChunkRows));
  ws.logits.resize({kLossChunkRows, V});
  const int64_t R = static_cast<int64_t>(ws.rows.size());
  for (int64_t r0 = 0; r0 < R; r0 += kLossChunkRows) {
    const int64_t n = std::min(kLossChunkRows, R - r0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = ws.rows[static_cast<size_t>(r0 + i)];
      std::memcpy(xin.row(i), acts.final_norm.data() + row * D, static_cast<size_t>(D) * sizeof(float));
      tg[static_cast<size_t>(i)] = targets[row];
      if (dnorm) sc[static_cast<size_t>(i)] = dscale[row];
    }
    // logits (n, V) = xin · headᵀ; with dnorm, turned into their gradient in place
    linear_forward(ws.logits.data(), xin.data(), head(), nullptr, n, D, V);
    cross_entropy_forward_backward(lc.data(), dnorm ? ws.logits.data() : nullptr, ws.logits.data(), tg.data(),
                                   dnorm ? sc.data() : nullptr, n, V);
    // dxin (n, D) = dlogits (n, V) · head (V, D)
    if (dnorm) linear_backward_input(dxin.data(), ws.logits.data(), head(), n, D, V);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = ws.rows[static_cast<size_t>(r0 + i)];
      losses[row] = lc[static_cast<size_t>(i)];
      if (dnorm) std::memcpy(dnorm + row * D, dxin.row(i), static_cast<size_t>(D) * sizeof(float));
    }
  }
}

void Model::token_losses(const Activations& acts, const int32_t* targets, float* losses,
                         BackwardScratch& ws) const {
  MC_CHECK(acts.final_norm.numel() == acts.n_tokens * config_.hidden_size, "token_losses needs a forward pass first");
  loss_head(acts, targets, nullptr, losses, nullptr, ws);
}

void Model::backward(const TokenBatch& batch, Activations& acts, const ForwardOptions& opts, const int32_t* targets,
                     const float* dscale, float* losses, LoraGrads& grads, BackwardScratch& ws) const {
  const ModelConfig& c = config_;
  const int64_t N = batch.n_tokens(), D = c.hidden_size, L = c.num_hidden_layers;
  MC_CHECK(acts.n_tokens == N && acts.final_norm.numel() == N * D, "backward needs the batch's forward pass");
  MC_CHECK(acts.kept || static_cast<int64_t>(acts.hidden.size()) == L,
           "backward needs a forward pass with keep_acts or capture_hidden");
  MC_CHECK(opts.lora != nullptr && grads.dA.size() == opts.lora->modules.size(),
           "backward needs the LoRA set of the forward pass and gradients shaped like it");

  // ---- loss head: ∂L/∂final_norm, chunk by chunk over the positions with a target
  ws.dnorm.resize({N, D});
  loss_head(acts, targets, dscale, losses, ws.dnorm.data(), ws);

  // ---- final norm: ∂L/∂(residual stream after the last layer)
  const float* last = L > 0 ? acts.layer_output(L - 1).data() : acts.embed.data();
  ws.dx.resize({N, D});
  rms_norm_backward(ws.dx.data(), ws.dnorm.data(), last, final_norm_.data(), acts.final_rstd.data(), N, D, false);

  // ---- layers, last to first; with checkpointing each layer's activations are recomputed first
  for (int64_t il = L - 1; il >= 0; --il) {
    const float* inp = il == 0 ? acts.embed.data() : acts.layer_output(il - 1).data();
    const LayerActs* la = nullptr;
    if (acts.kept) {
      la = &acts.layers[static_cast<size_t>(il)];
    } else {
      layer_forward(il, inp, ws.layer, batch, acts, nullptr, opts);
      la = &ws.layer;
    }
    layer_backward(il, inp, *la, batch, acts, opts, grads, ws);
  }
  // token embeddings are frozen: the gradient stops here
}

void Model::layer_backward(int64_t il, const float* inp, const LayerActs& a, const TokenBatch& batch,
                           const Activations& acts, const ForwardOptions& opts, LoraGrads& grads,
                           BackwardScratch& ws) const {
  const ModelConfig& c = config_;
  const LayerSpec& s = arch_.layers[static_cast<size_t>(il)];
  const LayerWeights& w = layers_[static_cast<size_t>(il)];
  const int64_t N = batch.n_tokens(), B = batch.n_seq(), D = c.hidden_size, F = c.ffn_dim;
  const int64_t H = c.num_attention_heads, Hkv = c.num_key_value_heads, Dh = c.head_dim;
  const int64_t Dq = c.q_dim(), Dkv = c.kv_dim();
  const LoraSet& set = *opts.lora;
  // LoRA backward of `site` whose output gradient is dout (N, ld) at column col, input x, into dx
  auto lora = [&](LoraSite site, const float* dout, int64_t ld, const float* x, int64_t col, float* dx) {
    const LoraWeights* lw = set.find(il, site);
    if (!lw) return;
    const size_t m = static_cast<size_t>(lw - set.modules.data());
    lora_backward({lw, col}, dout, ld, x, a.lora_t[static_cast<size_t>(site)].data(), N, dx, grads.dA[m],
                  grads.dB[m], ws.lora, opts.training, opts.dropout_seed);
  };
  float* dx = ws.dx.data();  // in: ∂L/∂out; becomes ∂L/∂res1, then ∂L/∂inp

  // ---- MLP: out = res1 + down(swiglu(gate_up(norm2)))
  ws.dffn_in.resize({N, F});
  linear_backward_input(ws.dffn_in.data(), dx, w.w_down.view(), N, F, D);  // ∂L/∂act
  lora(LoraSite::Down, dx, D, a.act.data(), 0, ws.dffn_in.data());
  ws.dgate_up.resize({N, 2 * F});
  swiglu_backward(ws.dgate_up.data(), ws.dffn_in.data(), a.gate_up.data(), N, F);
  ws.dnorm.resize({N, D});
  linear_backward_input(ws.dnorm.data(), ws.dgate_up.data(), w.w_gate_up.view(), N, D, 2 * F);
  lora(LoraSite::Gate, ws.dgate_up.data(), 2 * F, a.norm2.data(), 0, ws.dnorm.data());
  lora(LoraSite::Up, ws.dgate_up.data(), 2 * F, a.norm2.data(), F, ws.dnorm.data());
  rms_norm_backward(dx, ws.dnorm.data(), a.res1.data(), w.ffn_norm.data(), a.rstd2.data(), N, D, true);
  // dx = ∂L/∂res1 = ∂L/∂mix (res1 = inp + mix)

  if (s.mixer == MixerKind::Attention) {
    const int64_t QKV = Dq + 2 * Dkv;
    ws.dmix_in.resize({N, Dq});
    linear_backward_input(ws.dmix_in.data(), dx, w.w_o.view(), N, Dq, D);  // ∂L/∂att
    lora(LoraSite::O, dx, D, a.att.data(), 0, ws.dmix_in.data());
    ws.dq.resize({N, H, Dh});
    ws.dk.resize({N, Hkv, Dh});
    ws.dv.resize({N, Hkv, Dh});
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t off = batch.offsets[static_cast<size_t>(b)], T = batch.seq_len(b);
      if (T == 0) continue;
      attention_backward(ws.dq.data() + off * Dq, ws.dk.data() + off * Dkv, ws.dv.data() + off * Dkv,
                         ws.dmix_in.data() + off * Dq, a.q.data() + off * Dq, a.k.data() + off * Dkv,
                         a.v.data() + off * Dkv, a.att.data() + off * Dq, a.lse.data() + off * H, T, H, Hkv, Dh,
                         scale, s.window);
    }
    rope_backward(ws.dq.data(), ws.dq.data(), acts.rope_cos.data(), acts.rope_sin.data(), N, H, Dh);
    rope_backward(ws.dk.data(), ws.dk.data(), acts.rope_cos.data(), acts.rope_sin.data(), N, Hkv, Dh);
    if (!w.q_norm.empty()) {  // per-head RMSNorm: its input is the raw projection in qkv
      auto norm_back = [&](Tensor& d, int64_t heads, int64_t col, const Tensor& weight, const Tensor& rstd) {
        ws.qk_pre.resize({N, heads, Dh});
        for (int64_t n = 0; n < N; ++n)
          std::memcpy(ws.qk_pre.data() + n * heads * Dh, a.qkv.data() + n * QKV + col,
                      static_cast<size_t>(heads * Dh) * sizeof(float));
        rms_norm_backward(d.data(), d.data(), ws.qk_pre.data(), weight.data(), rstd.data(), N * heads, Dh, false);
      };
      norm_back(ws.dq, H, 0, w.q_norm, a.q_rstd);
      norm_back(ws.dk, Hkv, Dq, w.k_norm, a.k_rstd);
    }
    ws.dqkv.resize({N, QKV});
    for (int64_t n = 0; n < N; ++n) {
      float* row = ws.dqkv.data() + n * QKV;
      std::memcpy(row, ws.dq.data() + n * Dq, static_cast<size_t>(Dq) * sizeof(float));
      std::memcpy(row + Dq, ws.dk.data() + n * Dkv, static_cast<size_t>(Dkv) * sizeof(float));
      std::memcpy(row + Dq + Dkv, ws.dv.data() + n * Dkv, static_cast<size_t>(Dkv) * sizeof(float));
    }
    linear_backward_input(ws.dnorm.data(), ws.dqkv.data(), w.w_qkv.view(), N, D, QKV);
    lora(LoraSite::Q, ws.dqkv.data(), QKV, a.norm1.data(), 0, ws.dnorm.data());
    lora(LoraSite::K, ws.dqkv.data(), QKV, a.norm1.data(), Dq, ws.dnorm.data());
    lora(LoraSite::V, ws.dqkv.data(), QKV, a.norm1.data(), Dq + Dkv, ws.dnorm.data());
  } else {
    const int64_t Lc = c.conv_L_cache;
    ws.dmix_in.resize({N, D});
    linear_backward_input(ws.dmix_in.data(), dx, w.w_o.view(), N, D, D);  // ∂L/∂y
    lora(LoraSite::ConvOut, dx, D, a.y.data(), 0, ws.dmix_in.data());
    ws.dqkv.resize({N, 3 * D});
    for (int64_t b = 0; b < B; ++b) {
      const int64_t off = batch.offsets[static_cast<size_t>(b)], T = batch.seq_len(b);
      if (T == 0) continue;
      short_conv_backward(ws.dqkv.data() + off * 3 * D, nullptr, nullptr, ws.dmix_in.data() + off * D,
                          a.bcx.data() + off * 3 * D, a.bx.data() + off * D, a.conv.data() + off * D,
                          w.conv_kernel.data(), T, D, Lc);
    }
    linear_backward_input(ws.dnorm.data(), ws.dqkv.data(), w.w_conv_in.view(), N, D, 3 * D);
    lora(LoraSite::ConvIn, ws.dqkv.data(), 3 * D, a.norm1.data(), 0, ws.dnorm.data());
  }
  // dx = ∂L/∂res1 + mixer_norm backward: ∂L/∂inp
  rms_norm_backward(dx, ws.dnorm.data(), inp, w.mixer_norm.data(), a.rstd1.data(), N, D, true);
}

}  // namespace mc
