// Assembly of the training plan from its derivations (plan.h).
#include "train/plan.h"

#include <algorithm>

#include "core/error.h"
#include "model/transformer.h"
#include "train/plan_probes.h"

namespace mc::train {

std::pair<int64_t, int64_t> TrainingPlan::rank_range() const {
  if (targets.empty()) return {0, 0};
  int64_t lo = targets.front().rank, hi = lo;
  for (const auto& t : targets) {
    lo = std::min(lo, t.rank);
    hi = std::max(hi, t.rank);
  }
  return {lo, hi};
}

TrainingPlan assemble_training_plan(PlanAssembly in) {
  TrainingPlan p;
  p.model_path = std::move(in.model_path);
  p.dataset_path = std::move(in.dataset_path);
  p.eval_dataset_path = std::move(in.eval_dataset_path);
  p.model_hash = std::move(in.model_hash);
  p.dataset_hash = std::move(in.dataset_hash);
  p.eval_dataset_hash = std::move(in.eval_dataset_hash);
  p.seed = in.seed.seed;
  p.seed_source = in.seed.source;
  p.save = in.save;
  if (in.output_override.empty()) {
    p.output_path = default_output_path(p.model_path, p.seed);
    p.output_source = kOutputSourceDefault;
  } else {
    p.output_path = in.output_override;
    p.output_source = kOutputSourceUser;
  }
  p.benchmark_suite = std::move(in.benchmark_suite);
  p.seq = std::move(in.seq);
  p.split = std::move(in.split);
  p.n_layers = in.n_layers;
  p.geometry = std::move(in.geometry.modules);
  p.geometry_cache_status = cache_status_name(in.geometry.cache_status);
  p.signal = std::move(in.signal);

  RankPlan ranks = derive_targets(p.geometry, p.split.n_train, &p.signal);
  p.targets = std::move(ranks.modules);
  p.rank_ceiling_source = ranks.ceiling_source;
  p.ceiling = spectral_ceiling(p.targets);
  p.trainable_params = trainable_params(p.targets);
  return p;
}

void plan_set_critical_batch(TrainingPlan& plan, const CriticalBatch& batch) {
  plan.batch = batch;
  plan.steps_per_epoch = steps_per_epoch(plan.split.n_train, batch.batch_size);
  plan.eta_ceiling = eta_ceiling(plan.ceiling.eta_ceiling0, plan.steps_per_epoch);
  plan.max_iters = safety_cap_iters(plan.steps_per_epoch);
}

TrainingPlan build_training_plan(const Model& model, const PlanRequest& request, const PlanData& data) {
  PlanAssembly a;
  a.model_path = request.model_path;
  a.dataset_path = request.dataset_path;
  a.eval_dataset_path = request.eval_dataset_path;
  a.model_hash = model_hash(request.model_path);
  a.dataset_hash = dataset_hash(request.dataset_path);
  if (!request.eval_dataset_path.empty()) a.eval_dataset_hash = dataset_hash(request.eval_dataset_path);
  a.seed = resolve_seed(a.model_hash, a.dataset_hash, request.seed);
  a.save = request.save;
  a.output_override = request.output_path;
  a.benchmark_suite = request.benchmark_suite;
  a.seq = resolve_sequence_length(data.train_token_counts, data.eval_token_counts, data.retention_token_counts,
                                  request.seq_length);

  const size_t n_train_file = data.train_token_counts.size();
  if (request.eval_dataset_path.empty()) {
    if (!data.train_base_loss) throw Error("plan", "the pilot_variance split needs the base model's per-sample losses");
    a.split = pilot_variance_split(n_train_file, a.seed.seed, data.train_base_loss, request.split_relative_precision);
  } else {
    a.split = explicit_eval_split(n_train_file, data.eval_token_counts.size());
  }

  a.n_layers = model.config().num_hidden_layers;
  a.geometry = model_geometry(model, a.model_hash, request.geometry);
  if (data.eval_probes) {
    const std::vector<std::vector<int32_t>> probes = data.eval_probes(a.split);
    if (static_cast<int64_t>(probes.size()) >= kMinSignalProbes)
      a.signal = signal_ranks(mean_pooled_hidden_states(model, probes));
  }
  return assemble_training_plan(std::move(a));
}

std::string with_thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    out += digits[i];
    if ((n - 1 - i) % 3 == 0 && i + 1 < n) out += ',';
  }
  return v < 0 ? "-" + out : out;
}

}  // namespace mc::train
