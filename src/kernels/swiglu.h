// SwiGLU activation of the gated MLP (LlamaMLP / Lfm2MLP: down(silu(gate(x)) ⊙ up(x))). The gate and up
// projections run as one GEMM over the stacked weight [gate; up], so the input row is gate | up.
#pragma once
#include <cstdint>

namespace mc {

/// out (N, F) = silu(gate) ⊙ up where gate_up (N, 2F) holds gate in columns [0, F) and up in [F, 2F);
/// silu(g) = g / (1 + exp(-g)) as torch computes it. gate_up is what the backward pass needs.
void swiglu_forward(float* out, const float* gate_up, int64_t N, int64_t F);
/// Scalar reference in double.
void swiglu_forward_ref(float* out, const float* gate_up, int64_t N, int64_t F);


/// Backward: dgate_up (N, 2F) from dout (N, F) = ∂L/∂out and the forward's input gate_up (N, 2F);
/// ∂/∂gate = dout · up · silu'(gate), ∂/∂up = dout · silu(gate). Overwrites dgate_up.
void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int64_t N, int64_t F);
/// Forward reference on double data: out (N, F) from gate_up (N, 2F).
void swiglu_forward_ref(double* out, const double* gate_up, int64_t N, int64_t F);
/// Backward reference in double: dgate_up (N, 2F) from dout (N, F) and gate_up (N, 2F). Overwrites.
void swiglu_backward_ref(double* dgate_up, const double* dout, const double* gate_up, int64_t N, int64_t F);

}  // namespace mc
