#include "kernels/rope.h"

#include <cmath>

#include "core/error.h"

namespace mc {

bool rope_type_supported(const std::string& t) { return t == "default" || t == "linear" || t == "llama3"; }

std::vector<float> rope_inv_freq(const RopeParams& p, int64_t head_dim) {
  MC_CHECK(head_dim > 0 && head_dim % 2 == 0, "head_dim ", head_dim, " must be even");
  MC_CHECK(rope_type_supported(p.rope_type), "rope_type ", p.rope_type);
  const int64_t half = head_dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), float32 tensors
    float e = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    float pw = static_cast<float>(std::pow(p.theta, static_cast<double>(e)));
    inv[static_cast<size_t>(i)] = 1.0f / pw;
  }
  if (p.rope_type == "linear") {
    for (float& f : inv) f = static_cast<float>(f / p.factor);
  } else if (p.rope_type == "llama3") {
    // _compute_llama3_parameters: wavelengths above low_freq_wavelen are divided by factor, those
    // below high_freq_wavelen kept, the band between interpolated smoothly.
    const double old_ctx = static_cast<double>(p.original_max_position_embeddings);
    const float low_wavelen = static_cast<float>(old_ctx / p.low_freq_factor);
    const float high_wavelen = static_cast<float>(old_ctx / p.high_freq_factor);
    const float factor = static_cast<float>(p.factor);
    for (float& f : inv) {
      float wavelen = static_cast<float>(2.0 * M_PI) / f;
      float scaled = wavelen > low_wavelen ? f / factor : f;
      if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
        float smooth = (static_cast<float>(old_ctx) / wavelen - static_cast<float>(p.low_freq_factor)) /
                       static_cast<float>(p.high_freq_factor - p.low_freq_factor);
        scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
      }
      f = scaled;
    }
  }
  return inv;
}

void rope_cos_sin(float* cos, float* sin, const int32_t* pos, const float* inv_freq, int64_t N, int64_t half) {
  for (int64_t n = 0; n < N; ++n) {
    float p = static_cast<float>(pos[n]);
    for (int64_t i = 0; i < half; ++i) {
      double a = static_cast<double>(p * inv_freq[i]);
      cos[n * half + i] = static_cast<float>(std::cos(a));
      sin[n * half + i] = static_cast<float>(std::sin(a));
    }
  }
}

void rope_forward(float* out, const float* x, const float* cos, const float* sin, int64_t N, int64_t H,
                  int64_t Dh) {
  const int64_t half = Dh / 2;
  for (int64_t n = 0; n < N; ++n) {
    const float* c = cos + n * half;
    const float* s = sin + n * half;
    for (int64_t h = 0; h < H; ++h) {
      const float* xr = x + (n * H + h) * Dh;
      float* o = out + (n * H + h) * Dh;
      for (int64_t i = 0; i < half; ++i) {
        float x1 = xr[i], x2 = xr[i + half];
        // q * cos + rotate_half(q) * sin, each product rounded as torch does
        o[i] = x1 * c[i] + (-x2) * s[i];
        o[i + half] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

void rope_forward_ref(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                      int64_t Dh) {
  const int64_t half = Dh / 2;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        // the angle is a float32 product in transformers too; only the trig and the rotation are in double
        double a = static_cast<double>(static_cast<float>(pos[n]) * inv_freq[i]);
        double x1 = x[(n * H + h) * Dh + i], x2 = x[(n * H + h) * Dh + i + half];
        out[(n * H + h) * Dh + i] = static_cast<float>(x1 * std::cos(a) - x2 * std::sin(a));
        out[(n * H + h) * Dh + i + half] = static_cast<float>(x2 * std::cos(a) + x1 * std::sin(a));
      }
    }
  }
}

void rope_backward(float* dx, const float* dout, const float* cos, const float* sin, int64_t N, int64_t H,
                   int64_t Dh) {
  // the transpose of the rotation [c −s; s c] is the rotation by −a: [c s; −s c]
  const int64_t half = Dh / 2;
  for (int64_t n = 0; n < N; ++n) {
    const float* c = cos + n * half;
    const float* s = sin + n * half;
    for (int64_t h = 0; h < H; ++h) {
      const float* g = dout + (n * H + h) * Dh;
      float* o = dx + (n * H + h) * Dh;
      for (int64_t i = 0; i < half; ++i) {
        float g1 = g[i], g2 = g[i + half];  // both read before either is written: dx may alias dout
        o[i] = g1 * c[i] + g2 * s[i];
        o[i + half] = g2 * c[i] - g1 * s[i];
      }
    }
  }
}

namespace {
// Rotation of double rows by float32 angles pos · inv_freq (as rope_forward_ref), by +a or by −a.
void rope_rotate_ref(double* out, const double* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                     int64_t Dh, double sign) {
  const int64_t half = Dh / 2;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < half; ++i) {
      const double a = static_cast<double>(static_cast<float>(pos[n]) * inv_freq[i]);
      const double c = std::cos(a), s = sign * std::sin(a);
      for (int64_t h = 0; h < H; ++h) {
        const double x1 = x[(n * H + h) * Dh + i], x2 = x[(n * H + h) * Dh + i + half];
        out[(n * H + h) * Dh + i] = x1 * c - x2 * s;
        out[(n * H + h) * Dh + i + half] = x2 * c + x1 * s;
      }
    }
  }
}
}  // namespace

void rope_forward_ref(double* out, const double* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                      int64_t Dh) {
  rope_rotate_ref(out, x, pos, inv_freq, N, H, Dh, 1.0);
}

void rope_backward_ref(double* dx, const double* dout, const int32_t* pos, const float* inv_freq, int64_t N,
                       int64_t H, int64_t Dh) {
  rope_rotate_ref(dx, dout, pos, inv_freq, N, H, Dh, -1.0);
}

}  // namespace mc
