// Applying LoRA adapters inside the engine's linears, forward and backward (model/lora.h has the math).
// A fused base GEMM (q|k|v, gate|up) computes every block at once; each adapted block then gets its
// low-rank term added to its columns of the fused output:
//   out[:, off : off+out] += scale · t Bᵀ,   t = drop(x) Aᵀ  (N, r), saved for the backward pass.
// Dropout (training only) zeroes input elements with probability p and scales the rest by 1/(1−p); the
// mask is a pure function of (seed, layer, site, element index), so the backward pass and a recomputed
// forward (gradient checkpointing) regenerate it without storing it.
#pragma once
#include <cstdint>

#include "model/lora.h"
#include "tensor/tensor.h"

namespace mc {

/// Where one adapter's term lands: the (N, ld) fused output and its first column.
struct LoraBlock {
  const LoraWeights* w = nullptr;  // null: the block is not adapted
  int64_t            col = 0;      // first column of the block in the fused output
};

/// Scratch buffers reused across calls (grown, never shrunk).
struct LoraScratch {
  Tensor mask;   // (N, in) dropout mask: 0 or 1/(1 − p)
  Tensor xdrop;  // (N, in) x ⊙ mask
  Tensor dt;     // (N, r)
  Tensor g;      // (N, in) dt A before masking
};

/// Forward: out (N, ld) += scale · (drop(x) Aᵀ) Bᵀ in columns [col, col + w.out). x is (N, w.in).
/// t (N, r) receives drop(x) Aᵀ.
void lora_forward(const LoraBlock& blk, float* out, int64_t ld, const float* x, int64_t N, Tensor& t,
                  LoraScratch& s, bool dropout_active, uint64_t seed);

/// Backward of lora_forward. dout (N, ld) is ∂L/∂out (the block's columns are read); x and t as saved.
/// Accumulates dA (r, in), dB (out, r) and adds the input gradient into dx (N, in).
void lora_backward(const LoraBlock& blk, const float* dout, int64_t ld, const float* x, const float* t, int64_t N,
                   float* dx, Tensor& dA, Tensor& dB, LoraScratch& s, bool dropout_active, uint64_t seed);

}  // namespace mc
