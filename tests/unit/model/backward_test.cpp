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

namespace mc {
namespace {

const char* kArchs[] = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};

/// A LoRA set on every adaptable module with small random A and B (B ≠ 0 so dA ≠ 0).
LoraSet random_lora(const Model& m, uint32_t seed, float dropout = 0.0f) {
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "in_proj",
                                      "gate_proj", "up_proj", "down_proj", "w1", "w2", "w3"};
  std::vector<std::string> avail;
  for (const auto& t : targets) {
    try {
      lora_target_modules(m.arch(), m.config(), {t});
      avail.push_back(t);
    } catch (const Error&) {
    }
  }
  LoraSet set;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const auto& mod : lora_target_modules(m.arch(), m.config(), avail)) {
    LoraWeights w;
    w.module = mod;
    EXPECT_TRUE(lora_resolve(m.arch(), m.config(), mod, w.layer, w.site, w.out, w.in));
    w.r = 3;
    w.scale = 1.5f;
    w.dropout = dropout;
    w.A = Tensor({w.r, w.in});
    w.B = Tensor({w.out, w.r});
    for (int64_t i = 0; i < w.A.numel(); ++i) w.A[i] = 0.2f * nd(rng);
    for (int64_t i = 0; i < w.B.numel(); ++i) w.B[i] = 0.2f * nd(rng);
    set.modules.push_back(std::move(w));
  }
  set.reindex(m.config().num_hidden_layers);
  return set;
}

struct Problem {
  TokenBatch batch;
  std::vector<int32_t> targets;
  std::vector<float> dscale;
};

Problem make_problem(const Model& m, uint32_t seed) {
  std::mt19937 rng(seed);
  const int32_t V = static_cast<int32_t>(m.config().vocab_size);
  Problem p;
  for (int len : {7, 12}) {
    std::vector<int32_t> s;
    for (int i = 0; i < len; ++i) s.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(V)));
    p.batch.add(s);
  }
  const int64_t N = p.batch.n_tokens();
  int64_t n_t = 0;
  for (int64_t n = 0; n < N; ++n) {
    const bool t = (rng() % 4) != 0;  // a quarter of the positions carry no loss
    p.targets.push_back(t ? static_cast<int32_t>(rng() % static_cast<uint32_t>(V)) : -1);
    n_t += t;
  }
  p.dscale.assign(static_cast<size_t>(N), 1.0f / static_cast<float>(n_t));
  return p;
}

double loss_of(const Model& m, const LoraSet& lora, const Problem& p, bool training = false, uint64_t seed = 0) {
  Activations acts;
  BackwardScratch ws;
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.lora = &lora;
  fo.training = training;
  fo.dropout_seed = seed;
  m.forward(p.batch, acts, fo);
  std::vector<float> losses(static_cast<size_t>(p.batch.n_tokens()));
  m.token_losses(acts, p.targets.data(), losses.data(), ws);
  double s = 0;
  for (size_t i = 0; i < losses.size(); ++i) s += static_cast<double>(losses[i]) * p.dscale[i];
  return s;
}

LoraGrads grads_of(const Model& m, const LoraSet& lora, const Problem& p, bool checkpoint, bool training = false,
                   uint64_t seed = 0, double* loss = nullptr) {
  Activations acts;
  BackwardScratch ws;
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.lora = &lora;
  fo.keep_acts = !checkpoint;
  fo.capture_hidden = checkpoint;
  fo.training = training;
  fo.dropout_seed = seed;
  m.forward(p.batch, acts, fo);
  LoraGrads g;
  g.init(lora);
  std::vector<float> losses(static_cast<size_t>(p.batch.n_tokens()));
  m.backward(p.batch, acts, fo, p.targets.data(), p.dscale.data(), losses.data(), g, ws);
  if (loss) {
    *loss = 0;
    for (size_t i = 0; i < losses.size(); ++i) *loss += static_cast<double>(losses[i]) * p.dscale[i];
  }
  return g;
}

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
