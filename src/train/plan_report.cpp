// Printing the training plan: the §9 text summary, the 15-row hyperparameter table and the §9 JSON
// document (spec/training.md §9, DECISIONS.md #5, #6, #8).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "train/plan.h"

namespace mc::train {

namespace {

/// printf-style formatting into a std::string (GCC 12 has no std::format).
template <typename... Args>
std::string fmt(const char* f, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

std::string e4(double v) { return fmt("%.4e", v); }

/// (min, max) of a per-target quantity.
template <typename F>
std::pair<double, double> target_range(const std::vector<PlannedModule>& t, F get) {
  if (t.empty()) return {0.0, 0.0};
  double lo = get(t.front()), hi = lo;
  for (const auto& m : t) {
    lo = std::min(lo, get(m));
    hi = std::max(hi, get(m));
  }
  return {lo, hi};
}

std::string range_e4(std::pair<double, double> r) { return e4(r.first) + ".." + e4(r.second); }

OrderedJson validation_split_json(const ValidationSplit& s) {
  OrderedJson j;
  j["method"] = s.method;
  if (s.method == kValidationExplicitMethod) {
    j["n_train"] = s.n_train;
    j["n_eval"] = s.n_eval;
    return j;
  }
  j["n_eval"] = s.n_eval;
  j["n_train"] = s.n_train;
  j["pilot_steps"] = s.pilot_steps;
  j["pilot_mean_loss"] = s.pilot_mean_loss;
  j["pilot_variance"] = s.pilot_variance;
  j["target_se"] = s.target_se;
  j["sqrt_eps"] = s.sqrt_eps;
  j["relative_precision"] = s.relative_precision;
  j["fallback"] = s.fallback.empty() ? OrderedJson(nullptr) : OrderedJson(s.fallback);
  j["requested_n_eval"] = s.requested_n_eval;
  return j;
}

OrderedJson nullable(const std::string& s) { return s.empty() ? OrderedJson(nullptr) : OrderedJson(s); }

}  // namespace

// --- hyperparameter rows ---------------------------------------------------------------------------

std::vector<HyperparameterRow> TrainingPlan::hyperparameters() const {
  const auto [rmin, rmax] = rank_range();
  const auto eps_range = target_range(targets, [](const PlannedModule& m) { return m.adam_eps_floor; });
  const auto decay_range = target_range(targets, [](const PlannedModule& m) { return m.decay_scale; });
  const auto bound_range = target_range(targets, [](const PlannedModule& m) { return m.scale_bound; });
  const auto dropout_range = target_range(targets, [](const PlannedModule& m) { return m.dropout; });
  std::vector<HyperparameterRow> rows;
  auto add = [&](int i, const char* name, const char* by, std::string value, std::string formula, bool applied,
                 std::string reason) {
    rows.push_back({i, name, by, std::move(value), std::move(formula), applied ? "applied" : "reported", std::move(reason)});
  };

  add(1, "learning rate", "MASS step size",
      batch ? "eta_ceiling=" + e4(eta_ceiling) + " (eta_ceiling0=" + e4(ceiling.eta_ceiling0) + " / sqrt(N_b=" +
                  std::to_string(steps_per_epoch) + "))"
            : "eta_ceiling0=" + e4(ceiling.eta_ceiling0) + " (divided by sqrt(N_b) once B_crit is measured)",
      "eta_step = min(eta_ceiling, eta_sps, eta_weyl[, eta_margin]); eta_ceiling = (sigma_k_min/sigma_max)/sqrt(N_b); "
      "eta_sps = f/|d|^2; eta_weyl = sigma_k_min/|d|",
      true, "the controller derives every step online (Weyl 1912; Loizou et al. 2020 SPS); no scalar learning rate");
  add(2, "Adam epsilon", "spectral noise floor", "eps_l " + range_e4(eps_range),
      "eps_l = max(sigma_k^2, sqrt(eps)*sigma_max^2)", false,
      "the canonical optimizer has no Adam: shown, not used (DECISIONS #6)");
  add(3, "momentum", "Cayley-Stiefel retraction", "none (no momentum buffers)",
      "[A^T; B^T] = Cayley(A~, B~) on St(n+m, r); plain steps on the chart (A~, B~)", true,
      "no momentum; the Stiefel constraint of the Cayley chart replaces it (DECISIONS #13)");
  add(4, "weight decay", "sigma_k/sigma_max",
      "decay_scale " + fmt("%.4f..%.4f", decay_range.first, decay_range.second) + "; weight_decay=0",
      "decay_scale_l = sigma_k,l / sigma_max,l", false,
      "weight decay is off on the canonical path (spec §3.4): shown, not used (DECISIONS #6)");
  add(5, "gradient clipping", "removed", "none", "eta_step*|d| <= sigma_k_min (eta_weyl)", true,
      "no clipping; the Weyl step term bounds each step's displacement");
  add(6, "warmup", "removed", "none", "MASS is active from step 0 (its ceiling is measured before use)", true,
      "no warmup (Ma & Yarats 2021)");
  add(7, "learning-rate schedule", "removed", "none",
      "eta_step re-derived every step; at epoch ends eta_ceiling *= max(val[-2]/val[-1], sqrt(eps)) when val rises",
      true, "no schedule; only the validation backoff lowers the ceiling");
  add(8, "batch size", "critical batch B_crit",
      batch ? "B=" + std::to_string(batch->batch_size) + " (tr Sigma/|g|^2=" + fmt("%.4g", batch->b_simple) +
                  ", n_probe=" + std::to_string(batch->n_probe) + ", N_b=" + std::to_string(steps_per_epoch) + ")"
            : "measured after adapter injection (zero-delta start)",
      "B = clamp(ceil(tr Sigma / |g_mean|^2), 1, n_train) over " + std::to_string(kCriticalBatchProbes) +
          " per-sample gradients (McCandlish et al. 2018)",
      true, "the gradient-noise scale sets the batch");
  add(9, "early stopping", "geometric criteria",
      "certificate + validation windows + Weyl saturation" +
          (max_iters > 0 ? " + safety cap (max_iters=" + with_thousands(max_iters) + ")" : std::string(" + safety cap")),
      "stop when stationarity, improvement bound, worst-group bound and no drift all hold (spec §7.1); "
      "max_iters = N_b*ceil(1/sqrt(eps))",
      true, "no patience counters (DECISIONS #2)");
  add(10, "LoRA scale", "spectral bound",
      "scale_bound " + range_e4(bound_range) + "; exported scale 1.0",
      "S in [0, (sigma_k/2)(1-sqrt(eps))]; zero-tail modules (gap/4)(1-sqrt(eps)); |dW|_2 <= 2 max S", true,
      "Weyl: the adapter cannot move sigma_k by more than sigma_k (DECISIONS #1)");
  add(11, "LoRA rank", "null-space capacity tail_dims",
      "ranks " + std::to_string(rmin) + "-" + std::to_string(rmax) + " (ceiling: " + rank_ceiling_source + ")",
      "r = tail_dims (1 for zero-tail modules with a gap); r(q) = min(r(q), r(k)); " +
          std::string(rank_ceiling_source == kCeilingSourceRmt
                          ? "r = min(r, max(1, floor(act_erank_L)), max(1, signal_rank_L))"
                          : "r = min(r, n_train)") +
          "; r <= tail_dims",
      true, "spectral geometry of each weight and the data's signal rank");
  add(12, "target modules", "spectral decay analysis",
      std::to_string(targets.size()) + " of " + std::to_string(geometry.size()) + " candidates",
      "tail_dims > 0, or tail_dims = 0 and spectral_gap > 0", true, "every projection with null-space room");
  add(13, "dropout", "product of spectral ratios",
      "formula " + fmt("%.4f..%.4f", dropout_range.first, dropout_range.second) + "; applied 0.0",
      "dropout_l = (1 - erank_l/full_rank_l) * (r_l/full_rank_l)", false,
      "dropout is 0 on the canonical path: shown, not used (DECISIONS #6)");
  add(14, "weight init", "zero-delta Cayley start", "A~ = B~ = 0 (dW = 0 at step 0), S = scale_bound/2",
      "Cayley(0) gives A = [I_r | 0], B = 0", true, "the base model's behaviour is exact at step 0 (DECISIONS #5)");
  add(15, "residual scaling", "sigma_max(x)/sigma_max(f(x))", "not computed",
      "alpha_l = sigma_max(X_l)/sigma_max(F_l(X_l)), clamped to [sqrt(eps), 1/sqrt(eps)]", false,
      "diagnostic not implemented in this build; never applied (it would change the base function and break "
      "dW = 0 at init)");
  return rows;
}

// --- text -----------------------------------------------------------------------------------------

std::string TrainingPlan::to_text() const {
  const auto [rmin, rmax] = rank_range();
  std::string t;
  auto line = [&](const std::string& s) { t += s + "\n"; };
  line("Resolved training plan");
  line("Model: " + model_path);
  line("Dataset: " + dataset_path);
  line(eval_dataset_path.empty() ? "Eval: derived split (" + split.split_method + ")" : "Eval: " + eval_dataset_path);
  line("Seed: " + std::to_string(seed) + " (" + seed_source + ")");
  line(save ? "Output: " + output_path : std::string("Output: no adapter will be saved"));
  line("Seq length: " + std::to_string(seq.seq_length) + " (" + seq.source + ")");
  line("Split: " + split.split_method + " | train=" + std::to_string(split.n_train) +
       " eval=" + std::to_string(split.n_eval));
  line("Target surface: " + std::to_string(targets.size()) + " modules | ranks=" + std::to_string(rmin) + "-" +
       std::to_string(rmax) + " | params~" + with_thousands(trainable_params));
  line("Spectral bounds: sigma_k_min=" + e4(ceiling.sigma_k_min) + " | sigma_max=" + e4(ceiling.sigma_max) +
       " | ceiling=" + rank_ceiling_source);
  line("Controller: no fixed scalar LR; MASS will choose eta_step = min(eta_ceiling, eta_sps, eta_weyl) online");
  line("Measured during training: eta_sps, eta_weyl, eta_step, gradient-noise batch size, stopping certificate, "
       "preservation telemetry");
  line("Verified after training: spectral bounds, CKA, degeneration, pipeline gate, optional benchmark delta");
  line(benchmark_suite.empty() ? std::string("Benchmark: opt-in only; add --benchmark quick for pre/post task scores")
                               : "Benchmark: " + benchmark_suite + " (pre/post task scores)");
  if (split.fallback == kSplitFallbackSqrtN)
    line("Note: the pilot_variance rule asked for eval=" + fmt("%.0f", split.requested_n_eval) + " of " +
         std::to_string(split.n_train + split.n_eval) +
         " samples; used the sqrt_n fallback eval=max(2, ceil(sqrt(n))) (DECISIONS #3)");
  return t;
}

std::string TrainingPlan::hyperparameters_text() const {
  std::string t = "Hyperparameters (spec/training.md §3; applied = used by this run, reported = computed and shown only)\n";
  for (const auto& r : hyperparameters()) {
    t += fmt("%2d %-22s -> %-30s %-8s ", r.index, r.name.c_str(), r.replaced_by.c_str(), r.status.c_str()) + r.value +
         "\n";
    t += "     formula: " + r.formula + "\n";
    t += "     why: " + r.reason + "\n";
  }
  return t;
}

// --- JSON -----------------------------------------------------------------------------------------

OrderedJson TrainingPlan::to_json() const {
  const auto [rmin, rmax] = rank_range();
  OrderedJson j;
  j["schema"] = kPlanSchema;

  OrderedJson& in = j["inputs"];
  in["model_path"] = model_path;
  in["dataset_path"] = dataset_path;
  in["eval_dataset_path"] = nullable(eval_dataset_path);
  in["seed"] = seed;
  in["seed_source"] = seed_source;
  in["output_path"] = save ? OrderedJson(output_path) : OrderedJson(nullptr);
  in["output_source"] = output_source;
  in["model_hash"] = model_hash;
  in["dataset_hash"] = dataset_hash;
  in["eval_dataset_hash"] = nullable(eval_dataset_hash);

  OrderedJson& dp = j["data_plan"];
  dp["seq_length"] = seq.seq_length;
  dp["seq_length_source"] = seq.source;
  dp["max_token_length"] = seq.max_tokens;
  dp["split_method"] = split.split_method;
  dp["n_train"] = split.n_train;
  dp["n_eval"] = split.n_eval;
  dp["validation_split"] = validation_split_json(split);

  OrderedJson& as = j["adaptation_surface"];
  as["target_module_count"] = targets.size();
  OrderedJson names = OrderedJson::array(), ranks = OrderedJson::object();
  for (const auto& t : targets) {
    names.push_back(t.name);
    ranks[t.name] = t.rank;
  }
  as["target_modules"] = names;
  as["per_module_ranks"] = ranks;
  as["rank_range"] = {rmin, rmax};
  as["rank_ceiling_source"] = rank_ceiling_source;
  as["estimated_trainable_params"] = trainable_params;
  as["sigma_k_min"] = ceiling.sigma_k_min;
  as["sigma_max"] = ceiling.sigma_max;
  as["sigma_k_min_module"] = ceiling.sigma_k_min_module;
  as["sigma_max_module"] = ceiling.sigma_max_module;
  as["geometry_cache"] = geometry_cache_status;
  OrderedJson mg = OrderedJson::object();
  std::vector<const PlannedModule*> target_of(geometry.size(), nullptr);
  for (const auto& t : targets)
    if (t.geometry_index < geometry.size()) target_of[t.geometry_index] = &t;
  for (size_t i = 0; i < geometry.size(); ++i) {
    const ModuleGeometry& g = geometry[i];
    OrderedJson m;
    m["shape"] = {g.geo.m, g.geo.n};
    m["sigma_max"] = g.geo.sigma_max;
    m["sigma_k"] = g.geo.sigma_k;
    m["effective_rank"] = g.geo.precision_rank;  // training.md §2 "effective_rank (precision)"
    m["full_rank"] = g.geo.full_rank;
    m["tail_dims"] = g.geo.tail_dims;
    m["shannon_effective_rank"] = g.geo.erank;
    m["spectral_gap"] = g.geo.spectral_gap;
    m["structural_rank"] = g.geo.k;
    m["decay_ratio"] = g.geo.decay_ratio;
    m["exact_svd"] = g.exact;
    m["layer"] = g.layer;
    m["role"] = proj_role_name(g.role);
    const PlannedModule* t = target_of[i];
    m["targeted"] = t != nullptr;
    m["rank"] = t ? OrderedJson(t->rank) : OrderedJson(nullptr);
    m["zero_tail"] = t ? OrderedJson(t->zero_tail) : OrderedJson(nullptr);
    m["scale_bound"] = t ? OrderedJson(t->scale_bound) : OrderedJson(nullptr);
    m["decay_scale"] = decay_scale(g.geo);
    m["adam_eps_floor"] = adam_eps_floor(g.geo);
    m["dropout_formula"] = t ? OrderedJson(t->dropout) : OrderedJson(nullptr);
    mg[g.name] = std::move(m);
  }
  as["module_geometry"] = std::move(mg);
  OrderedJson sr = OrderedJson::object();
  for (const auto& [layer, s] : signal) {
    OrderedJson e;
    e["signal_rank"] = s.signal_rank;
    e["noise_rank"] = s.noise_rank;
    e["mp_upper_edge"] = s.mp_upper_edge;
    e["signal_variance_fraction"] = s.signal_variance_fraction;
    e["act_erank"] = s.act_erank;
    e["noise_variance"] = s.noise_variance;
    e["n_probes"] = s.n_probes;
    sr[std::to_string(layer)] = std::move(e);
  }
  as["signal_rank_summary"] = std::move(sr);

  OrderedJson& cp = j["controller_plan"];
  cp["optimizer_type"] = "cayley_stiefel";
  cp["controller_mode"] = "mass_structural_observe";
  cp["optimizer_research_mode"] = "cayley_stiefel_mass";
  cp["learning_rate_policy"] = "mass: eta_step = min(eta_ceiling, eta_sps, eta_weyl[, eta_margin]) per step; "
                               "eta_ceiling = (sigma_k_min/sigma_max)/sqrt(N_b)";
  cp["batch_size_policy"] = "mccandlish_critical_batch: B = clamp(ceil(tr Sigma/|g_mean|^2), 1, n_train) from " +
                            std::to_string(kCriticalBatchProbes) + " per-sample gradients at the zero-delta start";
  cp["eta_ceiling0"] = ceiling.eta_ceiling0;
  cp["eta_ceiling"] = batch ? OrderedJson(eta_ceiling) : OrderedJson(nullptr);
  cp["steps_per_epoch"] = batch ? OrderedJson(steps_per_epoch) : OrderedJson(nullptr);
  if (batch) {
    OrderedJson b;
    b["batch_size"] = batch->batch_size;
    b["n_probe"] = batch->n_probe;
    b["grad_mean_sq_norm"] = batch->grad_mean_sq_norm;
    b["trace_sigma"] = batch->trace_sigma;
    b["snr"] = batch->snr;
    b["b_simple"] = batch->b_simple;
    b["grad_sq_norm_unbiased"] = batch->grad_sq_norm_unbiased;
    b["b_simple_unbiased"] = batch->b_simple_unbiased;
    b["note"] = nullable(batch->note);
    cp["critical_batch"] = std::move(b);
  } else {
    cp["critical_batch"] = nullptr;
  }

  OrderedJson& dn = j["derived_now"];
  dn["seed"] = seed;
  dn["resolved_output_path"] = output_path;
  dn["sequence_length"] = seq.seq_length;
  dn["validation_split"] = validation_split_json(split);
  dn["target_surface"] = {{"target_module_count", targets.size()},
                          {"rank_range", {rmin, rmax}},
                          {"rank_ceiling_source", rank_ceiling_source}};
  dn["optimizer_geometry_config"] = {{"n_layers", n_layers},
                                     {"base_lr", ceiling.sigma_max > 0.0 ? 1.0 / ceiling.sigma_max : 0.0},
                                     {"base_lr_note", "1/max sigma_max, vestigial (not used by MASS)"}};
  dn["quantization_frontier_precheck"] = {{"applicable", false},
                                          {"reason", "the engine trains on fp32 copies of unquantized weights"}};
  dn["safety_cap_max_iters"] = max_iters > 0 ? OrderedJson(max_iters) : OrderedJson(nullptr);

  j["measured_during_training"] = {
      {"controller_terms", {"eta_ceiling", "eta_sps", "eta_weyl", "eta_step", "effective_gain_ratio"}},
      {"runtime_signals",
       {"gradient_noise_scale", "behavioral_transport_norm", "spectral_budget_ratio", "remaining_budget",
        "margin_mean_delta", "cka_blindness_ratio", "null_accessibility"}},
      {"stopping_signals", {"loss_stable", "adapter_saturation_exhausted", "certificate"}}};
  j["verified_after_training"] = {
      {"post_training_gates",
       {"spectral_bounds_ok", "min_cka", "mean_cka", "degeneration_max_ngram_repeat", "mode_connectivity_barrier",
        "pipeline_gate_passed"}},
      {"optional_outputs", {"benchmark_delta (when --benchmark is enabled)"}}};
  j["removed_user_knobs"] = {"learning_rate", "warmup", "lr_schedule", "gradient_clipping", "manual_rank",
                             "manual_target_module_selection", "patience_early_stopping", "manual_dropout_default"};
  OrderedJson hp = OrderedJson::array();
  for (const auto& r : hyperparameters())
    hp.push_back({{"index", r.index},
                  {"name", r.name},
                  {"replaced_by", r.replaced_by},
                  {"value", r.value},
                  {"formula", r.formula},
                  {"status", r.status},
                  {"reason", r.reason}});
  j["hyperparameters"] = std::move(hp);
  return j;
}

}  // namespace mc::train
