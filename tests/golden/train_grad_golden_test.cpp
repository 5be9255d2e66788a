// The training core against PyTorch + PEFT (tools/gen_lora_goldens.py, tests/data/lora/train_<arch>.*):
// for a tiny checkpoint of every architecture with LoRA r 4 on every linear, the loss, per-token losses
// and every module's dA, dB equal PEFT's float64 reference, and 10 AdamW steps (torch.optim.AdamW, lr 1e-3,
// weight decay 0.01) give the same loss trajectory.
//
// Tolerances: mc runs in fp32 against a float64 reference; the generator measured PyTorch's own fp32 vs
// fp64 gap at ≈1.2e-6 (gradients) and ≈5e-8 (loss), so gradients are held to 1e-5 of the largest
// reference gradient and losses to 1e-6 relative. AdamW's first steps move every parameter by ≈lr·sign(g),
// which amplifies rounding where |g| is tiny; the trajectory is held to 1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>

#include "core/json.h"
#include "io/safetensors.h"
#include "model/transformer.h"
#include "test_util.h"
#include "train/optimizer.h"

namespace mc {
namespace {

struct Golden {
  Json meta;
  SafetensorsFile st;
  std::vector<float> get(const std::string& name) const {
    const SafetensorsTensorInfo* t = st.find(name);
    EXPECT_NE(t, nullptr) << name;
    return t ? st.to_f32(*t) : std::vector<float>{};
  }
};

Golden load_golden(const std::string& arch) {
  return {json_load(test::data_path("lora/train_" + arch + ".json")),
          SafetensorsFile::open(test::data_path("lora/train_" + arch + ".safetensors"))};
}

LoraSet golden_lora(const Model& m, const Golden& g) {
  LoraSet set;
  const double scale = g.meta["lora"]["scale"].get<double>();
  for (const auto& name : g.meta["modules"]) {
    LoraWeights w;
    w.module = name["module"].get<std::string>();
    EXPECT_TRUE(lora_resolve(m.arch(), m.config(), w.module, w.layer, w.site, w.out, w.in)) << w.module;
    w.r = g.meta["lora"]["r"].get<int64_t>();
    w.scale = static_cast<float>(scale);
    w.A = Tensor({w.r, w.in});
    w.B = Tensor({w.out, w.r});
    auto a = g.get(w.module + ".lora_A"), b = g.get(w.module + ".lora_B");
    std::copy(a.begin(), a.end(), w.A.data());
    std::copy(b.begin(), b.end(), w.B.data());
    set.modules.push_back(std::move(w));
  }
  set.reindex(m.config().num_hidden_layers);
  return set;
}

struct Batch {
  TokenBatch tokens;
  std::vector<int32_t> targets;
  std::vector<float> dscale;
};

Batch golden_batch(const Golden& g) {
  Batch b;
  auto tok = g.get("tokens"), lab = g.get("labels"), off = g.get("offsets");
  for (size_t s = 0; s + 1 < off.size(); ++s) {
    std::vector<int32_t> seq;
    for (int64_t i = static_cast<int64_t>(off[s]); i < static_cast<int64_t>(off[s + 1]); ++i)
      seq.push_back(static_cast<int32_t>(tok[static_cast<size_t>(i)]));
    b.tokens.add(seq);
  }
  const double n_targets = g.meta["n_targets"].get<double>();
  for (float l : lab) {
    b.targets.push_back(l < 0 ? -1 : static_cast<int32_t>(l));
    b.dscale.push_back(static_cast<float>(1.0 / n_targets));
  }
  return b;
}

/// Loss and gradients of the batch at the set's current values.
double loss_and_grads(const Model& m, const LoraSet& lora, const Batch& b, LoraGrads& g, std::vector<float>& losses) {
  Activations acts;
  BackwardScratch ws;
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.lora = &lora;
  fo.capture_hidden = true;  // gradient checkpointing, the trainers' default
  m.forward(b.tokens, acts, fo);
  g.init(lora);
  losses.assign(static_cast<size_t>(b.tokens.n_tokens()), 0.0f);
  m.backward(b.tokens, acts, fo, b.targets.data(), b.dscale.data(), losses.data(), g, ws);
  double s = 0;
  for (size_t i = 0; i < losses.size(); ++i) s += static_cast<double>(losses[i]) * b.dscale[i];
  return s;
}

class TrainGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(TrainGolden, LossAndLoraGradientsEqualPeft) {
  const Golden g = load_golden(GetParam());
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = golden_lora(m, g);
  Batch b = golden_batch(g);
  LoraGrads grads;
  std::vector<float> losses;
  const double loss = loss_and_grads(m, lora, b, grads, losses);
  const double ref_loss = g.meta["loss"].get<double>();
  EXPECT_NEAR(loss, ref_loss, 1e-6 * ref_loss);
  auto tl = g.get("token_losses");
  for (size_t i = 0; i < tl.size(); ++i) EXPECT_NEAR(losses[i], tl[i], 1e-5 * (1 + std::fabs(tl[i]))) << i;
  double gmax = 0;
  std::vector<std::vector<float>> ra, rb;
  for (const auto& w : lora.modules) {
    ra.push_back(g.get(w.module + ".dA"));
    rb.push_back(g.get(w.module + ".dB"));
    for (float v : ra.back()) gmax = std::max(gmax, std::fabs(static_cast<double>(v)));
    for (float v : rb.back()) gmax = std::max(gmax, std::fabs(static_cast<double>(v)));
  }
  ASSERT_GT(gmax, 0.0);
  for (size_t i = 0; i < lora.modules.size(); ++i) {
    double err = 0;
    for (size_t j = 0; j < ra[i].size(); ++j) err = std::max(err, std::fabs(static_cast<double>(grads.dA[i][static_cast<int64_t>(j)]) - ra[i][j]));
    for (size_t j = 0; j < rb[i].size(); ++j) err = std::max(err, std::fabs(static_cast<double>(grads.dB[i][static_cast<int64_t>(j)]) - rb[i][j]));
    EXPECT_LE(err, 1e-5 * gmax) << lora.modules[i].module;
  }
}

TEST_P(TrainGolden, TenAdamWStepsFollowTorchsTrajectory) {
  const Golden g = load_golden(GetParam());
  Model m = Model::load(test::data_path(std::string("hf/") + GetParam()));
  LoraSet lora = golden_lora(m, g);
  Batch b = golden_batch(g);
  const Json& ad = g.meta["adamw"];
  train::OptimizerConfig oc;
  oc.kind = train::OptimizerKind::AdamW;
  oc.beta1 = ad["betas"][0].get<double>();
  oc.beta2 = ad["betas"][1].get<double>();
  oc.eps = ad["eps"].get<double>();
  oc.weight_decay = ad["weight_decay"].get<double>();
  LoraGrads grads;
  grads.init(lora);
  std::vector<train::ParamRef> params;
  auto refs = [&] {
    params.clear();
    for (size_t i = 0; i < lora.modules.size(); ++i) {
      params.push_back({lora.modules[i].A.data(), grads.dA[i].data(), lora.modules[i].A.numel()});
      params.push_back({lora.modules[i].B.data(), grads.dB[i].data(), lora.modules[i].B.numel()});
    }
  };
  refs();
  train::Optimizer opt(oc, params);
  auto ref = g.get("adamw.losses");
  const int steps = ad["steps"].get<int>();
  std::vector<float> losses;
  for (int s = 0; s <= steps; ++s) {
    const double loss = loss_and_grads(m, lora, b, grads, losses);
    EXPECT_NEAR(loss, ref[static_cast<size_t>(s)], 1e-5 * ref[static_cast<size_t>(s)]) << "before step " << s;
    if (s == steps) break;
    refs();  // grads were re-initialised
    opt.step(params, ad["lr"].get<double>());
  }
  // final parameters
  double err = 0, scale = 0;
  for (const auto& w : lora.modules) {
    auto a = g.get("adamw." + w.module + ".lora_A"), bb = g.get("adamw." + w.module + ".lora_B");
    for (size_t j = 0; j < a.size(); ++j) {
      err = std::max(err, std::fabs(static_cast<double>(w.A[static_cast<int64_t>(j)]) - a[j]));
      scale = std::max(scale, std::fabs(static_cast<double>(a[j])));
    }
    for (size_t j = 0; j < bb.size(); ++j) err = std::max(err, std::fabs(static_cast<double>(w.B[static_cast<int64_t>(j)]) - bb[j]));
  }
  EXPECT_LE(err, 1e-4 * scale);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainGolden, ::testing::Values("llama", "mistral", "qwen2", "qwen3", "lfm2"));

}  // namespace
}  // namespace mc
