// Next-token cross-entropy over vocabulary logits (torch.nn.functional.cross_entropy with
// ignore_index = −100 semantics, reduction left to the caller), forward and backward fused: the model
// computes logits a chunk of rows at a time and turns each chunk into its gradient in place, so the full
// (N, V) logits of a training batch are never held at once.
#pragma once
#include <cstdint>

namespace mc {

/// For n rows of logits (n, V) and targets (n) (a target < 0 ignores its row):
///   losses (n) = logsumexp(row) − row[target], 0 for ignored rows (max-shifted, sums in double);
///   if dlogits is non-null: dlogits (n, V) = dscale[row] · (softmax(row) − onehot(target)), all zeros for
///   ignored rows. dlogits may alias logits (the chunk is overwritten by its gradient).
/// A target ≥ V is a programmer error (callers validate data).
void cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                                    const float* dscale, int64_t n, int64_t V);
/// Scalar reference in double.
void cross_entropy_forward_backward_ref(double* losses, double* dlogits, const double* logits,
                                        const int32_t* targets, const double* dscale, int64_t n, int64_t V);

}  // namespace mc
