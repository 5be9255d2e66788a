// Forward pass against transformers 5.23 on the tiny random checkpoints of every architecture
// (tests/data/hf/<type>, goldens from tools/gen_forward_goldens.py): embeddings, the residual stream after
// every layer, the final norm and the logits of three sequences run as one ragged batch, and 20-token
// greedy generation with the KV cache. Also the invariants: causality, batch independence, and cached
// decoding equal to full recomputation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "model/transformer.h"
#include "test_util.h"

namespace mc {
namespace {

// Tolerances, as max |mc − transformers| / max |transformers| over a whole tensor (the "logit scale" for
// logits, the tensor's own scale for hidden states). Both sides compute in fp32 with different summation
// orders (OpenBLAS vs torch's GEMM, online vs two-pass softmax, double vs float norm reductions); the
// observed relative error on these fixtures is at most ~5e-7 (a few fp32 ulps: 2 layers, D ≤ 64). 1e-5
// leaves 20× headroom for other BLAS builds while still failing on any real defect: a wrong rotation,
// mask, window, norm or bias moves the result by > 1e-2 (disabling mistral's sliding window gives 0.18),
// and even one activation rounded to bf16 (relative 4e-3) would be caught.
constexpr double kForwardRelTol = 1e-5;
// Invariant checks compare mc with itself on different batch shapes; only GEMM blocking differs.
constexpr double kSelfRelTol = 1e-6;

const char* const kTypes[] = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};
constexpr int kNumSeqs = 3;
constexpr int kNumGens = 2;

std::vector<float> tensor_f32(const SafetensorsFile& f, const std::string& name) {
  const SafetensorsTensorInfo* t = f.find(name);
  if (!t) ADD_FAILURE() << f.path() << ": missing " << name;
  return t ? f.to_f32(*t) : std::vector<float>{};
}

std::vector<int32_t> tensor_ids(const SafetensorsFile& f, const std::string& name) {
  std::vector<float> v = tensor_f32(f, name);
  return std::vector<int32_t>(v.begin(), v.end());
}

/// max |a − b| / max |b| over n values.
double rel_err(const float* a, const float* b, size_t n) {
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

class ForwardGolden : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    gemm_set_threads(1);
    type_ = GetParam();
    model_ = Model::load(test::data_path(std::string("hf/") + type_));
    golden_.emplace(SafetensorsFile::open(test::data_path(std::string("forward/") + type_ + ".safetensors")));
    for (int b = 0; b < kNumSeqs; ++b) seqs_.push_back(tensor_ids(*golden_, "seq." + std::to_string(b) + ".tokens"));
  }

  std::string type_;
  Model model_;
  std::optional<SafetensorsFile> golden_;
  std::vector<std::vector<int32_t>> seqs_;
};

TEST_P(ForwardGolden, MatchesTransformers) {
  const ModelConfig& c = model_.config();
  const int64_t D = c.hidden_size, V = c.vocab_size;
  TokenBatch batch = TokenBatch::from_sequences(seqs_);
  Activations acts;
  ForwardOptions opts;
  opts.capture_hidden = true;
  model_.forward(batch, acts, opts);

  double worst_hidden = 0.0, worst_logits = 0.0;
  for (int b = 0; b < kNumSeqs; ++b) {
    const std::string p = "seq." + std::to_string(b) + ".";
    const int64_t off = batch.offsets[static_cast<size_t>(b)], T = batch.seq_len(b);
    auto check = [&](const Tensor& ours, int64_t width, const std::string& name) -> double {
      std::vector<float> ref = tensor_f32(*golden_, p + name);
      EXPECT_EQ(static_cast<int64_t>(ref.size()), T * width) << name;
      if (static_cast<int64_t>(ref.size()) != T * width) return 1.0;
      double e = rel_err(ours.data() + off * width, ref.data(), ref.size());
      EXPECT_LE(e, kForwardRelTol) << type_ << " " << p << name;
      return e;
    };
    worst_hidden = std::max(worst_hidden, check(acts.embed, D, "embed"));
    for (int64_t l = 0; l < c.num_hidden_layers; ++l)
      worst_hidden = std::max(worst_hidden, check(acts.layer_output(l), D, "hidden." + std::to_string(l)));
    worst_hidden = std::max(worst_hidden, check(acts.final_norm, D, "final_norm"));
    worst_logits = std::max(worst_logits, check(acts.logits, V, "logits"));
  }
  RecordProperty("worst_hidden_rel_err", std::to_string(worst_hidden));
  RecordProperty("worst_logits_rel_err", std::to_string(worst_logits));
  std::printf("[ %s ] worst relative error: hidden %.3g, logits %.3g\n", type_.c_str(), worst_hidden, worst_logits);
}

TEST_P(ForwardGolden, KeepingActivationsChangesNothing) {
  // keep_acts (the training path) stores every layer's LayerActs; inference reuses two scratch layers
  TokenBatch batch = TokenBatch::from_sequences(seqs_);
  Activations kept, scratch;
  ForwardOptions keep, capture;
  keep.keep_acts = true;
  capture.capture_hidden = true;
  model_.forward(batch, kept, keep);
  model_.forward(batch, scratch, capture);
  ASSERT_EQ(kept.layers.size(), static_cast<size_t>(model_.config().num_hidden_layers));
  for (int64_t l = 0; l < model_.config().num_hidden_layers; ++l) {
    const Tensor& a = kept.layer_output(l);
    const Tensor& b = scratch.layer_output(l);
    ASSERT_EQ(a.shape(), b.shape());
    EXPECT_TRUE(std::equal(a.data(), a.data() + a.numel(), b.data())) << "layer " << l;
  }
  EXPECT_TRUE(std::equal(kept.logits.data(), kept.logits.data() + kept.logits.numel(), scratch.logits.data()));
  // LogitsMode::Last gives each sequence's last row of the full logits
  Activations last;
  ForwardOptions lo;
  lo.logits = LogitsMode::Last;
  model_.forward(batch, last, lo);
  const int64_t V = model_.config().vocab_size;
  ASSERT_EQ(last.logits.shape(), Shape({batch.n_seq(), V}));
  for (int64_t b = 0; b < batch.n_seq(); ++b)
    EXPECT_LE(rel_err(last.logits.row(b), scratch.logits.row(batch.offsets[static_cast<size_t>(b + 1)] - 1),
                      static_cast<size_t>(V)),
              kSelfRelTol);
}

TEST_P(ForwardGolden, GreedyGenerationMatchesTransformers) {
  for (int b = 0; b < kNumGens; ++b) {
    const std::string p = "gen." + std::to_string(b) + ".";
    std::vector<int32_t> prompt = tensor_ids(*golden_, p + "prompt");
    std::vector<int32_t> expected = tensor_ids(*golden_, p + "tokens");
    std::vector<int32_t> got = generate_greedy(model_, prompt, static_cast<int64_t>(expected.size()));
    EXPECT_EQ(got, expected) << type_ << " generation " << b;
  }
}

TEST_P(ForwardGolden, PerturbingALaterTokenLeavesEarlierLogitsUnchanged) {
  const int64_t V = model_.config().vocab_size;
  std::vector<int32_t> seq = seqs_[2];  // the longest (37 > mistral's window)
  Activations base, pert;
  model_.forward(TokenBatch::from_sequences({seq}), base);
  for (size_t t : {size_t{0}, size_t{4}, seq.size() / 2, seq.size() - 2}) {
    std::vector<int32_t> s2 = seq;
    s2[t + 1] = static_cast<int32_t>((s2[t + 1] + 1) % V);
    model_.forward(TokenBatch::from_sequences({s2}), pert);
    // identical shapes and identical inputs up to t: bit-identical logits at positions <= t
    for (size_t i = 0; i <= t; ++i)
      for (int64_t j = 0; j < V; ++j)
        ASSERT_EQ(base.logits.row(static_cast<int64_t>(i))[j], pert.logits.row(static_cast<int64_t>(i))[j])
            << type_ << " perturbing token " << t + 1 << " changed position " << i;
    double diff = rel_err(base.logits.row(static_cast<int64_t>(t + 1)), pert.logits.row(static_cast<int64_t>(t + 1)),
                          static_cast<size_t>(V));
    EXPECT_GT(diff, 0.0) << "the perturbation should change position " << t + 1;
  }
}

TEST_P(ForwardGolden, BatchOfTwoEqualsTwoBatchesOfOne) {
  Activations both, one;
  TokenBatch batch = TokenBatch::from_sequences({seqs_[1], seqs_[2]});
  model_.forward(batch, both);
  for (int b = 0; b < 2; ++b) {
    model_.forward(TokenBatch::from_sequences({seqs_[static_cast<size_t>(b + 1)]}), one);
    const int64_t off = batch.offsets[static_cast<size_t>(b)];
    double e = rel_err(both.logits.row(off), one.logits.data(), static_cast<size_t>(one.logits.numel()));
    EXPECT_LE(e, kSelfRelTol) << type_ << " sequence " << b;
  }
}

TEST_P(ForwardGolden, CachedDecodingEqualsFullRecomputation) {
  const int64_t V = model_.config().vocab_size;
  // two sequences of different lengths decoded together: a prompt chunk, single tokens, then a chunk
  const std::vector<int32_t>& s0 = seqs_[2];  // 37 tokens
  const std::vector<int32_t>& s1 = seqs_[1];  // 11 tokens
  Activations full0, full1;
  model_.forward(TokenBatch::from_sequences({s0}), full0);
  model_.forward(TokenBatch::from_sequences({s1}), full1);

  KvCache cache = model_.make_cache(2, 40);
  Activations step;
  // chunks per sequence: s0 = 20 | 1 | 1 | 15, s1 = 4 | 1 | 1 | 5
  const std::vector<std::pair<int64_t, int64_t>> chunks = {{20, 4}, {1, 1}, {1, 1}, {15, 5}};
  int64_t p0 = 0, p1 = 0;
  double worst = 0.0;
  for (auto [n0, n1] : chunks) {
    TokenBatch tb;
    tb.add(std::vector<int32_t>(s0.begin() + p0, s0.begin() + p0 + n0));
    tb.add(std::vector<int32_t>(s1.begin() + p1, s1.begin() + p1 + n1));
    model_.forward(tb, step, {}, &cache);
    for (int64_t i = 0; i < n0; ++i)
      worst = std::max(worst, rel_err(step.logits.row(i), full0.logits.row(p0 + i), static_cast<size_t>(V)));
    for (int64_t i = 0; i < n1; ++i)
      worst = std::max(worst, rel_err(step.logits.row(n0 + i), full1.logits.row(p1 + i), static_cast<size_t>(V)));
    p0 += n0;
    p1 += n1;
  }
  EXPECT_EQ(cache.length[0], 37);
  EXPECT_EQ(cache.length[1], 11);
  EXPECT_LE(worst, kSelfRelTol) << type_;
}

INSTANTIATE_TEST_SUITE_P(Architectures, ForwardGolden, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

TEST(ForwardErrors, TokenOutsideVocabularyIsAnError) {
  Model m = Model::load(test::data_path("hf/llama"));
  Activations acts;
  EXPECT_THROW(m.forward(TokenBatch::from_sequences({{1, 2, 256}}), acts), Error);
  EXPECT_THROW(m.forward(TokenBatch::from_sequences({{-1}}), acts), Error);
}

TEST(ForwardErrors, FullCacheIsAnError) {
  Model m = Model::load(test::data_path("hf/qwen3"));
  KvCache cache = m.make_cache(1, 4);
  Activations acts;
  m.forward(TokenBatch::from_sequences({{1, 2, 3}}), acts, {}, &cache);
  EXPECT_THROW(m.forward(TokenBatch::from_sequences({{4, 5}}), acts, {}, &cache), Error);
}

TEST(ForwardErrors, UnsupportedRopeTypeIsAnError) {
  test::TempDir dir;
  std::string cfg = test::read_bytes(test::data_path("hf/qwen3/config.json"));
  const std::string from = "\"rope_type\": \"default\"";
  size_t at = cfg.find(from);
  ASSERT_NE(at, std::string::npos);
  cfg.replace(at, from.size(), "\"rope_type\": \"yarn\", \"factor\": 4.0");
  test::write_bytes(dir / "config.json", cfg);
  test::write_bytes(dir / "model.safetensors", test::read_bytes(test::data_path("hf/qwen3/model.safetensors")));
  try {
    Model::load(dir.path.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_type 'yarn' is not supported"), std::string::npos) << e.what();
  }
}

TEST(ForwardModel, WeightsListEveryCheckpointTensorWithItsValues) {
  Model m = Model::load(test::data_path("hf/qwen2"));
  SafetensorsModel st = SafetensorsModel::open(test::data_path("hf/qwen2"));
  std::vector<NamedWeight> ws = m.weights();
  EXPECT_EQ(ws.size(), st.tensors().size());
  for (const NamedWeight& w : ws) {
    std::vector<float> ref = st.to_f32(w.name);
    ASSERT_EQ(static_cast<size_t>(w.shape.numel()), ref.size()) << w.name;
    EXPECT_TRUE(std::equal(ref.begin(), ref.end(), w.data)) << w.name;
  }
}

}  // namespace
}  // namespace mc
