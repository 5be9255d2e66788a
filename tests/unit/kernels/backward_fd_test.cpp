// Finite-difference checks of the double backward references: for a random cotangent dout and the
// scalar L(x) = Σ dout ⊙ forward_ref(x), central differences of L in double must equal the reference
// backward's gradient (kFdTol). This validates the references the fast backward kernels are tested against.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backward_test_util.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/linear.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/short_conv.h"
#include "kernels/swiglu.h"

namespace mc {
namespace {

using test::fd_gradient;
using test::kFdTol;
using test::max_rel_err_d;
using test::randn_d;

TEST(BackwardFd, RmsNorm) {
  uint32_t seed = 11;
  // D = 1 is left out: there out = w · x / sqrt(x² + eps) ≈ w · sign(x) and the gradient, ∝ eps / x², is
  // below the finite differences' rounding floor
  for (auto [N, D] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {1, 7}, {3, 5}, {2, 33}}) {
    auto x = randn_d(static_cast<size_t>(N * D), seed++, 2.0f);
    auto w = randn_d(static_cast<size_t>(D), seed++);
    auto dout = randn_d(x.size(), seed++);
    const double eps = 1e-5;
    std::vector<double> out(x.size()), dx(x.size());
    rms_norm_backward_ref(dx.data(), dout.data(), x.data(), w.data(), N, D, eps);
    auto fd = fd_gradient(x, [&] {
      rms_norm_forward_ref(out.data(), x.data(), w.data(), N, D, eps);
      return test::dot(dout, out);
    });
    EXPECT_LE(max_rel_err_d(dx, fd), kFdTol) << N << "x" << D;
  }
}

TEST(BackwardFd, Rope) {
  const int64_t N = 4, H = 3, Dh = 8;
  auto inv_freq = rope_inv_freq(RopeParams{}, Dh);
  const std::vector<int32_t> pos = {0, 1, 17, 1999};
  auto x = randn_d(static_cast<size_t>(N * H * Dh), 21);
  auto dout = randn_d(x.size(), 22);
  std::vector<double> out(x.size()), dx(x.size());
  rope_backward_ref(dx.data(), dout.data(), pos.data(), inv_freq.data(), N, H, Dh);
  auto fd = fd_gradient(x, [&] {
    rope_forward_ref(out.data(), x.data(), pos.data(), inv_freq.data(), N, H, Dh);
    return test::dot(dout, out);
  });
  EXPECT_LE(max_rel_err_d(dx, fd), kFdTol);
}

TEST(BackwardFd, Swiglu) {
  const int64_t N = 3, F = 7;
  auto gu = randn_d(static_cast<size_t>(N * 2 * F), 31, 3.0f);
  auto dout = randn_d(static_cast<size_t>(N * F), 32);
  std::vector<double> out(dout.size()), dgu(gu.size());
  swiglu_backward_ref(dgu.data(), dout.data(), gu.data(), N, F);
  auto fd = fd_gradient(gu, [&] {
    swiglu_forward_ref(out.data(), gu.data(), N, F);
    return test::dot(dout, out);
  });
  EXPECT_LE(max_rel_err_d(dgu, fd), kFdTol);
}

TEST(BackwardFd, Linear) {
  const int64_t N = 3, C = 5, OC = 4;
  auto x = randn_d(static_cast<size_t>(N * C), 41);
  auto w = randn_d(static_cast<size_t>(OC * C), 42);
  auto b = randn_d(static_cast<size_t>(OC), 43);
  auto dout = randn_d(static_cast<size_t>(N * OC), 44);
  std::vector<double> out(dout.size()), dx(x.size()), dw(w.size()), db(b.size());
  linear_backward_ref(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C, OC);
  auto loss = [&] {
    linear_forward_ref(out.data(), x.data(), w.data(), b.data(), N, C, OC);
    return test::dot(dout, out);
  };
  EXPECT_LE(max_rel_err_d(dx, fd_gradient(x, loss)), kFdTol);
  EXPECT_LE(max_rel_err_d(dw, fd_gradient(w, loss)), kFdTol);
  EXPECT_LE(max_rel_err_d(db, fd_gradient(b, loss)), kFdTol);
}

TEST(BackwardFd, CrossEntropy) {
  const int64_t n = 4, V = 11;
  auto x = randn_d(static_cast<size_t>(n * V), 51, 3.0f);
  const std::vector<int32_t> targets = {3, -100, 0, 10};  // row 1 ignored; first and last class
  const std::vector<double> dscale = {0.25, 0.5, -1.5, 2.0};
  std::vector<double> losses(static_cast<size_t>(n)), dx(x.size());
  cross_entropy_forward_backward_ref(losses.data(), dx.data(), x.data(), targets.data(), dscale.data(), n, V);
  // L = Σ_r dscale[r] · loss[r]: the cotangent of the per-row losses is dscale
  auto fd = fd_gradient(x, [&] {
    cross_entropy_forward_backward_ref(losses.data(), nullptr, x.data(), targets.data(), dscale.data(), n, V);
    return test::dot(dscale, losses);
  });
  EXPECT_LE(max_rel_err_d(dx, fd), kFdTol);
}

TEST(BackwardFd, ShortConv) {
  struct Case {
    int64_t T, D, L;
    bool bias;
  };
  uint32_t seed = 61;
  for (const Case& c : {Case{5, 3, 3, true}, Case{2, 2, 3, false}, Case{1, 3, 3, true}, Case{4, 2, 1, true}}) {
    auto bcx = randn_d(static_cast<size_t>(c.T * 3 * c.D), seed++);
    auto w = randn_d(static_cast<size_t>(c.D * c.L), seed++);
    auto b = randn_d(static_cast<size_t>(c.D), seed++);
    auto dy = randn_d(static_cast<size_t>(c.T * c.D), seed++);
    const double* bias = c.bias ? b.data() : nullptr;
    std::vector<double> y(dy.size()), dbcx(bcx.size()), dw(w.size()), db(b.size());
    short_conv_backward_ref(dbcx.data(), dw.data(), db.data(), dy.data(), bcx.data(), w.data(), bias, c.T, c.D, c.L);
    auto loss = [&] {
      short_conv_forward_ref(y.data(), bcx.data(), w.data(), c.bias ? b.data() : nullptr, c.T, c.D, c.L);
      return test::dot(dy, y);
    };
    EXPECT_LE(max_rel_err_d(dbcx, fd_gradient(bcx, loss)), kFdTol) << "T " << c.T << " D " << c.D << " L " << c.L;
    EXPECT_LE(max_rel_err_d(dw, fd_gradient(w, loss)), kFdTol) << "T " << c.T << " D " << c.D << " L " << c.L;
    // dbias is the gradient the bias would have even when the forward ran without one
    if (c.bias) {
      EXPECT_LE(max_rel_err_d(db, fd_gradient(b, loss)), kFdTol) << "T " << c.T << " L " << c.L;
    }
  }
}

TEST(BackwardFd, Attention) {
  struct Case {
    int64_t T, H, Hkv, Dh, window;
  };
  uint32_t seed = 71;
  for (const Case& c : {Case{5, 6, 2, 3, 0}, Case{6, 2, 2, 4, 0}, Case{7, 4, 1, 3, 3}, Case{1, 2, 1, 2, 0}}) {
    auto q = randn_d(static_cast<size_t>(c.T * c.H * c.Dh), seed++);
    auto k = randn_d(static_cast<size_t>(c.T * c.Hkv * c.Dh), seed++);
    auto v = randn_d(k.size(), seed++);
    auto dout = randn_d(q.size(), seed++);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.Dh));
    std::vector<double> out(q.size()), dq(q.size()), dk(k.size()), dv(v.size());
    attention_backward_ref(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), c.T, c.H,
                           c.Hkv, c.Dh, scale, c.window);
    auto loss = [&] {
      attention_forward_ref(out.data(), nullptr, q.data(), k.data(), v.data(), c.T, c.T, c.H, c.Hkv, c.Dh, scale,
                            c.window);
      return test::dot(dout, out);
    };
    const auto fq = fd_gradient(q, loss), fk = fd_gradient(k, loss), fv = fd_gradient(v, loss);
    EXPECT_LE(max_rel_err_d(dq, fq), kFdTol) << "T " << c.T << " H " << c.H << "/" << c.Hkv << " w " << c.window;
    EXPECT_LE(max_rel_err_d(dk, fk), kFdTol) << "T " << c.T << " H " << c.H << "/" << c.Hkv << " w " << c.window;
    EXPECT_LE(max_rel_err_d(dv, fv), kFdTol) << "T " << c.T << " H " << c.H << "/" << c.Hkv << " w " << c.window;
  }
}

}  // namespace
}  // namespace mc
