// Rotary position embedding as transformers 5.23 applies it (rotate-half convention of LlamaRotaryEmbedding
// / apply_rotary_pos_emb): for i < Dh/2, with angle a = position · inv_freq[i],
//   out[i]        = x[i] cos a − x[i + Dh/2] sin a
//   out[i + Dh/2] = x[i + Dh/2] cos a + x[i] sin a.
// The inverse frequencies follow modeling_rope_utils.py for rope_type "default", "linear" and "llama3"
// (attention_scaling is 1 for all three). RoPE is a rotation, so its backward is the rotation by −a and
// needs nothing saved.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mc {

struct RopeParams {
  std::string rope_type = "default";  // "default", "linear" or "llama3"
  double  theta = 10000.0;
  double  factor = 1.0;               // linear, llama3
  double  low_freq_factor = 1.0;      // llama3
  double  high_freq_factor = 4.0;     // llama3
  int64_t original_max_position_embeddings = 0;  // llama3
};

/// True for the rope types rope_inv_freq implements.
bool rope_type_supported(const std::string& rope_type);

/// inv_freq (Dh/2) for head_dim Dh (even). Computed in float32 in the order transformers uses
/// (1 / theta^(2i/Dh), then the scaling rule) so the angles match it to the last bit where possible.
std::vector<float> rope_inv_freq(const RopeParams& p, int64_t head_dim);

/// cos, sin (N, Dh/2) for the positions pos (N): angle = float(pos) · inv_freq, a float32 product as in
/// transformers, whose cos/sin are then evaluated in double and rounded.
void rope_cos_sin(float* cos, float* sin, const int32_t* pos, const float* inv_freq, int64_t N, int64_t half);

/// out (N, H, Dh) = x (N, H, Dh) rotated by the angles of its row: cos, sin (N, Dh/2). out may alias x.
void rope_forward(float* out, const float* x, const float* cos, const float* sin, int64_t N, int64_t H,
                  int64_t Dh);
/// Scalar reference: angles float(pos) · inv_freq computed on the fly from pos (N) and inv_freq (Dh/2),
/// trigonometry and rotation in double.
void rope_forward_ref(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                      int64_t Dh);


/// Backward of rope_forward: dx (N, H, Dh) = dout rotated by the negated angles. dx may alias dout.
void rope_backward(float* dx, const float* dout, const float* cos, const float* sin, int64_t N, int64_t H,
                   int64_t Dh);
/// Forward reference in double: as rope_forward_ref (float32 angles, trigonometry in double) on double data.
void rope_forward_ref(double* out, const double* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                      int64_t Dh);
/// Backward reference in double: dx (N, H, Dh) = dout rotated by the negated angles of rope_forward_ref.
void rope_backward_ref(double* dx, const double* dout, const int32_t* pos, const float* inv_freq, int64_t N,
                       int64_t H, int64_t Dh);

}  // namespace mc
