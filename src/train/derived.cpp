#include "train/derived.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"
#include "io/dataset/model_tokenizer.h"
#include "model/generate.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/gates.h"
#include "train/mass.h"
#include "train/nblora.h"
#include "train/plan.h"
#include "train/plan_data.h"
#include "train/plan_derive.h"
#include "train/plan_geometry.h"
#include "train/plan_hash.h"
#include "train/plan_probes.h"
#include "train/report_html.h"
#include "train/research.h"
#include "train/step.h"
#include "train/stopping.h"

namespace mc::train {

namespace fs = std::filesystem;

namespace {

/// Behaviour probes (degeneration gate §8.3, drift criterion §7.1.4): at most this many eval prompts
/// (upstream: 20), each greedily continued for kProbeNewTokens tokens (upstream: 512). Upstream's
/// 10,240 decode steps cost minutes per evaluation on a CPU; 8 × 48 keeps 45 token 4-grams per probe
/// at 1/27 of the cost. Recorded in docs/decisions.md.
constexpr int64_t kMaxProbes = 8;
constexpr int64_t kProbeNewTokens = 48;
/// Micro-batches hold at most this many tokens; a logical batch of B examples is accumulated over as
/// many micro-batches as needed (spec/training.md §3.8: memory decides b, the logical batch stays B).
constexpr int64_t kMicroBatchTokens = 4096;

/// One NB-LoRA target: its plan row, parameters, Cayley workspace and gradients.
struct NbModule {
  PlannedModule   plan;
  NbLoraParams    p;
  CayleyWorkspace ws;
  NbLoraGrads     g;
};

/// The trainable adapter: NB-LoRA parameters and the plain LoRA set the engine runs (scale 1,
/// A_eff = A, B_eff = 2·Bᵀ·diag(S)).
struct NbAdapter {
  std::vector<NbModule> mods;
  LoraSet               eff;
  LoraGrads             eff_grads;

  void build(const Model& model, const std::vector<PlannedModule>& targets) {
    for (const PlannedModule& t : targets) {
      NbModule m;
      m.plan = t;
      m.p = nblora_init<float>(t.rank, t.n, t.m, t.scale_bound);
      m.g = nblora_zero_grads(m.p);
      LoraWeights w;
      w.module = t.module;
      if (!lora_resolve(model.arch(), model.config(), t.module, w.layer, w.site, w.out, w.in))
        throw Error("train", str("planned target ", t.module, " is not an adaptable linear module"));
      MC_CHECK(w.out == t.m && w.in == t.n, "shape of ", t.module);
      w.r = t.rank;
      w.scale = 1.0f;
      w.A = Tensor({w.r, w.in});
      w.B = Tensor({w.out, w.r});
      eff.modules.push_back(std::move(w));
      mods.push_back(std::move(m));
    }
    eff.reindex(model.config().num_hidden_layers);
    eff_grads.init(eff);
    refresh();
  }

  /// Recomputes the engine's A_eff, B_eff from the NB-LoRA parameters (the Cayley map).
  void refresh() {
    for (size_t i = 0; i < mods.size(); ++i) {
      LoraWeights& w = eff.modules[i];
      cayley_forward<float>(mods[i].p, mods[i].ws, std::span<float>(w.A.data(), static_cast<size_t>(w.A.numel())),
                            std::span<float>(w.B.data(), static_cast<size_t>(w.B.numel())));
    }
  }

  /// Pulls eff_grads back into the NB-LoRA gradients (overwriting them).
  void pull_back() {
    for (size_t i = 0; i < mods.size(); ++i) {
      mods[i].g = nblora_zero_grads(mods[i].p);
      cayley_backward<float>(mods[i].p, mods[i].ws,
                             std::span<const float>(eff_grads.dA[i].data(), static_cast<size_t>(eff_grads.dA[i].numel())),
                             std::span<const float>(eff_grads.dB[i].data(), static_cast<size_t>(eff_grads.dB[i].numel())),
                             mods[i].g);
    }
  }

  double grad_norm() const {
    double s = 0;
    for (const auto& m : mods) s += nblora_grad_sq_norm(m.g);
    return std::sqrt(s);
  }

  double theta_norm() const {
    double s = 0;
    for (const auto& m : mods) {
      for (float v : m.p.At) s += static_cast<double>(v) * v;
      for (float v : m.p.Bt) s += static_cast<double>(v) * v;
      for (float v : m.p.S_raw) s += static_cast<double>(v) * v;
    }
    return std::sqrt(s);
  }

  std::vector<double> saturation() const {
    std::vector<double> r;
    for (const auto& m : mods) r.push_back(nblora_saturation_ratio(m.p));
    return r;
  }

  std::vector<NbLoraParams> params() const {
    std::vector<NbLoraParams> out;
    for (const auto& m : mods) out.push_back(m.p);
    return out;
  }
  void set_params(const std::vector<NbLoraParams>& ps) {
    for (size_t i = 0; i < mods.size(); ++i) mods[i].p = ps[i];
    refresh();
  }
  std::vector<NbLoraGrads> grads() const {
    std::vector<NbLoraGrads> out;
    for (const auto& m : mods) out.push_back(m.g);
    return out;
  }
  /// θ ← base + t·d without clipping (S is clipped inside the Cayley forward anyway).
  void set_perturbed(const std::vector<NbLoraParams>& base, const std::vector<NbLoraGrads>& d, double t) {
    for (size_t i = 0; i < mods.size(); ++i) {
      NbLoraParams& p = mods[i].p;
      p = base[i];
      const float tf = static_cast<float>(t);
      for (size_t j = 0; j < p.At.size(); ++j) p.At[j] += tf * d[i].dAt[j];
      for (size_t j = 0; j < p.Bt.size(); ++j) p.Bt[j] += tf * d[i].dBt[j];
      for (size_t j = 0; j < p.S_raw.size(); ++j) p.S_raw[j] += tf * d[i].dS_raw[j];
    }
    refresh();
  }
  /// ⟨current gradients, d⟩.
  double dot(const std::vector<NbLoraGrads>& d) const {
    double s = 0;
    for (size_t i = 0; i < mods.size(); ++i) {
      for (size_t j = 0; j < d[i].dAt.size(); ++j) s += static_cast<double>(mods[i].g.dAt[j]) * d[i].dAt[j];
      for (size_t j = 0; j < d[i].dBt.size(); ++j) s += static_cast<double>(mods[i].g.dBt[j]) * d[i].dBt[j];
      for (size_t j = 0; j < d[i].dS_raw.size(); ++j) s += static_cast<double>(mods[i].g.dS_raw[j]) * d[i].dS_raw[j];
    }
    return s;
  }

  /// The exported PEFT form: A_eff, B_eff at scale 1 (alpha = r).
  LoraSet exported() const {
    LoraSet s = eff;
    for (auto& w : s.modules) w.dropout = 0.0f;
    return s;
  }
};

/// Splits `idx` (examples) into micro-batches of at most kMicroBatchTokens tokens (at least one example).
std::vector<std::vector<int64_t>> micro_batches(const std::vector<TokenizedExample>& exs,
                                                const std::vector<int64_t>& idx) {
  std::vector<std::vector<int64_t>> out;
  int64_t tokens = 0;
  for (int64_t i : idx) {
    const int64_t t = static_cast<int64_t>(exs[static_cast<size_t>(i)].input_ids.size());
    if (out.empty() || tokens + t > kMicroBatchTokens) {
      out.emplace_back();
      tokens = 0;
    }
    out.back().push_back(i);
    tokens += t;
  }
  return out;
}

/// Loss (token-weighted mean) and NB-LoRA gradients of the examples `idx` at the adapter's current
/// parameters. Leaves the gradients in adapter.mods[*].g.
double loss_and_grads(const Model& model, NbAdapter& ad, const std::vector<TokenizedExample>& exs,
                      const std::vector<int64_t>& idx, StepWorkspace& ws, std::vector<float>* token_losses = nullptr) {
  int64_t denom = 0;
  for (int64_t i : idx) denom += static_cast<int64_t>(exs[static_cast<size_t>(i)].loss_tokens());
  ad.eff_grads.zero();
  double sum = 0;
  if (token_losses) token_losses->clear();
  for (const auto& mb : micro_batches(exs, idx)) {
    TrainBatch b = make_batch(exs, mb);
    StepOptions so;
    so.training = false;  // NB-LoRA applies no dropout (DECISIONS #6: the formula is reported only)
    sum += train_micro_step(model, ad.eff, b, static_cast<double>(std::max<int64_t>(1, denom)), ad.eff_grads, ws, so);
    if (token_losses)
      for (size_t n = 0; n < b.targets.size(); ++n)
        if (b.targets[n] >= 0) token_losses->push_back(ws.losses[n]);
  }
  ad.pull_back();
  return denom > 0 ? sum / static_cast<double>(denom) : 0.0;
}

/// McCandlish's B_simple from per-sample gradients, accumulated in one pass (Σ g_i and Σ‖g_i‖²) so the
/// n gradients need not be held at once: tr Σ = (Σ‖g_i‖² − n‖ḡ‖²)/(n − 1). Same definitions as
/// plan_derive.h's critical_batch (which takes the vectors).
CriticalBatch critical_batch_streaming(const Model& model, NbAdapter& ad, const std::vector<TokenizedExample>& exs,
                                       const std::vector<int64_t>& train_idx, StepWorkspace& ws) {
  const int64_t n_probe = std::min<int64_t>(kCriticalBatchProbes, static_cast<int64_t>(train_idx.size()));
  std::vector<double> sum;
  double sum_sq = 0;
  for (int64_t i = 0; i < n_probe; ++i) {
    loss_and_grads(model, ad, exs, {train_idx[static_cast<size_t>(i)]}, ws);
    std::vector<double> flat;
    for (const auto& m : ad.mods) {
      flat.insert(flat.end(), m.g.dAt.begin(), m.g.dAt.end());
      flat.insert(flat.end(), m.g.dBt.begin(), m.g.dBt.end());
      flat.insert(flat.end(), m.g.dS_raw.begin(), m.g.dS_raw.end());
    }
    if (sum.empty()) sum.assign(flat.size(), 0.0);
    for (size_t j = 0; j < flat.size(); ++j) {
      sum[j] += flat[j];
      sum_sq += flat[j] * flat[j];
    }
  }
  CriticalBatch cb;
  cb.n_probe = n_probe;
  cb.n_train = static_cast<int64_t>(train_idx.size());
  if (n_probe < 2) {
    cb.note = "fewer than 2 probe gradients";
    return cb;
  }
  const double n = static_cast<double>(n_probe);
  double mean_sq = 0;
  for (double s : sum) mean_sq += (s / n) * (s / n);
  const double trace = std::max(0.0, (sum_sq - n * mean_sq) / (n - 1.0));
  cb.grad_mean_sq_norm = mean_sq;
  cb.trace_sigma = trace;
  cb.snr = trace > 0 ? mean_sq / trace : 0.0;
  cb.b_simple = mean_sq > 0 ? trace / mean_sq : 0.0;
  cb.grad_sq_norm_unbiased = mean_sq - trace / n;
  cb.b_simple_unbiased = cb.grad_sq_norm_unbiased > 0 ? trace / cb.grad_sq_norm_unbiased
                                                       : std::numeric_limits<double>::infinity();
  if (!(cb.snr > 0) || !std::isfinite(cb.b_simple)) {
    cb.batch_size = 1;
    cb.note = "degenerate gradient statistics (snr <= 0 or not finite)";
  } else {
    cb.batch_size = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(cb.b_simple)), 1, cb.n_train);
  }
  return cb;
}

/// Greedy continuation of each probe with per-token entropies: mean token entropy (nats), token
/// 4-gram repetition, and the decoded text.
struct ProbeSample {
  double      entropy = 0;
  double      repetition = 0;
  std::string text;
};

std::vector<ProbeSample> run_probes(const Model& model, const LoraSet* lora, const Tokenizer& tok,
                                    const std::vector<std::vector<int32_t>>& prompts,
                                    const std::vector<int64_t>& eos_ids) {
  std::vector<ProbeSample> out;
  const int64_t V = model.config().vocab_size;
  for (const auto& prompt : prompts) {
    KvCache cache = model.make_cache(1, static_cast<int64_t>(prompt.size()) + kProbeNewTokens);
    Activations acts;
    ForwardOptions fo;
    fo.logits = LogitsMode::Last;
    fo.lora = lora;
    TokenBatch step = TokenBatch::from_sequences({prompt});
    std::vector<int32_t> gen;
    double ent_sum = 0;
    for (int64_t t = 0; t < kProbeNewTokens; ++t) {
      model.forward(step, acts, fo, &cache);
      const float* l = acts.logits.data();
      const int64_t best = argmax(l, V);
      double z = 0, ex = 0;
      for (int64_t v = 0; v < V; ++v) {
        const double e = std::exp(static_cast<double>(l[v]) - l[best]);
        z += e;
        ex += e * (static_cast<double>(l[v]) - l[best]);
      }
      ent_sum += std::log(z) - ex / z;  // H = log Z − E[logit − max]
      gen.push_back(static_cast<int32_t>(best));
      if (std::find(eos_ids.begin(), eos_ids.end(), best) != eos_ids.end()) break;
      step = TokenBatch::from_sequences({{static_cast<int32_t>(best)}});
    }
    ProbeSample s;
    s.entropy = gen.empty() ? 0 : ent_sum / static_cast<double>(gen.size());
    s.repetition = token_repetition_rate(gen, kDriftNgramOrder);
    s.text = tok.decode(gen, /*skip_special_tokens=*/true);
    out.push_back(std::move(s));
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

/// Shannon effective rank of the readout matrix (lm_head or the tied embedding), for the degeneration
/// n-gram order (§8.3).
double readout_erank(const Model& model) {
  for (const NamedWeight& w : model.weights()) {
    const bool readout = model.config().tie_word_embeddings ? w.name == model.arch().embed + ".weight"
                                                            : w.name == model.arch().lm_head + ".weight";
    if (!readout) continue;
    std::vector<float> scratch;
    std::vector<double> s = geometry::singular_values(geometry::MatrixViewF(w.f32(scratch), w.shape[0], w.shape[1]),
                                                      geometry::SvdPrecision::Single);
    return geometry::shannon_effective_rank(s, geometry::ErankWeights::Energy);
  }
  return 0.0;
}

OrderedJson step_json(const MassStep& s, int64_t step, double epoch, int64_t batch, int64_t tokens, double tps) {
  OrderedJson j;
  j["step"] = step;
  j["epoch"] = epoch;
  j["loss"] = s.loss;
  j["grad_norm"] = s.grad_norm;
  j["eta_step"] = s.eta_step;
  j["eta_ceiling"] = s.eta_ceiling;
  j["eta_sps"] = s.eta_sps;
  j["eta_weyl"] = s.eta_weyl;
  j["eta_margin"] = std::isfinite(s.eta_margin) ? OrderedJson(s.eta_margin) : OrderedJson(nullptr);
  j["binding"] = s.binding;
  j["batch_size"] = batch;
  j["tokens"] = tokens;
  j["tokens_per_second"] = tps;
  return j;
}

std::string fmt(double v, const char* f = "%.4f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

OrderedJson run_derived(const DerivedConfig& cfg, int& exit_code) {
  exit_code = 0;
  const auto t_start = std::chrono::steady_clock::now();
  if (cfg.model_dir.empty()) throw Error("train", "a model is required (-m MODEL)");
  if (cfg.data_path.empty()) throw Error("train", "training data is required (-d DATA)");
  if (cfg.seq_length && *cfg.seq_length < 2) throw Error("train", "--seq-length must be at least 2");

  // ---- inputs: model, tokenizer, data, hashes, seed
  Model model = Model::load(cfg.model_dir, {cfg.weight_dtype});
  const ModelConfig& mcfg = model.config();
  ModelTokenizerBundle bundle = ModelTokenizerBundle::load(cfg.model_dir);
  const std::string mhash = model_hash(cfg.model_dir);
  const std::string dhash = dataset_hash(cfg.data_path);
  const SeedResolution seed = resolve_seed(mhash, dhash, cfg.seed);
  TokenizedDataset data = load_tokenized(cfg.data_path, bundle, 0);
  if (cfg.data_fraction < 1.0) {  // validate-derived's data perturbation
    const int64_t n = static_cast<int64_t>(data.examples.size());
    const int64_t keep = std::max<int64_t>(3, static_cast<int64_t>(std::ceil(cfg.data_fraction * static_cast<double>(n))));
    std::vector<int64_t> perm = shuffled_indices(n, cfg.data_fraction_seed);
    std::vector<TokenizedExample> kept;
    for (int64_t i = 0; i < std::min(keep, n); ++i) kept.push_back(data.examples[static_cast<size_t>(perm[static_cast<size_t>(i)])]);
    data.examples = std::move(kept);
  }
  std::vector<TokenizedExample> explicit_eval, retention;
  std::string ehash;
  if (!cfg.eval_data_path.empty()) {
    explicit_eval = load_tokenized(cfg.eval_data_path, bundle, 0).examples;
    ehash = dataset_hash(cfg.eval_data_path);
  }
  if (!cfg.retention_data_path.empty()) retention = load_tokenized(cfg.retention_data_path, bundle, 0).examples;
  auto counts = [](const std::vector<TokenizedExample>& v) {
    std::vector<int64_t> c;
    for (const auto& e : v) c.push_back(static_cast<int64_t>(e.input_ids.size()));
    return c;
  };
  const std::vector<int64_t> tc = counts(data.examples), evc = counts(explicit_eval), rc = counts(retention);
  SeqLengthChoice seq = resolve_sequence_length(tc, evc, rc, cfg.seq_length);
  if (mcfg.max_position_embeddings > 0 && seq.seq_length > mcfg.max_position_embeddings) {
    if (cfg.seq_length)
      throw Error("train", str("--seq-length ", seq.seq_length, " exceeds the model's context of ",
                               mcfg.max_position_embeddings, " tokens"));
    log_warn(str("the longest example needs ", seq.seq_length, " tokens; capped at the model's context ",
                 mcfg.max_position_embeddings));
    seq.seq_length = mcfg.max_position_embeddings;
  }
  auto fit_all = [&](std::vector<TokenizedExample>& v) {
    SequencePolicy pol;
    pol.max_tokens = seq.seq_length;
    std::vector<TokenizedExample> kept;
    for (auto& e : v)
      if (!fit_to_length(e, pol)) kept.push_back(std::move(e));
    v = std::move(kept);
  };
  fit_all(data.examples);
  fit_all(explicit_eval);
  fit_all(retention);

  // ---- eval split (explicit, or pilot_variance over base-model losses)
  StepWorkspace ws;
  ValidationSplit split;
  std::vector<TokenizedExample> train_ex, eval_ex;
  if (!explicit_eval.empty()) {
    split = explicit_eval_split(data.examples.size(), explicit_eval.size());
    train_ex = data.examples;
    eval_ex = explicit_eval;
  } else {
    if (data.examples.size() < kPilotMinSamples)
      throw Error("train", str(cfg.data_path, ": ", data.examples.size(), " trainable examples are too few to split "
                               "into train and eval (need at least ", kPilotMinSamples, ", or pass --eval-data)"));
    auto sample_loss = [&](size_t i) {
      return evaluate_examples(model, nullptr, {data.examples[i]}, 1, ws).loss;
    };
    split = pilot_variance_split(data.examples.size(), seed.seed, sample_loss);
    for (size_t i : split.train_indices) train_ex.push_back(data.examples[i]);
    for (size_t i : split.eval_indices) eval_ex.push_back(data.examples[i]);
  }
  const size_t n_task_train = train_ex.size();
  for (auto& r : retention) train_ex.push_back(r);  // retention replay: mixed into training (§10)

  // ---- geometry, signal ranks, plan
  GeometryOptions go;
  go.cache.enabled = cfg.geometry_cache;
  go.cache.dir = cfg.geometry_cache_dir;
  go.cache.read_only = cfg.plan_only;  // --plan-only writes nothing, not even the cache
  if (cfg.progress)
    go.progress = [](size_t done, size_t n, const std::string& name) {  // done is 1-based
      if (done == n || done % 16 == 1) std::fprintf(stderr, "\rmc: spectra %zu/%zu %-60s", done, n, name.c_str());
      if (done == n) std::fprintf(stderr, "\n");
    };
  ModelGeometry geo = model_geometry(model, mhash, go);
  std::vector<std::vector<int32_t>> probe_seqs;
  for (const auto& e : eval_ex) probe_seqs.push_back(e.input_ids);
  std::vector<geometry::MatrixD> base_hidden = mean_pooled_hidden_states(model, probe_seqs);
  PlanAssembly pa;
  pa.model_path = cfg.model_dir;
  pa.dataset_path = cfg.data_path;
  pa.eval_dataset_path = cfg.eval_data_path;
  pa.model_hash = mhash;
  pa.dataset_hash = dhash;
  pa.eval_dataset_hash = ehash;
  pa.seed = seed;
  pa.save = cfg.save;
  pa.output_override = cfg.output_dir;
  pa.seq = seq;
  pa.split = split;
  pa.split.n_train = static_cast<int64_t>(train_ex.size());
  pa.n_layers = mcfg.num_hidden_layers;
  pa.geometry = geo;
  pa.signal = signal_ranks(base_hidden);
  TrainingPlan plan = assemble_training_plan(pa);

  if (cfg.plan_only) {
    if (cfg.plan_json) std::printf("%s\n", json_dump(plan.to_json(), 2).c_str());
    else std::printf("%s\n%s", plan.to_text().c_str(), plan.hyperparameters_text().c_str());
    return plan.to_json();
  }
  const std::string out = plan.output_path;
  if (cfg.save && path_exists(out) && !cfg.force)
    throw Error("train", str(out, ": already exists (use --force to replace it, or -o for another directory)"));
  if (cfg.explain) std::fprintf(stderr, "%s\n%s", plan.to_text().c_str(), plan.hyperparameters_text().c_str());

  // ---- inject NB-LoRA at the zero-delta start; critical batch; controller
  NbAdapter ad;
  ad.build(model, plan.targets);
  std::vector<int64_t> train_idx(train_ex.size());
  std::iota(train_idx.begin(), train_idx.end(), 0);
  CriticalBatch cb = critical_batch_streaming(model, ad, train_ex, train_idx, ws);
  plan_set_critical_batch(plan, cb);
  const int64_t B = cb.batch_size, Nb = plan.steps_per_epoch;
  MassController mass(plan.ceiling.sigma_k_min, plan.ceiling.sigma_max, Nb);
  const int64_t max_iters = plan.max_iters;
  log_info(str("train run: ", ad.mods.size(), " NB-LoRA modules, ranks ", plan.rank_range().first, "-",
               plan.rank_range().second, ", ", plan.trainable_params, " parameters; ", n_task_train, " train (+",
               retention.size(), " retention) / ", eval_ex.size(), " eval; B_crit ", B, " (", Nb,
               " steps per epoch); eta_ceiling ", fmt(mass.eta_ceiling(), "%.3e")));

  // ---- baselines: eval loss, retention loss, probe behaviour
  const double baseline_loss = evaluate_examples(model, nullptr, eval_ex, 4, ws).loss;
  const double retention_before = retention.empty() ? std::nan("") : evaluate_examples(model, nullptr, retention, 4, ws).loss;
  std::vector<std::vector<int32_t>> probe_prompts;
  for (const auto& e : eval_ex) {
    if (static_cast<int64_t>(probe_prompts.size()) >= kMaxProbes) break;
    std::vector<int32_t> p;  // the prompt part: tokens before the first loss-carrying token
    for (size_t t = 0; t < e.input_ids.size() && (t == 0 || !e.loss_mask[t]); ++t) p.push_back(e.input_ids[t]);
    if (p.size() == e.input_ids.size()) p.resize(std::max<size_t>(1, p.size() / 2));
    probe_prompts.push_back(p);
  }
  const std::vector<int64_t> eos = generation_eos_ids(cfg.model_dir, mcfg);
  std::vector<ProbeSample> base_probes = run_probes(model, nullptr, bundle.tokenizer(), probe_prompts, eos);
  std::vector<double> base_ent, base_rep;
  for (const auto& s : base_probes) {
    base_ent.push_back(s.entropy);
    base_rep.push_back(s.repetition);
  }

  // ---- output directory (after every input check)
  std::error_code ec;
  std::FILE* metrics = nullptr;
  if (cfg.save) {
    if (path_exists(out)) fs::remove_all(out, ec);  // --force, checked above
    fs::create_directories(out, ec);
    if (ec) throw Error("train", str(out, ": cannot create the output directory: ", ec.message()), ExitCode::Runtime);
    metrics = std::fopen((fs::path(out) / "metrics.jsonl").string().c_str(), "w");
    if (!metrics) throw Error("train", str(out, "/metrics.jsonl: cannot open for writing"), ExitCode::Runtime);
  }
  auto log_metrics = [&](const OrderedJson& j) {
    if (!metrics) return;
    std::fprintf(metrics, "%s\n", json_dump(j, -1).c_str());
    std::fflush(metrics);
  };

  // ---- the MASS loop
  std::vector<double> val_history, grad_norm_history, step_losses;
  double last_grad_norm = 0;
  std::vector<NbLoraParams> best_params = ad.params();
  double best_val = baseline_loss;
  StopDecision stop;
  std::vector<OrderedJson> epoch_rows;
  int64_t step = 0;
  double first_loss = std::nan(""), last_loss = std::nan(""), train_seconds = 0, tokens_done = 0;
  bool interrupted = false;
  Progress progress(0, cfg.progress);
  interrupt_install();
  try {
    for (int64_t epoch = 0; !stop.stop && !interrupted; ++epoch) {
      std::vector<int64_t> order = shuffled_indices(static_cast<int64_t>(train_ex.size()),
                                                    derive_seed(seed.seed, 2, static_cast<uint64_t>(epoch)));
      std::vector<NbLoraGrads> g_last;
      for (int64_t k = 0; k < Nb; ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        const int64_t lo = k * B, hi = std::min<int64_t>(static_cast<int64_t>(order.size()), lo + B);
        std::vector<int64_t> idx(order.begin() + lo, order.begin() + hi);
        const double loss = loss_and_grads(model, ad, train_ex, idx, ws);
        const double D = ad.grad_norm();
        const MassStep ms = mass.step(loss, D);
        last_grad_norm = D;
        for (auto& m : ad.mods) nblora_apply_step(m.p, m.g, ms.eta_step);
        g_last = ad.grads();
        if (D > 0)  // the certificate probes along the unit direction d = g/‖g‖ (Δmax is scale-free)
          for (auto& g : g_last) {
            for (float& v : g.dAt) v = static_cast<float>(v / D);
            for (float& v : g.dBt) v = static_cast<float>(v / D);
            for (float& v : g.dS_raw) v = static_cast<float>(v / D);
          }
        ad.refresh();
        ++step;
        int64_t tokens = 0;
        for (int64_t i : idx) tokens += static_cast<int64_t>(train_ex[static_cast<size_t>(i)].input_ids.size());
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        train_seconds += dt;
        tokens_done += static_cast<double>(tokens);
        if (std::isnan(first_loss)) first_loss = loss;
        last_loss = loss;
        step_losses.push_back(loss);
        log_metrics(step_json(ms, step, static_cast<double>(step) / static_cast<double>(Nb), B, tokens,
                              static_cast<double>(tokens) / dt));
        progress.update(step, str("epoch ", epoch + 1, " | loss ", fmt(loss), " | eta ", fmt(ms.eta_step, "%.2e"),
                                  " (", ms.binding, ")", val_history.empty() ? "" : " | eval " + fmt(val_history.back()),
                                  " | ", fmt(tokens_done / train_seconds, "%.0f"), " tok/s"));
        if (interrupt_requested() || (cfg.max_steps_for_testing > 0 && step >= cfg.max_steps_for_testing)) {
          interrupted = interrupt_requested();
          if (!interrupted) stop = {true, "step_cap_for_testing", str(step, " steps")};
          break;
        }
        if (step >= max_iters) break;
      }
      if (interrupted || stop.stop) break;

      // ---- epoch boundary: validation, saturation, controller, certificate, stop rules
      const double val = evaluate_examples(model, &ad.eff, eval_ex, 4, ws).loss;
      val_history.push_back(val);
      if (val < best_val) {
        best_val = val;
        best_params = ad.params();
      }
      const std::vector<double> sat = ad.saturation();
      const MassEpoch me = mass.epoch_boundary(val_history, sat);
      grad_norm_history.push_back(last_grad_norm);
      std::optional<Certificate> cert;
      if (epoch + 1 >= kCertificateMinEpoch && !eval_ex.empty()) {
        // criteria 2 and 3: directional derivative and curvature of the validation loss along d = g_last
        const std::vector<NbLoraParams> theta = ad.params();
        const double h = hvp_step(ad.theta_norm());
        std::vector<double> a_i, b_i, ci_i, batch_losses, weights;
        std::vector<float> tok_losses;
        const int64_t eb = std::max<int64_t>(1, std::min<int64_t>(B, static_cast<int64_t>(eval_ex.size())));
        double a = 0, b = 0, wsum = 0;
        for (size_t i0 = 0; i0 < eval_ex.size(); i0 += static_cast<size_t>(eb)) {
          std::vector<int64_t> idx;
          double nt = 0;
          for (size_t i = i0; i < std::min(eval_ex.size(), i0 + static_cast<size_t>(eb)); ++i) {
            idx.push_back(static_cast<int64_t>(i));
            nt += static_cast<double>(eval_ex[i].loss_tokens());
          }
          ad.set_params(theta);
          const double li = loss_and_grads(model, ad, eval_ex, idx, ws, &tok_losses);
          const double ai = ad.dot(g_last);
          ad.set_perturbed(theta, g_last, h);
          loss_and_grads(model, ad, eval_ex, idx, ws);
          const double dp = ad.dot(g_last);
          ad.set_perturbed(theta, g_last, -h);
          loss_and_grads(model, ad, eval_ex, idx, ws);
          const double dm = ad.dot(g_last);
          const double bi = central_difference_curvature(dp, dm, h);
          std::vector<double> tl(tok_losses.begin(), tok_losses.end());
          a_i.push_back(ai);
          b_i.push_back(bi);
          ci_i.push_back(ci_half_width(tl));
          batch_losses.push_back(li);
          a += nt * ai;
          b += nt * bi;
          wsum += nt;
        }
        ad.set_params(theta);
        a /= std::max(wsum, 1.0);
        b /= std::max(wsum, 1.0);
        const Stationarity st = stationarity(grad_norm_history);
        const ImprovementBound ib = improvement_bound(a, b, ci_half_width(batch_losses));
        const WorstGroup wg = worst_group(a_i, b_i, ci_i, ib);
        NoDrift nd;
        if (st.met && ib.met && wg.met) {  // drift needs generations: only when it can decide the stop
          std::vector<ProbeSample> now = run_probes(model, &ad.eff, bundle.tokenizer(), probe_prompts, eos);
          std::vector<double> e, r;
          for (const auto& s : now) {
            e.push_back(s.entropy);
            r.push_back(s.repetition);
          }
          nd = no_drift(mean_of(e), mean_of(r), base_ent, base_rep);
        }
        cert = make_certificate(st, ib, wg, nd);
      }
      StopInputs si;
      si.epoch = epoch + 1;
      si.val_losses = val_history;
      si.saturation_ratios = sat;
      si.certificate = cert;
      si.step_losses = step_losses;
      si.n_batches = Nb;
      si.iters_done = step;
      si.max_iters = max_iters;
      stop = evaluate_stop_rules(si);
      OrderedJson er;
      er["epoch_end"] = epoch + 1;
      er["step"] = step;
      er["eval_loss"] = val;
      er["eta_ceiling"] = me.eta_ceiling_after;
      er["backed_off"] = me.backed_off;
      er["remaining_budget"] = std::isfinite(me.remaining_budget) ? OrderedJson(me.remaining_budget) : OrderedJson(nullptr);
      er["max_gain_ratio"] = me.max_gain_ratio;
      OrderedJson satj = OrderedJson::object();
      for (size_t i = 0; i < sat.size(); ++i) satj[ad.mods[i].plan.module] = sat[i];
      er["saturation"] = satj;
      if (cert) {
        er["cert_grad_norm"] = cert->stationarity.grad_norm;
        er["cert_alignment"] = cert->improvement.a;
        er["cert_curvature"] = cert->improvement.b;
        er["cert_delta_max_val"] = cert->improvement.delta_max;
        er["cert_val_ci_half_width"] = cert->improvement.ci;
        er["cert_delta_max_worst"] = cert->worst.delta_max;
        er["cert_all_met"] = cert->all_met;
      }
      if (stop.stop) er["stop"] = stop.reason();
      log_metrics(er);
      epoch_rows.push_back(er);
      OrderedJson ev;
      ev["step"] = step;
      ev["eval_loss"] = val;
      log_metrics(ev);
      if (!stop.stop && step >= max_iters) stop = {true, "safety_cap", str(max_iters, " iters")};
    }
  } catch (...) {
    progress.finish();
    interrupt_reset();
    if (metrics) std::fclose(metrics);
    throw;
  }
  progress.finish();
  interrupt_reset();
  if (interrupted) stop = {true, "interrupted", str("Ctrl-C at step ", step)};

  // ---- restore the best validation weights when the final ones regressed (§7.2)
  double post_loss = evaluate_examples(model, &ad.eff, eval_ex, 4, ws).loss;
  bool restored = false;
  if (post_loss > best_val + geometry::kEpsF32 * std::max(std::fabs(post_loss), std::fabs(best_val))) {
    ad.set_params(best_params);
    post_loss = evaluate_examples(model, &ad.eff, eval_ex, 4, ws).loss;
    restored = true;
  }

  // ---- verification after training (§8)
  std::vector<SpectralBoundCheck> sb;
  std::vector<double> final_sat = ad.saturation();
  for (size_t i = 0; i < ad.mods.size(); ++i)
    sb.push_back(spectral_bound_check(final_sat[i], ad.mods[i].p.n, ad.mods[i].p.m));
  const SpectralBounds bounds = spectral_bounds(sb);
  const std::vector<geometry::MatrixD> adapted_hidden = mean_pooled_hidden_states(model, probe_seqs, &ad.eff);
  std::vector<CkaLayerBound> cka_layers;
  for (size_t l = 0; l < base_hidden.size() && l < adapted_hidden.size(); ++l)
    if (base_hidden[l].rows >= 2)
      cka_layers.push_back(cka_layer_bound(base_hidden[l].view(), adapted_hidden[l].view(), static_cast<int64_t>(l)));
  std::optional<CkaBoundBundle> cka;
  if (!cka_layers.empty()) cka = cka_bound_bundle(cka_layers);
  std::vector<ProbeSample> post_probes = run_probes(model, &ad.eff, bundle.tokenizer(), probe_prompts, eos);
  const std::optional<int64_t> order = degeneration_ngram_order(readout_erank(model));
  std::optional<Degeneration> degen, degen_base;
  if (order) {
    std::vector<std::string> texts, base_texts;
    for (const auto& s : post_probes) texts.push_back(s.text);
    for (const auto& s : base_probes) base_texts.push_back(s.text);
    degen = degeneration(texts, *order);
    degen_base = degeneration(base_texts, *order);
  }
  const double retention_after = retention.empty() ? std::nan("") : evaluate_examples(model, &ad.eff, retention, 4, ws).loss;
  PipelineGateInputs gi;
  gi.spectral = sb;
  gi.cka = cka;
  gi.stop_reason = stop.reason();
  gi.saturation_ratios = final_sat;
  gi.max_effective_gain_ratio = mass.max_gain_ratio();
  const PipelineGateResult gate = pipeline_gate_v1(gi);

  // ---- result
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  OrderedJson r;
  r["schema"] = "mc.train.run.v1";
  r["adapter_path"] = cfg.save ? OrderedJson(out) : OrderedJson(nullptr);
  r["model_hash"] = mhash;
  r["data_hash"] = dhash;
  r["eval_data_hash"] = ehash.empty() ? OrderedJson(nullptr) : OrderedJson(ehash);
  r["seed"] = seed.seed;
  r["train_iters"] = step;
  r["steps"] = step;
  r["epochs"] = static_cast<int64_t>(val_history.size());
  r["initial_loss"] = first_loss;
  r["final_loss"] = last_loss;
  r["stop_reason"] = stop.reason();
  r["stop_rule"] = stop.rule;
  r["baseline_loss"] = baseline_loss;
  r["baseline_perplexity"] = perplexity(baseline_loss);
  r["post_loss"] = post_loss;
  r["post_perplexity"] = perplexity(post_loss);
  r["eval_loss"] = post_loss;
  r["base_eval_loss"] = baseline_loss;
  r["restored_best_weights"] = restored;
  r["n_lora_layers"] = ad.mods.size();
  r["n_trainable_params"] = plan.trainable_params;
  r["target_module_count"] = ad.mods.size();
  OrderedJson tm = OrderedJson::array(), ranks = OrderedJson::object();
  for (const auto& m : ad.mods) {
    tm.push_back(m.plan.module);
    ranks[m.plan.module] = m.plan.rank;
  }
  r["target_modules"] = tm;
  r["rank_overrides"] = ranks;
  r["rank_ceiling_source"] = plan.rank_ceiling_source;
  r["sigma_k_min"] = plan.ceiling.sigma_k_min;
  r["sigma_max"] = plan.ceiling.sigma_max;
  r["resolved_batch_size"] = B;
  r["critical_batch"] = {{"snr", cb.snr}, {"trace_sigma", cb.trace_sigma}, {"grad_mean_sq_norm", cb.grad_mean_sq_norm},
                         {"b_simple", cb.b_simple}, {"b_simple_unbiased", cb.b_simple_unbiased}, {"n_probe", cb.n_probe},
                         {"note", cb.note}};
  r["steps_per_epoch"] = Nb;
  r["max_iters"] = max_iters;
  r["spectral_bounds_ok"] = bounds.ok;
  r["max_spectral_ratio"] = bounds.max_ratio;
  r["adapter_saturation_median_ratio"] = median(final_sat);
  r["max_effective_gain_ratio"] = mass.max_gain_ratio();
  r["eta_ceiling_final"] = mass.eta_ceiling();
  if (cka) {
    r["min_cka"] = cka->min_cka;
    r["mean_cka"] = cka->mean_cka;
    r["min_cka_layer"] = cka->min_cka_layer;
    OrderedJson pl = OrderedJson::array();
    for (const auto& l : cka_layers)
      pl.push_back({{"layer", l.layer}, {"cka", l.cka}, {"gram_epsilon", l.gram_epsilon}, {"bound", l.bound}});
    r["per_layer_cka"] = pl;
  }
  if (degen) {
    r["degeneration_ngram_order"] = degen->order;
    r["degeneration_max_ngram_repeat"] = degen->max_rate;
    r["degeneration_mean_ngram_repeat"] = degen->mean_rate;
    r["degeneration_baseline_max_ngram_repeat"] = degen_base->max_rate;
  }
  r["retention_loss_before"] = retention_before;
  r["retention_loss_after"] = retention_after;
  r["n_retention"] = retention.size();
  OrderedJson gj;
  gj["operator"] = gate.gate_operator;
  gj["passed"] = gate.passed;
  gj["failure_modes"] = gate.failure_modes;
  OrderedJson checks = OrderedJson::array();
  for (const auto& c : gate.checks)
    checks.push_back({{"name", c.name}, {"status", c.status}, {"required", c.required}, {"value", c.value},
                      {"threshold", c.threshold}, {"detail", c.detail}});
  gj["checks"] = checks;
  r["pipeline_gate"] = gj;
  r["pipeline_gate_passed"] = gate.passed;
  r["epoch_metrics"] = epoch_rows;
  r["optimizer_type"] = "cayley_stiefel";
  r["controller_mode"] = "mass_structural_observe";
  r["training_time_seconds"] = train_seconds;
  r["training_seconds"] = train_seconds;
  r["wall_seconds"] = wall;
  r["tokens_per_second"] = train_seconds > 0 ? tokens_done / train_seconds : 0.0;
  r["peak_rss_mib"] = peak_rss_mib();
  r["config"] = {{"model", cfg.model_dir}, {"data", cfg.data_path},
                 {"eval_data", cfg.eval_data_path.empty() ? OrderedJson(nullptr) : OrderedJson(cfg.eval_data_path)},
                 {"retention_data", cfg.retention_data_path.empty() ? OrderedJson(nullptr)
                                                                    : OrderedJson(cfg.retention_data_path)},
                 {"seq_length", seq.seq_length}, {"seed", seed.seed}, {"seed_source", seed.source},
                 {"dtype", weight_dtype_name(model.weight_dtype())}};

  if (cfg.save) {
    if (metrics) std::fclose(metrics);
    metrics = nullptr;
    OrderedJson manifest;
    manifest["schema"] = "mc.manifest.v1";
    manifest["method"] = "nb_lora_cayley";
    manifest["trainer"] = "run";
    manifest["base_model"] = cfg.model_dir;
    manifest["gate"] = gate.passed ? "passed" : "failed";
    manifest["failed_checks"] = gate.failure_modes;
    manifest["plan"] = plan.to_json();
    manifest["result"] = r;
    LoraSaveOptions so;
    so.base_model_name_or_path = cfg.model_dir;
    so.arch = &model.arch();
    save_adapter_into(out, ad.exported(), so);
    write_file_atomic((fs::path(out) / "training_plan.json").string(), json_dump(plan.to_json(), 2) + "\n", "train");
    write_file_atomic((fs::path(out) / "training_result.json").string(), json_dump(r, 2) + "\n", "train");
    write_file_atomic((fs::path(out) / "mc_manifest.json").string(), json_dump(manifest, 2) + "\n", "train");
    try {
      write_run_report(out);
    } catch (const Error& e) {
      log_warn(str("the HTML report could not be written: ", e.what()));
    }
  }
  if (interrupted) exit_code = static_cast<int>(ExitCode::Cancelled);
  else if (!gate.passed) exit_code = static_cast<int>(ExitCode::Runtime);
  return r;
}

}  // namespace mc::train
