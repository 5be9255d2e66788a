// Model-level backward pass on the tiny fixtures of every architecture: LoRA gradients against central
// finite differences of the loss the forward pass computes (fp32 model, so the step and tolerance are
// fp32-sized: h = 1e-2 on parameters of size ~0.1, agreement to 2% of the largest gradient), and
// invariants: gradient checkpointing gives exactly the gradients of the kept-activation pass, a batch of
// two gives the sum of two batches of one, and LoRA with B = 0 changes nothing. The exact comparison
// with PyTorch + PEFT is tests/golden/train_grad_golden_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/transformer.h"
#include "core/error.h"
#include "test_util.h"
#include "unit/model/model_test_util.h"

namespace mc {
namespace {

const char* kArchs[] = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};

using test::random_lora;
using test::Problem;
using test::make_problem;
using test::loss_of;
using test::grads_of;

class BackwardArch : public ::testing::TestWithParam<const char*> {};

TEST_P(BackwardArch, LoraGradientsMatchFiniteDifferences) {
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = random_lora(m, 1);
  Problem p = make_problem(m, 2);
  double loss = 0;
  LoraGrads g = grads_of(m, lora, p, false, false, 0, &loss);
  EXPECT_NEAR(loss, loss_of(m, lora, p), 1e-6 * std::fabs(loss));
  std::mt19937 rng(3);
  double gmax = 0;
  for (size_t i = 0; i < lora.modules.size(); ++i)
    for (const Tensor* t : {&g.dA[i], &g.dB[i]})
      for (int64_t j = 0; j < t->numel(); ++j) gmax = std::max(gmax, std::fabs(static_cast<double>((*t)[j])));
  ASSERT_GT(gmax, 0.0);
  const float h = 1e-2f;
  for (size_t i = 0; i < lora.modules.size(); ++i) {
    for (int which = 0; which < 2; ++which) {
      Tensor& param = which == 0 ? lora.modules[i].A : lora.modules[i].B;
      const Tensor& grad = which == 0 ? g.dA[i] : g.dB[i];
      for (int k = 0; k < 2; ++k) {
        const int64_t j = static_cast<int64_t>(rng() % static_cast<uint32_t>(param.numel()));
        const float orig = param[j];
        param[j] = orig + h;
        const double lp = loss_of(m, lora, p);
        param[j] = orig - h;
        const double lm = loss_of(m, lora, p);
        param[j] = orig;
        const double fd = (lp - lm) / (2.0 * h);
        EXPECT_NEAR(grad[j], fd, 0.02 * gmax) << lora.modules[i].module << (which ? " B[" : " A[") << j << "]";
      }
    }
  }
}

TEST_P(BackwardArch, CheckpointingGivesIdenticalGradients) {
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = random_lora(m, 4, 0.25f);  // dropout too: the recomputed masks must be the same
  Problem p = make_problem(m, 5);
  LoraGrads a = grads_of(m, lora, p, false, true, 77), b = grads_of(m, lora, p, true, true, 77);
  for (size_t i = 0; i < lora.modules.size(); ++i) {
    for (int64_t j = 0; j < a.dA[i].numel(); ++j) ASSERT_EQ(a.dA[i][j], b.dA[i][j]) << lora.modules[i].module;
    for (int64_t j = 0; j < a.dB[i].numel(); ++j) ASSERT_EQ(a.dB[i][j], b.dB[i][j]) << lora.modules[i].module;
  }
}

TEST_P(BackwardArch, DropoutGradientsMatchFiniteDifferencesOfTheSameMasks) {
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = random_lora(m, 6, 0.3f);
  Problem p = make_problem(m, 7);
  LoraGrads g = grads_of(m, lora, p, true, true, 99);
  const float h = 1e-2f;
  double gmax = 0;
  for (size_t i = 0; i < lora.modules.size(); ++i)
    for (int64_t j = 0; j < g.dA[i].numel(); ++j) gmax = std::max(gmax, std::fabs(static_cast<double>(g.dA[i][j])));
  Tensor& A = lora.modules[0].A;
  for (int64_t j : {int64_t{0}, A.numel() / 2, A.numel() - 1}) {
    const float orig = A[j];
    A[j] = orig + h;
    const double lp = loss_of(m, lora, p, true, 99);
    A[j] = orig - h;
    const double lm = loss_of(m, lora, p, true, 99);
    A[j] = orig;
    EXPECT_NEAR(g.dA[0][j], (lp - lm) / (2.0 * h), 0.02 * gmax);
  }
}

TEST_P(BackwardArch, BatchGradientIsTheSumOfItsSequences) {
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = random_lora(m, 8);
  Problem p = make_problem(m, 9);
  LoraGrads both = grads_of(m, lora, p, true);
  Problem p0, p1;
  const int64_t n0 = p.batch.seq_len(0);
  p0.batch.add(std::vector<int32_t>(p.batch.tokens.begin(), p.batch.tokens.begin() + n0));
  p1.batch.add(std::vector<int32_t>(p.batch.tokens.begin() + n0, p.batch.tokens.end()));
  p0.targets.assign(p.targets.begin(), p.targets.begin() + n0);
  p1.targets.assign(p.targets.begin() + n0, p.targets.end());
  p0.dscale.assign(p.dscale.begin(), p.dscale.begin() + n0);
  p1.dscale.assign(p.dscale.begin() + n0, p.dscale.end());
  LoraGrads g0 = grads_of(m, lora, p0, true), g1 = grads_of(m, lora, p1, true);
  for (size_t i = 0; i < lora.modules.size(); ++i) {
    double scale = 0, err = 0;
    for (int64_t j = 0; j < both.dA[i].numel(); ++j) {
      scale = std::max(scale, std::fabs(static_cast<double>(both.dA[i][j])));
      err = std::max(err, std::fabs(static_cast<double>(both.dA[i][j]) - g0.dA[i][j] - g1.dA[i][j]));
    }
    EXPECT_LE(err, 1e-5 * scale + 1e-9) << lora.modules[i].module;
  }
}

TEST_P(BackwardArch, ZeroBLoraLeavesLogitsUnchanged) {
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = random_lora(m, 10);
  for (auto& w : lora.modules) w.B.fill(0.0f);
  Problem p = make_problem(m, 11);
  Activations a, b;
  ForwardOptions fo;
  m.forward(p.batch, a, fo);
  fo.lora = &lora;
  m.forward(p.batch, b, fo);
  for (int64_t i = 0; i < a.logits.numel(); ++i) ASSERT_EQ(a.logits[i], b.logits[i]);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BackwardArch, ::testing::ValuesIn(kArchs));

}  // namespace
}  // namespace mc
