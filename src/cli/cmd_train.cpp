// `mc train run-research` and `mc train evaluate`: argument parsing and printing only (the work is in
// src/train/research.h and src/train/evaluate.h).
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <sstream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/dtype_option.h"
#include "core/error.h"
#include "core/json.h"
#include "io/chat_template/chat_template.h"
#include "io/dataset/jsonl.h"
#include "kernels/gemm.h"
#include "model/generate.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/derived.h"
#include "train/research.h"
#include "core/fs.h"

namespace mc::cli {

namespace {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void set_threads(const Args& args) {
  if (args.value("threads")) gemm_set_threads(static_cast<int>(args.int_value("threads", 1, 1)));
}

std::string num(double v, int prec = 4) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

/// `mc train evaluate --prompts FILE`: greedy generations of base and adapter side by side.
int evaluate_prompts(const Args& args, const std::string& model_dir, const Model& model,
                     const ModelTokenizerBundle& bundle, const LoraSet* lora, const std::string& file) {
  GenerateOptions go;
  go.max_new_tokens = args.int_value("max-tokens", 64, 1);
  go.eos_ids = generation_eos_ids(model_dir, model.config());
  OrderedJson rows = OrderedJson::array();
  for (const JsonlLine& line : jsonl_read(file)) {
    const std::string where = str(file, ":", line.line);
    OrderedJson messages;
    if (line.value.is_object() && line.value.contains("messages") && line.value["messages"].is_array()) {
      messages = line.value["messages"];
      // drop a trailing assistant turn: the model is to write it
      if (!messages.empty() && messages.back().value("role", "") == "assistant") messages.erase(messages.size() - 1);
    } else if (line.value.is_object() && line.value.contains("prompt") && line.value["prompt"].is_string()) {
      messages = OrderedJson::array({{{"role", "user"}, {"content", line.value["prompt"]}}});
    } else {
      throw Error("cli", str(where, ": expected {\"prompt\": TEXT} or {\"messages\": [...]}"));
    }
    std::string text;
    if (bundle.chat_template()) {
      ChatInputs in;
      in.messages = messages;
      in.add_generation_prompt = true;
      in.special_tokens = bundle.special_tokens();
      text = bundle.chat_template()->render(chat_template_context(in));
    } else {
      for (const auto& m : messages) text += m.value("content", "") + "\n";
    }
    const std::vector<int32_t> ids = bundle.tokenizer().encode(text, bundle.chat_template() == nullptr);
    go.forward.lora = nullptr;
    const GenerateResult base = generate(model, bundle.tokenizer(), ids, go);
    OrderedJson row{{"where", where}, {"prompt", messages.back().value("content", "")}, {"base", base.text}};
    if (lora) {
      go.forward.lora = lora;
      go.forward.training = false;
      row["adapter"] = generate(model, bundle.tokenizer(), ids, go).text;
    }
    if (!args.flag("json")) {
      std::printf("== %s\nprompt   %s\nbase     %s\n", where.c_str(), row["prompt"].get<std::string>().c_str(),
                  base.text.c_str());
      if (lora) std::printf("adapter  %s\n", row["adapter"].get<std::string>().c_str());
      std::fflush(stdout);
    }
    rows.push_back(row);
  }
  if (args.flag("json")) {
    OrderedJson j{{"schema", "mc.train.evaluate.prompts.v1"}, {"model", model_dir}, {"prompts", file},
                  {"generations", rows}};
    std::printf("%s\n", json_dump(j, 2).c_str());
  }
  return 0;
}

}  // namespace

int cmd_train_run_research(const std::vector<std::string>& argv) {
  train::ResearchConfig d;  // defaults, shown in --help
  Args args(
      "mc train run-research -m MODEL -d DATA -o OUT [options]",
      "LoRA fine-tuning with explicit, conventional hyperparameters: the baseline the geometry-derived\n"
      "`mc train run` is compared against. Defaults are PEFT's / the HF Trainer's common ones and are\n"
      "printed before training. Chat records train on assistant tokens only, prompt/completion records on\n"
      "the completion, text records on every token. OUT receives the adapter in the PEFT layout\n"
      "(adapter_model.safetensors + adapter_config.json, loadable by PeftModel.from_pretrained),\n"
      "mc_manifest.json, training_result.json, metrics.jsonl (one line per step) and checkpoints/.\n"
      "Ctrl-C writes a checkpoint and stops; the same command with --resume continues exactly where it\n"
      "stopped (the loss curve equals an uninterrupted run's).",
      {
          {"model", 'm', "DIR", "Hugging Face model directory (config.json, safetensors, tokenizer)"},
          {"data", 'd', "FILE", "training data: .jsonl/.json records of {text}, {prompt, completion} or {messages}"},
          {"output", 'o', "DIR", "run directory (must not exist unless --resume or --force)"},
          {"eval-data", 0, "FILE", "held-out data evaluated every --eval-interval steps"},
          {"eval-split", 0, "F", "without --eval-data: hold out this fraction of DATA (default 0: no evaluation)"},
          {"eval-interval", 0, "N", "steps between evaluations (default: once per epoch)"},
          {"targets", 0, "LIST", "comma-separated module names (default q_proj,k_proj,v_proj,o_proj; also\n"
                                 "gate_proj, up_proj, down_proj, LFM2 in_proj/out_proj/w1/w2/w3, or all-linear)"},
          {"rank", 'r', "N", "LoRA rank (default 8)"},
          {"alpha", 0, "A", "LoRA alpha; scale = alpha / rank (default 16)"},
          {"dropout", 0, "P", "dropout on the LoRA input (default 0.05)"},
          {"rslora", 0, "", "scale = alpha / sqrt(rank) (rank-stabilised LoRA)"},
          {"optimizer", 0, "NAME", "adamw (default) or sgd"},
          {"lr", 0, "LR", "peak learning rate (default 2e-4)"},
          {"schedule", 0, "NAME", "constant, linear (default) or cosine decay after warmup"},
          {"warmup-steps", 0, "N", "linear warmup steps (default 0)"},
          {"weight-decay", 0, "W", "decoupled weight decay for AdamW, L2 for SGD (default 0)"},
          {"momentum", 0, "M", "SGD momentum (default 0)"},
          {"max-grad-norm", 0, "X", "clip the global gradient norm (default 1; 0 disables)"},
          {"batch-size", 'b', "N", "examples per micro-batch (default 4)"},
          {"grad-accum", 0, "N", "micro-batches per optimizer step (default 1)"},
          {"epochs", 0, "N", "passes over the training data (default 1)"},
          {"steps", 0, "N", "optimizer steps; overrides --epochs"},
          {"seq-length", 0, "N", "longer examples are truncated (default 512, or the model's context if shorter)"},
          {"seed", 0, "N", "seed of the data order, LoRA init, dropout and eval split (default 42)"},
          {"checkpoint-every", 0, "N", "steps between checkpoints (default: once per epoch)"},
          {"gradient-checkpointing", 0, "MODE", "on: recompute each layer in the backward pass (least memory); off: keep\n"
                                                "all activations (faster); auto (default): off unless the activations would\n"
                                                "take more than a quarter of the available memory"},
          {"no-gradient-checkpointing", 0, "", "same as --gradient-checkpointing off"},
          {"resume", 0, "", "continue the run in OUT from its newest checkpoint"},
          {"force", 0, "", "replace an existing OUT"},
          {"threads", 't', "N", "GEMM threads (default: all cores)"},
          dtype_option(),
          {"quiet", 'q', "", "no progress line"},
          {"json", 0, "", "print the result as JSON"},
          {"stop-after", 0, "N", "(testing) stop as if interrupted after N steps, writing a checkpoint"},
      },
      {},
      "  mc train run-research -m models/SmolLM2-135M-Instruct -d data/wordnet/train.jsonl \\\n"
      "      --eval-data data/wordnet/held_out.jsonl -o runs/research --steps 100\n");
  if (!args.parse(argv)) return 0;
  set_threads(args);
  train::ResearchConfig c;
  c.model_dir = args.value_or("model", "");
  c.data_path = args.value_or("data", "");
  c.output_dir = args.value_or("output", "");
  c.eval_data_path = args.value_or("eval-data", "");
  c.eval_split = args.double_value("eval-split", d.eval_split, 0.0, 0.99);
  c.eval_interval = args.int_value("eval-interval", 0, 1);
  if (auto t = args.value("targets")) c.targets = split_csv(*t);
  c.rank = args.int_value("rank", d.rank, 1);
  c.alpha = args.double_value("alpha", d.alpha, 1e-12, 1e12);
  c.dropout = args.double_value("dropout", d.dropout, 0.0, 0.99);
  c.use_rslora = args.flag("rslora");
  c.optimizer.kind = train::optimizer_from_name(args.value_or("optimizer", "adamw"));
  c.lr = args.double_value("lr", d.lr, 1e-12, 10.0);
  c.schedule = train::schedule_from_name(args.value_or("schedule", "linear"));
  c.warmup_steps = args.int_value("warmup-steps", d.warmup_steps, 0);
  c.optimizer.weight_decay = args.double_value("weight-decay", 0.0, 0.0, 10.0);
  c.optimizer.momentum = args.double_value("momentum", 0.0, 0.0, 0.999);
  c.max_grad_norm = args.double_value("max-grad-norm", d.max_grad_norm, 0.0, 1e12);
  c.batch_size = args.int_value("batch-size", d.batch_size, 1);
  c.grad_accum = args.int_value("grad-accum", d.grad_accum, 1);
  c.epochs = args.int_value("epochs", d.epochs, 1);
  c.max_steps = args.int_value("steps", 0, 1);
  c.seq_length = args.int_value("seq-length", d.seq_length, 2);
  c.seq_length_explicit = args.value("seq-length").has_value();
  c.seed = static_cast<uint64_t>(args.int_value("seed", static_cast<int64_t>(d.seed), 0));
  c.checkpoint_every = args.int_value("checkpoint-every", 0, 1);
  const std::string gc = args.flag("no-gradient-checkpointing") ? "off" : args.value_or("gradient-checkpointing", "auto");
  if (gc != "on" && gc != "off" && gc != "auto")
    throw Error("cli", str("--gradient-checkpointing must be on, off or auto, got '", gc, "'"));
  c.checkpointing = gc == "on";
  c.checkpointing_auto = gc == "auto";
  c.weight_dtype = dtype_from_args(args);
  c.resume = args.flag("resume");
  c.force = args.flag("force");
  c.progress = !args.flag("quiet");
  c.stop_after_steps = args.int_value("stop-after", 0, 1);
  OrderedJson r = train::run_research(c);
  if (args.flag("json")) {
    std::printf("%s\n", json_dump(r, 2).c_str());
    return 0;
  }
  std::printf("adapter        %s\n", c.output_dir.c_str());
  std::printf("steps          %lld (%s)\n", static_cast<long long>(r["steps"].get<int64_t>()),
              r["stop_reason"].get<std::string>().c_str());
  std::printf("train loss     %s -> %s\n", num(r["initial_loss"].is_number() ? r["initial_loss"].get<double>() : NAN).c_str(),
              num(r["final_loss"].is_number() ? r["final_loss"].get<double>() : NAN).c_str());
  if (r["eval_loss"].is_number())
    std::printf("eval loss      %s -> %s\n",
                num(r["base_eval_loss"].is_number() ? r["base_eval_loss"].get<double>() : NAN).c_str(),
                num(r["eval_loss"].get<double>()).c_str());
  std::printf("throughput     %s tokens/s, peak memory %s MiB\n", num(r["tokens_per_second"].get<double>(), 0).c_str(),
              num(r["peak_rss_mib"].get<double>(), 0).c_str());
  return 0;
}

int cmd_train_evaluate(const std::vector<std::string>& argv) {
  Args args("mc train evaluate -m MODEL [-a ADAPTER] (-d DATA | --prompts FILE) [--json]",
            "Dataset mode (-d): the base model and, with -a, the adapted model on DATA side by side:\n"
            "token-weighted mean loss and perplexity over the examples' training targets (assistant tokens\n"
            "for chat records), and per example whether the adapter lowered or raised the loss.\n"
            "Prompt mode (--prompts): greedy generations of the base and the adapted model for each prompt\n"
            "of FILE (JSONL: {\"prompt\": TEXT} or {\"messages\": [...]}), side by side; chat models get\n"
            "their chat template.",
            {
                {"model", 'm', "DIR", "Hugging Face model directory"},
                {"adapter", 'a', "DIR", "PEFT LoRA adapter directory (omit to evaluate the base model only)"},
                {"data", 'd', "FILE", "evaluation data (.jsonl/.json records)"},
                {"prompts", 0, "FILE", "prompt mode: generate for each prompt of FILE"},
                {"max-tokens", 'n', "N", "prompt mode: new tokens per generation (default 64)"},
                {"seq-length", 0, "N", "truncate examples to N tokens (default: the model's context)"},
                {"batch-size", 'b', "N", "examples per forward pass (default 4)"},
                {"per-example", 0, "", "list every example's losses"},
                {"threads", 't', "N", "GEMM threads (default: all cores)"},
                dtype_option(),
                {"json", 0, "", "print JSON (schema mc.train.evaluate.v1)"},
            },
            {},
            "  mc train evaluate -m models/SmolLM2-135M-Instruct -a runs/research -d data/wordnet/held_out.jsonl\n");
  if (!args.parse(argv)) return 0;
  set_threads(args);
  const std::string model_dir = args.value_or("model", ""), data = args.value_or("data", "");
  const auto prompts = args.value("prompts");
  if (model_dir.empty()) throw Error("cli", "a model is required (-m MODEL)");
  if (data.empty() == !prompts) throw Error("cli", "give exactly one of -d DATA (dataset mode) and --prompts FILE");
  Model model = Model::load(model_dir, {dtype_from_args(args)});
  LoraSet lora;
  const auto adapter = args.value("adapter");
  if (adapter) lora = lora_load_peft(*adapter, model.arch(), model.config());
  ModelTokenizerBundle bundle = ModelTokenizerBundle::load(model_dir);
  if (prompts) return evaluate_prompts(args, model_dir, model, bundle, adapter ? &lora : nullptr, *prompts);
  const int64_t ctx = model.config().max_position_embeddings > 0 ? model.config().max_position_embeddings : 4096;
  const int64_t seq = args.int_value("seq-length", ctx, 2);
  train::TokenizedDataset ds = train::load_tokenized(data, bundle, seq);
  const int64_t bs = args.int_value("batch-size", 4, 1);
  train::StepWorkspace ws;
  train::EvalResult base = train::evaluate_examples(model, nullptr, ds.examples, bs, ws);
  train::EvalResult adapted;
  int64_t improved = 0, degraded = 0;
  if (adapter) {
    adapted = train::evaluate_examples(model, &lora, ds.examples, bs, ws);
    for (size_t i = 0; i < base.per_example.size(); ++i) {
      improved += adapted.per_example[i] < base.per_example[i];
      degraded += adapted.per_example[i] > base.per_example[i];
    }
  }
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.train.evaluate.v1";
    j["model"] = model_dir;
    j["adapter"] = adapter ? OrderedJson(*adapter) : OrderedJson(nullptr);
    j["data"] = data;
    j["n_examples"] = ds.examples.size();
    j["n_targets"] = base.n_targets;
    j["base_loss"] = base.loss;
    j["base_perplexity"] = train::perplexity(base.loss);
    if (adapter) {
      j["adapted_loss"] = adapted.loss;
      j["adapted_perplexity"] = train::perplexity(adapted.loss);
      j["n_improved"] = improved;
      j["n_degraded"] = degraded;
    }
    if (args.flag("per-example")) {
      OrderedJson rows = OrderedJson::array();
      for (size_t i = 0; i < base.per_example.size(); ++i) {
        OrderedJson row{{"where", ds.examples[i].where}, {"base_loss", base.per_example[i]}};
        if (adapter) row["adapted_loss"] = adapted.per_example[i];
        rows.push_back(row);
      }
      j["examples"] = rows;
    }
    std::printf("%s\n", json_dump(j, 2).c_str());
    return 0;
  }
  std::printf("data           %s (%zu examples, %.0f target tokens)\n", data.c_str(), ds.examples.size(), base.n_targets);
  std::printf("base           loss %s  perplexity %s\n", num(base.loss).c_str(), num(train::perplexity(base.loss), 3).c_str());
  if (adapter) {
    std::printf("adapter        loss %s  perplexity %s\n", num(adapted.loss).c_str(),
                num(train::perplexity(adapted.loss), 3).c_str());
    std::printf("per example    %lld improved, %lld degraded, %lld unchanged\n", static_cast<long long>(improved),
                static_cast<long long>(degraded),
                static_cast<long long>(static_cast<int64_t>(base.per_example.size()) - improved - degraded));
  }
  if (args.flag("per-example"))
    for (size_t i = 0; i < base.per_example.size(); ++i)
      std::printf("  %-40s base %s%s\n", ds.examples[i].where.c_str(), num(base.per_example[i]).c_str(),
                  adapter ? ("  adapter " + num(adapted.per_example[i])).c_str() : "");
  return 0;
}

}  // namespace mc::cli

namespace mc::cli {

int cmd_train_run(const std::vector<std::string>& argv) {
  Args args(
      "mc train run -m MODEL -d DATA [-o OUT] [--eval-data FILE] [--retention-data FILE] [--plan-only] [--explain]\n"
      "             [--seq-length N] [--seed N] [--json]",
      "Zero-configuration LoRA training: every hyperparameter is derived from the model's weight spectra and\n"
      "the data (spec/training.md). Targets and per-module ranks come from each matrix's null-space\n"
      "capacity (tail dims, capped by the RMT signal rank of the eval probes), NB-LoRA scale bounds from\n"
      "sigma_k so that ||dW||_2 <= sigma_k(W) by construction, the batch size from per-sample gradient\n"
      "noise (McCandlish), every step size from the MASS controller eta = min(eta_ceiling, eta_sps,\n"
      "eta_weyl), and stopping from validation windows, Weyl saturation and a geometric certificate.\n"
      "There is no learning rate, rank, schedule or epoch count to set. --plan-only prints the resolved\n"
      "plan and writes nothing. After training the spectral bounds, CKA to the base model, degeneration\n"
      "and the pipeline gate are verified; a failed gate exits 4 but the adapter is still saved (marked\n"
      "failed in mc_manifest.json). OUT (default <model parent>/adapters/<model>-geometric-lora-<seed>)\n"
      "receives the PEFT adapter, mc_manifest.json, training_plan.json, training_result.json,\n"
      "metrics.jsonl and report.html.",
      {
          {"model", 'm', "DIR", "Hugging Face model directory"},
          {"data", 'd', "FILE", "training data (.jsonl/.json records of {text}, {prompt, completion} or {messages})"},
          {"output", 'o', "DIR", "output directory (default: derived from the model path and seed)"},
          {"eval-data", 0, "FILE", "held-out data (default: a pilot-variance split of DATA)"},
          {"retention-data", 0, "FILE", "general data mixed into training to keep the base model's behaviour"},
          {"plan-only", 0, "", "print the resolved plan and exit; creates no file or directory"},
          {"explain", 0, "", "print the plan to stderr, then train"},
          {"seq-length", 0, "N", "override the derived sequence length"},
          {"seed", 0, "N", "override the derived seed"},
          {"no-geometry-cache", 0, "", "recompute the weight spectra instead of using the cache"},
          {"force", 0, "", "replace an existing output directory"},
          {"threads", 't', "N", "GEMM threads (default: all cores)"},
          dtype_option(),
          {"quiet", 'q', "", "no progress line"},
          {"json", 0, "", "print the result (or, with --plan-only, the plan) as JSON"},
      },
      {},
      "  mc train run -m models/SmolLM2-135M-Instruct -d data/wordnet/train.jsonl --plan-only\n"
      "  mc train run -m models/SmolLM2-135M-Instruct -d data/wordnet/train.jsonl -o runs/derived\n");
  if (!args.parse(argv)) return 0;
  set_threads(args);
  train::DerivedConfig c;
  c.model_dir = args.value_or("model", "");
  c.data_path = args.value_or("data", "");
  c.output_dir = args.value_or("output", "");
  c.eval_data_path = args.value_or("eval-data", "");
  c.retention_data_path = args.value_or("retention-data", "");
  c.plan_only = args.flag("plan-only");
  c.explain = args.flag("explain");
  c.plan_json = args.flag("json");
  if (args.value("seq-length")) c.seq_length = args.int_value("seq-length", 0, 2);
  if (args.value("seed")) c.seed = static_cast<uint32_t>(args.int_value("seed", 0, 0) & 0xFFFFFFFF);
  c.geometry_cache = !args.flag("no-geometry-cache");
  c.weight_dtype = dtype_from_args(args);
  c.force = args.flag("force");
  c.progress = !args.flag("quiet");
  // Testing only (not a user knob of the zero-configuration run): cap the optimizer steps so the real
  // tier can run the whole pipeline in seconds.
  if (const char* cap = std::getenv("MC_TEST_MAX_STEPS")) c.max_steps_for_testing = std::atoll(cap);
  int code = 0;
  OrderedJson r = train::run_derived(c, code);
  if (c.plan_only) return 0;
  if (args.flag("json")) {
    std::printf("%s\n", json_dump(r, 2).c_str());
  } else {
    auto d = [&](const char* k) { return r.contains(k) && r[k].is_number() ? r[k].get<double>() : NAN; };
    std::printf("adapter        %s\n", r["adapter_path"].is_string() ? r["adapter_path"].get<std::string>().c_str() : "(not saved)");
    std::printf("stopped by     %s after %lld steps (batch %lld)\n", r["stop_reason"].get<std::string>().c_str(),
                static_cast<long long>(r["steps"].get<int64_t>()),
                static_cast<long long>(r["resolved_batch_size"].get<int64_t>()));
    std::printf("eval loss      %s -> %s\n", num(d("baseline_loss")).c_str(), num(d("post_loss")).c_str());
    std::printf("spectral bound %s (max ratio %s)\n", r["spectral_bounds_ok"].get<bool>() ? "ok" : "VIOLATED",
                num(d("max_spectral_ratio")).c_str());
    if (r.contains("min_cka")) std::printf("CKA            min %s, mean %s\n", num(d("min_cka")).c_str(), num(d("mean_cka")).c_str());
    const bool passed = r["pipeline_gate_passed"].get<bool>();
    std::printf("pipeline gate  %s", passed ? "passed" : "FAILED:");
    if (!passed)
      for (const auto& f : r["pipeline_gate"]["failure_modes"]) std::printf(" %s", f.get<std::string>().c_str());
    std::printf("\n");
  }
  if (code == static_cast<int>(ExitCode::Runtime))
    std::fprintf(stderr, "mc: error: [train] the pipeline gate failed; the adapter was saved and marked failed in "
                         "mc_manifest.json\n");
  return code;
}

int cmd_train_validate_derived(const std::vector<std::string>& argv) {
  Args args("mc train validate-derived -m MODEL -d DATA --trials N [--eval-data FILE] [--report FILE] [--json]",
            "Repeats the zero-configuration training over N trials, each with its own seed and a seeded 90%\n"
            "subsample of DATA, saving nothing, and reports every violated invariant as a counterexample: the\n"
            "held-out loss did not improve on the base model, a module broke its spectral bound, or the\n"
            "pipeline gate failed. Exits 1 when a counterexample is found (--no-fail to exit 0).",
            {
                {"model", 'm', "DIR", "Hugging Face model directory"},
                {"data", 'd', "FILE", "training data"},
                {"eval-data", 0, "FILE", "held-out data (default: each trial's derived split)"},
                {"trials", 'n', "N", "number of trials (required)"},
                {"base-seed", 0, "N", "seed the trial seeds derive from (default 0)"},
                {"max-steps", 0, "N", "cap each trial's optimizer steps (default: the run's own stop rules)"},
                {"report", 0, "FILE", "write the JSON report to FILE (atomically)"},
                {"no-fail", 0, "", "exit 0 even with counterexamples"},
                {"threads", 't', "N", "GEMM threads"},
                dtype_option(),
                {"json", 0, "", "print the report as JSON"},
            },
            {});
  if (!args.parse(argv)) return 0;
  set_threads(args);
  const int64_t trials = args.int_value("trials", 0, 1);
  if (!args.value("trials")) throw Error("cli", "--trials N is required");
  const uint64_t base = static_cast<uint64_t>(args.int_value("base-seed", 0, 0));
  OrderedJson rows = OrderedJson::array(), counter = OrderedJson::array();
  for (int64_t i = 0; i < trials; ++i) {
    train::DerivedConfig c;
    c.model_dir = args.value_or("model", "");
    c.data_path = args.value_or("data", "");
    c.eval_data_path = args.value_or("eval-data", "");
    c.save = false;
    c.progress = false;
    c.weight_dtype = dtype_from_args(args);
    c.seed = static_cast<uint32_t>(train::derive_seed(base, 7, static_cast<uint64_t>(i)) & 0xFFFFFFFF);
    c.data_fraction = 0.9;
    c.data_fraction_seed = train::derive_seed(base, 8, static_cast<uint64_t>(i));
    c.max_steps_for_testing = args.int_value("max-steps", 0, 1);
    int code = 0;
    OrderedJson r = train::run_derived(c, code);
    std::vector<std::string> violated;
    const double base_loss = r["baseline_loss"].get<double>(), post = r["post_loss"].get<double>();
    if (!(post < base_loss)) violated.push_back("post_loss >= baseline_loss");
    if (!r["spectral_bounds_ok"].get<bool>()) violated.push_back("spectral bound violated");
    if (!r["pipeline_gate_passed"].get<bool>()) violated.push_back("pipeline gate failed");
    OrderedJson row{{"trial", i}, {"seed", r["seed"]}, {"baseline_loss", base_loss}, {"post_loss", post},
                    {"stop_reason", r["stop_reason"]}, {"steps", r["steps"]},
                    {"max_spectral_ratio", r["max_spectral_ratio"]}, {"pipeline_gate_passed", r["pipeline_gate_passed"]},
                    {"violations", violated}};
    std::fprintf(stderr, "mc: trial %lld/%lld: loss %s -> %s, %s%s\n", static_cast<long long>(i + 1),
                 static_cast<long long>(trials), num(base_loss).c_str(), num(post).c_str(),
                 r["stop_reason"].get<std::string>().c_str(), violated.empty() ? "" : " — COUNTEREXAMPLE");
    rows.push_back(row);
    if (!violated.empty()) counter.push_back(row);
  }
  OrderedJson rep{{"schema", "mc.train.validate-derived.v1"}, {"model", args.value_or("model", "")},
                  {"data", args.value_or("data", "")}, {"trials", rows}, {"counterexamples", counter},
                  {"n_counterexamples", counter.size()}};
  if (auto f = args.value("report")) write_file_atomic(*f, json_dump(rep, 2) + "\n", "train");
  if (args.flag("json")) std::printf("%s\n", json_dump(rep, 2).c_str());
  else std::printf("%lld trials, %zu counterexamples\n", static_cast<long long>(trials), counter.size());
  return counter.empty() || args.flag("no-fail") ? 0 : 1;
}

}  // namespace mc::cli
