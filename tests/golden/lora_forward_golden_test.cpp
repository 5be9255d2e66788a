// Logits with LoRA adapters applied, against HF PEFT 0.21.2 (tools/gen_lora_goldens.py): the adapters
// PEFT saved for every fixture (peft_<type>: patterns, rsLoRA, bf16 / fp16 tensors) and the ones
// lora_save_peft writes byte-identically (mc_llama, mc_lfm2: partial module sets, LFM2's conv
// out_proj without the attention one), each loaded with lora_load_peft and run through Model::forward
// with ForwardOptions::lora on two sequences (lengths 5 and 13) as one ragged batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "model/lora.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "test_util.h"

namespace mc {
namespace {

// As tests/golden/forward_golden_test.cpp: max |mc − PEFT| / max |PEFT| over a sequence's logits. Both
// sides are fp32 with different summation orders; the LoRA path adds two small GEMMs per module. The
// observed error on these fixtures is at most 5.7e-7 (20x headroom). A missing or mis-scaled adapter
// moves the logits by > 1e-2: the generator checks that every adapter changes them by more than that,
// and kEffectMin re-checks it on mc's side.
constexpr double kForwardRelTol = 1e-5;
constexpr double kEffectMin = 1e-2;

/// max |a − b| / max |b| over n values.
double rel_err(const float* a, const float* b, size_t n) {
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

struct Case {
  const char* fixture;  // tests/data/hf/<fixture>
  const char* adapter;  // tests/data/lora/<adapter>/ and <adapter>_logits.safetensors
};

const Case kCases[] = {
    {"llama", "peft_llama"}, {"mistral", "peft_mistral"}, {"qwen2", "peft_qwen2"}, {"qwen3", "peft_qwen3"},
    {"lfm2", "peft_lfm2"},   {"llama", "mc_llama"},       {"lfm2", "mc_lfm2"},
};

class LoraForwardGolden : public ::testing::TestWithParam<Case> {};

TEST_P(LoraForwardGolden, MatchesPeft) {
  gemm_set_threads(1);
  const Case cs = GetParam();
  const Model model = Model::load(test::data_path(std::string("hf/") + cs.fixture));
  const LoraSet set = lora_load_peft(test::data_path(std::string("lora/") + cs.adapter), model.arch(), model.config());
  const SafetensorsFile golden =
      SafetensorsFile::open(test::data_path(std::string("lora/") + cs.adapter + "_logits.safetensors"));
  std::vector<std::vector<int32_t>> seqs;
  for (int b = 0; b < 2; ++b) {
    const SafetensorsTensorInfo* t = golden.find("seq." + std::to_string(b) + ".tokens");
    ASSERT_NE(t, nullptr);
    const std::vector<float> ids = golden.to_f32(*t);
    seqs.emplace_back(ids.begin(), ids.end());
  }
  const TokenBatch batch = TokenBatch::from_sequences(seqs);
  const int64_t V = model.config().vocab_size;

  Activations acts, base;
  ForwardOptions opts;
  opts.lora = &set;
  model.forward(batch, acts, opts);
  model.forward(batch, base, ForwardOptions{});
  ASSERT_EQ(acts.logits.shape(), (Shape{batch.n_tokens(), V}));
  for (int64_t b = 0; b < batch.n_seq(); ++b) {
    SCOPED_TRACE("sequence " + std::to_string(b));
    const SafetensorsTensorInfo* t = golden.find("seq." + std::to_string(b) + ".logits");
    ASSERT_NE(t, nullptr);
    const std::vector<float> want = golden.to_f32(*t);  // (T, V)
    const size_t n = static_cast<size_t>(batch.seq_len(b) * V);
    ASSERT_EQ(want.size(), n);
    const size_t off = static_cast<size_t>(batch.offsets[static_cast<size_t>(b)] * V);
    EXPECT_LT(rel_err(acts.logits.data() + off, want.data(), n), kForwardRelTol);
    EXPECT_GT(rel_err(base.logits.data() + off, want.data(), n), kEffectMin) << "the adapter changes nothing";
  }
}

INSTANTIATE_TEST_SUITE_P(Lora, LoraForwardGolden, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.adapter); });

}  // namespace
}  // namespace mc
