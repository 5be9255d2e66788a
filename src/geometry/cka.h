// Centered kernel alignment between two representations of the same n inputs: X (n, d1) and Y (n, d2),
// e.g. one layer's activations in two models (spec/surface.md §4.3). CKA(K, L) = HSIC(K, L) /
// √(HSIC(K, K)·HSIC(L, L)) (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of neural network
// representations revisited", ICML, eq. (3)), with a linear or an RBF kernel and either HSIC estimator:
//  * biased   HSIC_b = tr(K H L H) / (n − 1)²,  H = I − 11ᵀ/n  (Gretton, Bousquet, Smola & Schölkopf 2005,
//    "Measuring statistical dependence with Hilbert-Schmidt norms", ALT, Definition 1 / Theorem 1);
//  * unbiased HSIC_u = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − (2/(n−2))·1ᵀK̃L̃1] / (n(n−3)), K̃ = K with a
//    zero diagonal (Song, Smola, Gretton, Bedo & Borgwardt 2012, "Feature selection via dependence
//    maximization", JMLR 13, eq. (5)).
// Bias and requirements: rows of X and Y must be the same inputs in the same order. Biased CKA is
// inflated toward 1 when d ≫ n (even for independent data); the unbiased estimator removes that bias
// (Kornblith et al. §A; Nguyen, Raghu & Kornblith 2021) but can go slightly negative and needs n ≥ 4.
// We do not clamp HSIC_u at 0 (upstream does, surface.md §4.3): clamping would bias it again. CKA is
// NaN when HSIC(K,K) or HSIC(L,L) is not positive (a constant representation).
// Everything is computed in double from a column-centred copy (CKA is invariant to translation).
#pragma once
#include <cstdint>

#include "geometry/matrix.h"

namespace mc::geometry {

enum class CkaKernel { Linear, Rbf };

enum class HsicEstimator {
  Biased,
  Unbiased,
  /// Unbiased when max(d1, d2) > n and n ≥ 4, else biased (surface.md §4.3 AUTO).
  Auto,
};

/// RBF bandwidth as a fraction of the median distance: σ = sigma_frac · √median_{i,j}(‖x_i − x_j‖²),
/// the median taken over all n² ordered pairs, diagonal included — Kornblith et al. 2019's reference
/// code (gram_rbf, `threshold` = sigma_frac; the paper reports 0.2, 0.4, 0.8). 1.0 is that code's default.
inline constexpr double kRbfSigmaFrac = 1.0;

struct CkaOptions {
  CkaKernel kernel = CkaKernel::Linear;
  HsicEstimator estimator = HsicEstimator::Biased;
  double rbf_sigma_frac = kRbfSigmaFrac;
};

struct CkaResult {
  double cka = 0.0;
  double hsic_xy = 0.0;
  double hsic_xx = 0.0;
  double hsic_yy = 0.0;
  HsicEstimator estimator = HsicEstimator::Biased;  // the one used (Auto resolved)
  double sigma_x = 0.0;                             // RBF bandwidths used (0 for the linear kernel)
  double sigma_y = 0.0;
};

/// CKA of X (n, d1) and Y (n, d2). Throws mc::Error("[cka] ...") when the row counts differ, n < 2
/// (biased) or n < 4 (unbiased), on non-finite input, or when the RBF median distance is 0 (more than
/// half the pairs coincide). The linear kernel uses the feature-space form (‖Y_cᵀX_c‖_F² etc.) when
/// that is cheaper than the n × n Gram matrices; both give the same value.
template <typename T>
CkaResult cka(MatrixView<T> x, MatrixView<T> y, const CkaOptions& options = {});

/// Linear Gram matrix K = X_c X_cᵀ (n, n) of the column-centred X.
template <typename T>
MatrixD gram_linear(MatrixView<T> x);

/// RBF Gram matrix K_ij = exp(−‖x_i − x_j‖² / (2σ²)) (n, n), σ from the median heuristic above; the
/// σ used is written to *sigma when given.
template <typename T>
MatrixD gram_rbf(MatrixView<T> x, double sigma_frac = kRbfSigmaFrac, double* sigma = nullptr);

/// HSIC of two (n, n) Gram matrices with the biased or unbiased estimator (Auto is not accepted here).
double hsic(const MatrixD& k, const MatrixD& l, HsicEstimator estimator);

}  // namespace mc::geometry
