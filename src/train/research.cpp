#include "train/research.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/lora_init.h"
#include "train/step.h"

namespace mc::train {

namespace fs = std::filesystem;

namespace {

/// Sub-streams of the run seed (derive_seed's first argument after the seed).
enum SeedStream : uint64_t { kSeedLoraInit = 1, kSeedEpochOrder = 2, kSeedDropout = 3, kSeedEvalSplit = 4 };

void validate(const ResearchConfig& c) {
  auto bad = [](const std::string& m) { throw Error("train", m); };
  if (c.model_dir.empty()) bad("a model is required (-m MODEL)");
  if (c.data_path.empty()) bad("training data is required (-d DATA)");
  if (c.output_dir.empty()) bad("an output directory is required (-o DIR)");
  if (c.rank < 1) bad(str("--rank must be at least 1, got ", c.rank));
  if (!(c.alpha > 0) || !std::isfinite(c.alpha)) bad(str("--alpha must be positive, got ", c.alpha));
  if (!(c.dropout >= 0 && c.dropout < 1)) bad(str("--dropout must be in [0, 1), got ", c.dropout));
  if (!(c.lr > 0) || !std::isfinite(c.lr)) bad(str("--lr must be positive, got ", c.lr));
  if (c.batch_size < 1) bad(str("--batch-size must be at least 1, got ", c.batch_size));
  if (c.grad_accum < 1) bad(str("--grad-accum must be at least 1, got ", c.grad_accum));
  if (c.epochs < 1 && c.max_steps < 1) bad("--epochs or --steps must be at least 1");
  if (c.max_steps < 0) bad(str("--steps must be positive, got ", c.max_steps));
  if (c.seq_length < 2) bad(str("--seq-length must be at least 2, got ", c.seq_length));
  if (c.warmup_steps < 0) bad(str("--warmup-steps must be >= 0, got ", c.warmup_steps));
  if (!(c.eval_split >= 0 && c.eval_split < 1)) bad(str("--eval-split must be in [0, 1), got ", c.eval_split));
  if (c.eval_interval < 0 || c.checkpoint_every < 0) bad("--eval-interval and --checkpoint-every must be >= 0");
  if (!(c.max_grad_norm >= 0)) bad(str("--max-grad-norm must be >= 0, got ", c.max_grad_norm));
  if (!(c.optimizer.weight_decay >= 0)) bad("--weight-decay must be >= 0");
  if (c.targets.empty()) bad("--targets must name at least one module");
}

/// Fields that must match for --resume to continue a run.
OrderedJson fingerprint(const ResearchConfig& c) {
  OrderedJson j = research_config_json(c);
  j.erase("resume");
  j.erase("force");
  j.erase("output_dir");
  j.erase("gradient_checkpointing");  // gives bit-identical gradients either way
  return j;
}

std::vector<ParamRef> param_refs(LoraSet& set, LoraGrads& g) {
  std::vector<ParamRef> out;
  for (size_t i = 0; i < set.modules.size(); ++i) {
    out.push_back({set.modules[i].A.data(), g.dA[i].data(), set.modules[i].A.numel()});
    out.push_back({set.modules[i].B.data(), g.dB[i].data(), set.modules[i].B.numel()});
  }
  return out;
}

std::string fmt(double v, int prec = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

/// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after its checkpoint).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!path_exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      Json j = Json::parse(line);
      if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) continue;
    } catch (const Json::exception&) {
      continue;  // a line cut by a crash
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept, "train");
}

}  // namespace

void save_adapter_into(const std::string& dir, const LoraSet& lora, LoraSaveOptions options) {
  // lora_save_peft builds a whole directory atomically; the run directory already holds the metrics and
  // checkpoints, so the adapter is built beside them and its files are renamed into place.
  const std::string tmp = (fs::path(dir) / ".adapter.tmp").string();
  options.force = true;
  lora_save_peft(tmp, lora, options);
  std::error_code ec;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"}) {
    fs::rename(fs::path(tmp) / f, fs::path(dir) / f, ec);
    if (ec) throw Error("train", str(dir, ": cannot move ", f, " into place: ", ec.message()), ExitCode::Runtime);
  }
  fs::remove_all(tmp, ec);
}

OrderedJson research_config_json(const ResearchConfig& c) {
  OrderedJson j;
  j["model"] = c.model_dir;
  j["data"] = c.data_path;
  j["eval_data"] = c.eval_data_path.empty() ? OrderedJson(nullptr) : OrderedJson(c.eval_data_path);
  j["eval_split"] = c.eval_split;
  j["output_dir"] = c.output_dir;
  j["targets"] = c.targets;
  j["rank"] = c.rank;
  j["alpha"] = c.alpha;
  j["dropout"] = c.dropout;
  j["use_rslora"] = c.use_rslora;
  j["optimizer"] = optimizer_name(c.optimizer.kind);
  j["lr"] = c.lr;
  j["schedule"] = schedule_name(c.schedule);
  j["warmup_steps"] = c.warmup_steps;
  j["weight_decay"] = c.optimizer.weight_decay;
  if (c.optimizer.kind == OptimizerKind::AdamW) {
    j["adam_beta1"] = c.optimizer.beta1;
    j["adam_beta2"] = c.optimizer.beta2;
    j["adam_eps"] = c.optimizer.eps;
  } else {
    j["momentum"] = c.optimizer.momentum;
  }
  j["max_grad_norm"] = c.max_grad_norm;
  j["batch_size"] = c.batch_size;
  j["grad_accum"] = c.grad_accum;
  j["epochs"] = c.epochs;
  j["max_steps"] = c.max_steps;
  j["seq_length"] = c.seq_length;
  j["seed"] = c.seed;
  j["eval_interval"] = c.eval_interval;
  j["checkpoint_every"] = c.checkpoint_every;
  j["gradient_checkpointing"] = c.checkpointing;
  j["dtype"] = weight_dtype_name(c.weight_dtype);
  j["resume"] = c.resume;
  j["force"] = c.force;
  return j;
}

OrderedJson run_research(const ResearchConfig& cfg) {
  validate(cfg);
  const auto t_start = std::chrono::steady_clock::now();
  const std::string out = cfg.output_dir;
  const std::string ck_root = (fs::path(out) / "checkpoints").string();
  const std::string metrics_path = (fs::path(out) / "metrics.jsonl").string();
  if (cfg.resume) {
    if (!checkpoint_latest(ck_root))
      throw Error("train", str(out, ": no checkpoint to resume from (", ck_root, " has none)"));
  } else if (path_exists(out) && !cfg.force) {
    throw Error("train", str(out, ": already exists (use --resume to continue that run, or --force to replace it)"));
  }

  // ---- everything that can fail on bad input happens before the output directory is touched
  Model model = Model::load(cfg.model_dir, {cfg.weight_dtype});
  const ModelConfig& mc = model.config();
  if (!cfg.seq_length_explicit && mc.max_position_embeddings > 0 && cfg.seq_length > mc.max_position_embeddings) {
    ResearchConfig capped = cfg;  // the default length never exceeds the model's context
    capped.seq_length = mc.max_position_embeddings;
    capped.seq_length_explicit = true;
    return run_research(capped);
  }
  if (mc.max_position_embeddings > 0 && cfg.seq_length > mc.max_position_embeddings)
    throw Error("train", str("--seq-length ", cfg.seq_length, " exceeds the model's context of ",
                             mc.max_position_embeddings, " tokens"));
  ModelTokenizerBundle bundle = ModelTokenizerBundle::load(cfg.model_dir);
  TokenizedDataset train = load_tokenized(cfg.data_path, bundle, cfg.seq_length);
  std::vector<TokenizedExample> eval_examples;
  if (!cfg.eval_data_path.empty()) {
    eval_examples = load_tokenized(cfg.eval_data_path, bundle, cfg.seq_length).examples;
  } else if (cfg.eval_split > 0) {
    const int64_t n = static_cast<int64_t>(train.examples.size());
    const int64_t n_eval = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(cfg.eval_split * static_cast<double>(n))));
    if (n_eval >= n)
      throw Error("train", str(cfg.data_path, ": ", n, " examples are too few to hold out ", n_eval,
                               " for evaluation (lower --eval-split or pass --eval-data)"));
    std::vector<int64_t> perm = shuffled_indices(n, derive_seed(cfg.seed, kSeedEvalSplit));
    std::vector<TokenizedExample> kept;
    for (int64_t i = 0; i < n; ++i) {
      auto& ex = train.examples[static_cast<size_t>(perm[static_cast<size_t>(i)])];
      (i < n_eval ? eval_examples : kept).push_back(std::move(ex));
    }
    train.examples = std::move(kept);
  }
  ResearchConfig run_cfg = cfg;  // with the gradient-checkpointing and dtype choices resolved
  run_cfg.weight_dtype = model.weight_dtype();
  if (cfg.checkpointing_auto) run_cfg.checkpointing = checkpointing_needed(mc, cfg.batch_size * cfg.seq_length);
  std::vector<std::string> modules = lora_target_modules(model.arch(), mc, cfg.targets);
  std::vector<LoraModuleSpec> specs;
  for (const auto& m : modules) specs.push_back({m, cfg.rank, cfg.alpha});
  Rng init_rng(derive_seed(cfg.seed, kSeedLoraInit));
  LoraSet lora = lora_create(model, specs, {cfg.dropout, cfg.use_rslora}, init_rng);

  const int64_t n_train = static_cast<int64_t>(train.examples.size());
  const int64_t per_step = cfg.batch_size * cfg.grad_accum;
  const int64_t steps_per_epoch = (n_train + per_step - 1) / per_step;
  const int64_t total_steps = cfg.max_steps > 0 ? cfg.max_steps : cfg.epochs * steps_per_epoch;
  const int64_t eval_every = cfg.eval_interval > 0 ? cfg.eval_interval : steps_per_epoch;
  const int64_t ck_every = cfg.checkpoint_every > 0 ? cfg.checkpoint_every : steps_per_epoch;

  LoraGrads grads;
  grads.init(lora);
  std::vector<ParamRef> params = param_refs(lora, grads);
  Optimizer opt(cfg.optimizer, params);
  std::vector<Tensor*> grad_ptrs;
  for (size_t i = 0; i < lora.modules.size(); ++i) {
    grad_ptrs.push_back(&grads.dA[i]);
    grad_ptrs.push_back(&grads.dB[i]);
  }

  const OrderedJson config_json = research_config_json(run_cfg);
  log_info(str("train run-research: ", modules.size(), " modules, r ", cfg.rank, ", ", lora.n_params(),
               " trainable parameters; ", n_train, " train / ", eval_examples.size(), " eval examples; ",
               total_steps, " steps of ", per_step, " examples"));
  log_info(str("config: ", json_dump(config_json, -1)));

  // ---- output directory and resume
  std::error_code ec;
  if (!cfg.resume && path_exists(out)) fs::remove_all(out, ec);  // --force, checked above
  fs::create_directories(out, ec);
  if (ec) throw Error("train", str(out, ": cannot create the output directory: ", ec.message()), ExitCode::Runtime);

  int64_t step = 0;
  double first_loss = std::nan(""), last_loss = std::nan(""), tokens_done = 0, train_seconds = 0;
  std::vector<double> eval_history;
  double base_eval = std::nan("");
  StepWorkspace ws;
  if (cfg.resume) {
    LoadedCheckpoint ck = checkpoint_load(*checkpoint_latest(ck_root));
    // Compared as Json: ordered_json equality depends on key order, and state.json's keys come back sorted.
    if (!ck.state.contains("fingerprint") || ck.state["fingerprint"] != Json::parse(json_dump(fingerprint(cfg), -1)))
      throw Error("train", str(ck.path, ": the checkpoint was made with other settings; resume with the same "
                                        "options as the original run"));
    for (size_t i = 0; i < lora.modules.size(); ++i) {
      ck.read(lora.modules[i].module + ".lora_A", lora.modules[i].A);
      ck.read(lora.modules[i].module + ".lora_B", lora.modules[i].B);
      ck.read(lora.modules[i].module + ".lora_A.m", opt.m()[2 * i]);
      ck.read(lora.modules[i].module + ".lora_B.m", opt.m()[2 * i + 1]);
      if (cfg.optimizer.kind == OptimizerKind::AdamW) {
        ck.read(lora.modules[i].module + ".lora_A.v", opt.v()[2 * i]);
        ck.read(lora.modules[i].module + ".lora_B.v", opt.v()[2 * i + 1]);
      }
    }
    step = ck.step;
    opt.set_steps(ck.state.value("optimizer_steps", step));
    if (ck.state.contains("eval_history")) eval_history = ck.state["eval_history"].get<std::vector<double>>();
    if (ck.state.contains("base_eval_loss") && ck.state["base_eval_loss"].is_number())
      base_eval = ck.state["base_eval_loss"].get<double>();
    if (ck.state.contains("initial_loss") && ck.state["initial_loss"].is_number())
      first_loss = ck.state["initial_loss"].get<double>();
    truncate_metrics(metrics_path, step);
    log_info(str("resuming from ", ck.path, " at step ", step));
  } else if (!eval_examples.empty()) {
    base_eval = evaluate_examples(model, &lora, eval_examples, cfg.batch_size, ws).loss;  // B = 0: the base model
  }

  auto save_checkpoint = [&](int64_t at) {
    std::vector<std::pair<std::string, const Tensor*>> tensors;
    for (size_t i = 0; i < lora.modules.size(); ++i) {
      const std::string& m = lora.modules[i].module;
      tensors.push_back({m + ".lora_A", &lora.modules[i].A});
      tensors.push_back({m + ".lora_B", &lora.modules[i].B});
      tensors.push_back({m + ".lora_A.m", &opt.m()[2 * i]});
      tensors.push_back({m + ".lora_B.m", &opt.m()[2 * i + 1]});
      if (cfg.optimizer.kind == OptimizerKind::AdamW) {
        tensors.push_back({m + ".lora_A.v", &opt.v()[2 * i]});
        tensors.push_back({m + ".lora_B.v", &opt.v()[2 * i + 1]});
      }
    }
    OrderedJson st;
    st["fingerprint"] = fingerprint(cfg);
    st["optimizer_steps"] = opt.steps();
    st["eval_history"] = eval_history;
    st["base_eval_loss"] = std::isfinite(base_eval) ? OrderedJson(base_eval) : OrderedJson(nullptr);
    st["initial_loss"] = std::isfinite(first_loss) ? OrderedJson(first_loss) : OrderedJson(nullptr);
    checkpoint_save(ck_root, at, st, tensors);
  };

  std::FILE* metrics = std::fopen(metrics_path.c_str(), "a");
  if (!metrics) throw Error("train", str(metrics_path, ": cannot open for writing"), ExitCode::Runtime);
  auto log_metrics = [&](const OrderedJson& j) {
    std::fprintf(metrics, "%s\n", json_dump(j, -1).c_str());
    std::fflush(metrics);
  };

  interrupt_install();
  Progress progress(total_steps, cfg.progress);
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  bool cancelled = false;
  const int64_t start_step = step;
  try {
    while (step < total_steps) {
      const int64_t epoch = step / steps_per_epoch, k = step % steps_per_epoch;
      if (epoch != order_epoch) {
        order = shuffled_indices(n_train, derive_seed(cfg.seed, kSeedEpochOrder, static_cast<uint64_t>(epoch)));
        order_epoch = epoch;
      }
      const int64_t lo = k * per_step, hi = std::min(n_train, lo + per_step);
      std::vector<TrainBatch> micro;
      int64_t denom = 0;
      for (int64_t m0 = lo; m0 < hi; m0 += cfg.batch_size) {
        std::vector<int64_t> idx(order.begin() + m0, order.begin() + std::min(hi, m0 + cfg.batch_size));
        micro.push_back(make_batch(train.examples, idx));
        denom += micro.back().n_targets;
      }
      const auto t0 = std::chrono::steady_clock::now();
      grads.zero();
      double loss_sum = 0.0;
      int64_t tokens = 0;
      for (size_t mi = 0; mi < micro.size(); ++mi) {
        StepOptions so;
        so.checkpointing = run_cfg.checkpointing;
        so.dropout_seed = derive_seed(cfg.seed, kSeedDropout, static_cast<uint64_t>(step) * 1024 + mi);
        loss_sum += train_micro_step(model, lora, micro[mi], static_cast<double>(denom), grads, ws, so);
        tokens += micro[mi].tokens.n_tokens();
      }
      const double gnorm = clip_grad_norm(grad_ptrs, cfg.max_grad_norm);
      const double lr = cfg.lr * schedule_factor(cfg.schedule, step, cfg.warmup_steps, total_steps);
      opt.step(params, lr);
      ++step;
      const double loss = loss_sum / static_cast<double>(denom);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      train_seconds += dt;
      tokens_done += static_cast<double>(tokens);
      if (!std::isfinite(loss))
        throw Error("train", str("the training loss became ", loss, " at step ", step,
                                 " (lower --lr, or check the data)"), ExitCode::Runtime);
      if (std::isnan(first_loss)) first_loss = loss;
      last_loss = loss;
      OrderedJson row;
      row["step"] = step;
      row["epoch"] = static_cast<double>(step) / static_cast<double>(steps_per_epoch);
      row["loss"] = loss;
      row["lr"] = lr;
      row["grad_norm"] = gnorm;
      row["tokens"] = tokens;
      row["tokens_per_second"] = static_cast<double>(tokens) / dt;
      log_metrics(row);
      std::string status = "loss " + fmt(loss);
      if (step % eval_every == 0 || step == total_steps) {
        if (!eval_examples.empty()) {
          const double ev = evaluate_examples(model, &lora, eval_examples, cfg.batch_size, ws).loss;
          eval_history.push_back(ev);
          OrderedJson er;
          er["step"] = step;
          er["eval_loss"] = ev;
          log_metrics(er);
        }
      }
      if (!eval_history.empty()) status += " | eval " + fmt(eval_history.back());
      status += " | " + fmt(tokens_done / train_seconds, 0) + " tok/s";
      progress.update(step, status);
      const bool stop_now = interrupt_requested() || (cfg.stop_after_steps > 0 && step >= cfg.stop_after_steps);
      if (step % ck_every == 0 || stop_now) save_checkpoint(step);
      if (stop_now && step < total_steps) {
        cancelled = true;
        break;
      }
    }
  } catch (...) {
    progress.finish();
    std::fclose(metrics);
    interrupt_reset();
    throw;
  }
  progress.finish();
  std::fclose(metrics);
  interrupt_reset();
  if (cancelled)
    throw Error("train", str("interrupted at step ", step, " of ", total_steps, "; checkpoint written (continue with "
                             "the same command plus --resume)"), ExitCode::Cancelled);

  // ---- result and adapter
  const double final_eval = eval_history.empty() ? std::nan("") : eval_history.back();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  OrderedJson result;
  result["schema"] = "mc.train.run-research.v1";
  result["adapter_path"] = out;
  result["config"] = config_json;
  result["n_train"] = n_train;
  result["n_eval"] = eval_examples.size();
  result["dropped_records"] = train.dropped;
  result["truncated_examples"] = train.truncated;
  result["modules"] = modules;
  result["n_trainable_params"] = lora.n_params();
  result["steps"] = step;
  result["steps_this_session"] = step - start_step;
  result["steps_per_epoch"] = steps_per_epoch;
  result["initial_loss"] = first_loss;
  result["final_loss"] = last_loss;
  result["base_eval_loss"] = base_eval;
  result["eval_loss"] = final_eval;
  result["eval_perplexity"] = std::isfinite(final_eval) ? perplexity(final_eval) : std::nan("");
  result["stop_reason"] = cfg.max_steps > 0 ? "max_steps" : "epochs_completed";
  result["training_seconds"] = train_seconds;
  result["wall_seconds"] = wall;
  result["tokens_per_second"] = train_seconds > 0 ? tokens_done / train_seconds : 0.0;
  result["peak_rss_mib"] = peak_rss_mib();

  OrderedJson manifest;
  manifest["schema"] = "mc.manifest.v1";
  manifest["method"] = "lora";
  manifest["trainer"] = "run-research";
  manifest["base_model"] = cfg.model_dir;
  manifest["result"] = result;
  LoraSaveOptions so;
  so.base_model_name_or_path = cfg.model_dir;
  so.arch = &model.arch();
  save_adapter_into(out, lora, so);
  write_file_atomic((fs::path(out) / "mc_manifest.json").string(), json_dump(manifest, 2) + "\n", "train");
  write_file_atomic((fs::path(out) / "training_result.json").string(), json_dump(result, 2) + "\n", "train");
  return result;
}

}  // namespace mc::train
