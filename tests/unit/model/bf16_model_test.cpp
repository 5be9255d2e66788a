// The model with its matrices kept in bf16 (LoadOptions{WeightDtype::BF16}) on the tiny fixtures of every
// architecture, against the same model in fp32 (the mode the transformers goldens check exactly):
//  - the stored bf16 values are the checkpoint's rounded to nearest even (bit-exact);
//  - logits stay within the error bf16 rounding of the GEMM inputs allows (stated below);
//  - KV-cached decoding (one-row gemv path) equals full recomputation (oneDNN path);
//  - LoRA gradients stay close to the fp32 ones, and checkpointing is still bit-identical.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/gemm.h"
#include "tensor/dtype.h"
#include "test_util.h"
#include "unit/model/model_test_util.h"

namespace mc {
namespace {

const char* kArchs[] = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};

Model load(const std::string& arch, WeightDtype d) {
  gemm_set_threads(1);
  return Model::load(test::data_path("hf/" + arch), {d});
}

/// Largest |a − b| over the largest |b|.
double rel_max_err(const float* a, const float* b, int64_t n) {
  double err = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    err = std::max(err, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return err / scale;
}

class Bf16Model : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {  // oneDNN 2.6 has bf16 matmuls only for AVX-512 CPUs
    if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "oneDNN's bf16 matmul needs AVX-512";
  }
};

TEST_P(Bf16Model, KeepsCheckpointValuesRoundedToNearestEven) {
  const Model f = load(GetParam(), WeightDtype::F32), b = load(GetParam(), WeightDtype::BF16);
  EXPECT_EQ(f.weight_dtype(), WeightDtype::F32);
  EXPECT_EQ(b.weight_dtype(), WeightDtype::BF16);
  // Auto: bf16 for a bf16 checkpoint (mistral, qwen2 and lfm2 fixtures) on a CPU with AVX512-BF16
  const bool bf16_file = std::string(GetParam()) == "mistral" || std::string(GetParam()) == "qwen2" ||
                         std::string(GetParam()) == "lfm2";
  EXPECT_EQ(load(GetParam(), WeightDtype::Auto).weight_dtype(),
            bf16_file && cpu_has_bf16() ? WeightDtype::BF16 : WeightDtype::F32);
  const auto wf = f.weights(), wb = b.weights();
  ASSERT_EQ(wf.size(), wb.size());
  int matrices = 0;
  for (size_t i = 0; i < wf.size(); ++i) {
    ASSERT_EQ(wf[i].name, wb[i].name);
    ASSERT_TRUE(wf[i].data);
    if (!wb[i].bf16) {  // norms, biases, conv kernels stay fp32 and unchanged
      ASSERT_TRUE(wb[i].data) << wb[i].name;
      for (int64_t k = 0; k < wf[i].shape.numel(); ++k) ASSERT_EQ(wb[i].data[k], wf[i].data[k]) << wb[i].name;
      continue;
    }
    ++matrices;
    EXPECT_EQ(wb[i].data, nullptr);
    std::vector<float> scratch;
    const float* widened = wb[i].f32(scratch);
    for (int64_t k = 0; k < wf[i].shape.numel(); ++k) {
      ASSERT_EQ(wb[i].bf16[k], f32_to_bf16(wf[i].data[k])) << wb[i].name << " " << k;
      ASSERT_EQ(widened[k], bf16_to_f32(wb[i].bf16[k]));
    }
  }
  EXPECT_GT(matrices, 4);
}

TEST_P(Bf16Model, LogitsStayWithinBf16RoundingOfFp32) {
  // Tolerance: every GEMM input is rounded to bf16 (relative error ≤ 2^-9 ≈ 0.2% per element); over a
  // few layers of random-init fixtures these average to ~0.3% of the logit range. 2% of the largest
  // |logit| leaves room for the deepest fixture while an fp32/bf16 mix-up (wrong rows, wrong layout)
  // gives errors of order 100%.
  const Model f = load(GetParam(), WeightDtype::F32), b = load(GetParam(), WeightDtype::BF16);
  const TokenBatch batch = TokenBatch::from_sequences({{1, 5, 9, 2, 7, 3}, {4, 4, 8}});
  Activations af, ab;
  f.forward(batch, af);
  b.forward(batch, ab);
  ASSERT_EQ(af.logits.numel(), ab.logits.numel());
  const double err = rel_max_err(ab.logits.data(), af.logits.data(), af.logits.numel());
  EXPECT_GT(err, 0.0);  // the bf16 path really ran
  EXPECT_LE(err, 2e-2) << GetParam();
  std::printf("[ bf16 ] %s logits max |bf16 - f32| / max |f32| = %.2e\n", GetParam(), err);
}

TEST_P(Bf16Model, CachedDecodingEqualsFullRecomputation) {
  // decoding runs the one-row gemv kernel, the full pass oneDNN's matmul: the same bf16 products,
  // summed in another order, so agreement to fp32 summation noise
  const Model b = load(GetParam(), WeightDtype::BF16);
  const std::vector<int32_t> seq = {3, 1, 4, 1, 5, 9, 2, 6};
  const int64_t V = b.config().vocab_size;
  Activations full, step;
  ForwardOptions all;
  b.forward(TokenBatch::from_sequences({seq}), full, all);
  KvCache cache = b.make_cache(1, 16);
  ForwardOptions last;
  last.logits = LogitsMode::Last;
  for (size_t t = 0; t < seq.size(); ++t) {
    b.forward(TokenBatch::from_sequences({{seq[t]}}), step, last, &cache);
    EXPECT_LE(rel_max_err(step.logits.data(), full.logits.data() + static_cast<int64_t>(t) * V, V), 1e-4)
        << GetParam() << " position " << t;
  }
}

TEST_P(Bf16Model, LoraGradientsCloseToFp32AndCheckpointingBitIdentical) {
  const Model f = load(GetParam(), WeightDtype::F32), b = load(GetParam(), WeightDtype::BF16);
  const LoraSet lora = test::random_lora(f, 7);
  const test::Problem p = test::make_problem(f, 8);
  const LoraGrads gf = test::grads_of(f, lora, p, false), gb = test::grads_of(b, lora, p, false);
  const LoraGrads gc = test::grads_of(b, lora, p, true);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < gf.dA.size(); ++i) {
    for (const auto* pair : {&gf.dA, &gf.dB}) {
      const Tensor& tf = (*pair)[i];
      const Tensor& tb = (pair == &gf.dA ? gb.dA : gb.dB)[i];
      const Tensor& tc = (pair == &gf.dA ? gc.dA : gc.dB)[i];
      for (int64_t k = 0; k < tf.numel(); ++k) {
        diff += (static_cast<double>(tb[k]) - tf[k]) * (static_cast<double>(tb[k]) - tf[k]);
        norm += static_cast<double>(tf[k]) * tf[k];
        ASSERT_EQ(tc[k], tb[k]) << "checkpointed bf16 gradient differs";
      }
    }
  }
  // ‖g_bf16 − g_f32‖ / ‖g_f32‖: bf16-rounded inputs to every frozen GEMM, forward and backward
  const double rel = std::sqrt(diff / norm);
  EXPECT_GT(rel, 0.0);
  EXPECT_LE(rel, 3e-2) << GetParam();
  std::printf("[ bf16 ] %s LoRA gradient relative error %.2e\n", GetParam(), rel);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Bf16Model, ::testing::ValuesIn(kArchs));

TEST(Bf16Model, DtypeNamesParse) {
  EXPECT_EQ(weight_dtype_from_name("auto"), WeightDtype::Auto);
  EXPECT_EQ(weight_dtype_from_name("f32"), WeightDtype::F32);
  EXPECT_EQ(weight_dtype_from_name("bf16"), WeightDtype::BF16);
  EXPECT_THROW(weight_dtype_from_name("fp8"), Error);
  EXPECT_STREQ(weight_dtype_name(WeightDtype::BF16), "bf16");
}

}  // namespace
}  // namespace mc
