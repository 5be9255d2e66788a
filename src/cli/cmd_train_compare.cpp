// `mc train compare`: two training results side by side (--result-a/--result-b), or two adapters (or an
// adapter and the base model) evaluated on the same data with a paired bootstrap verdict (-m/-d). The
// statistics are in src/train/compare.h; this file parses arguments, evaluates and prints.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/dtype_option.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "core/error.h"
#include "core/json.h"
#include "io/dataset/model_tokenizer.h"
#include "kernels/gemm.h"
#include "model/lora_io.h"
#include "model/transformer.h"
#include "train/compare.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/run_files.h"

namespace mc::cli {

namespace {

constexpr const char* kSchema = "mc.train.compare.v1";

OrderedJson number_or_null(double v) { return std::isfinite(v) ? OrderedJson(v) : OrderedJson(nullptr); }

OrderedJson deltas_json(const std::vector<train::MetricDelta>& deltas) {
  OrderedJson arr = OrderedJson::array();
  for (const auto& d : deltas) arr.push_back({{"metric", d.metric}, {"a", d.a}, {"b", d.b}, {"delta", d.delta}});
  return arr;
}

void print_deltas(const std::vector<train::MetricDelta>& deltas) {
  if (deltas.empty()) {
    std::printf("no numeric fields in common\n");
    return;
  }
  TextTable t({"metric", "a", "b", "b - a"});
  for (const auto& d : deltas) t.add_row({d.metric, fmt_sig(d.a, 6), fmt_sig(d.b, 6), fmt_sig(d.delta, 4)});
  std::printf("%s", t.render().c_str());
}

void print_paired(const train::PairedComparison& p) {
  std::printf("paired         %lld examples: mean loss a %s, b %s\n", static_cast<long long>(p.n),
              fmt_sig(p.mean_a, 6).c_str(), fmt_sig(p.mean_b, 6).c_str());
  std::printf("difference     b - a = %s, %g%% CI [%s, %s] (paired percentile bootstrap, %lld resamples)\n",
              fmt_sig(p.ci.mean, 4).c_str(), 100.0 * p.ci.level, fmt_sig(p.ci.lo, 4).c_str(),
              fmt_sig(p.ci.hi, 4).c_str(), static_cast<long long>(p.ci.resamples));
  std::printf("per example    %lld improved (b lower), %lld degraded, %lld unchanged\n",
              static_cast<long long>(p.n_improved), static_cast<long long>(p.n_degraded),
              static_cast<long long>(p.n_unchanged));
}

const char* gate_text(const std::optional<bool>& g) { return !g ? "n/a" : *g ? "passed" : "failed"; }

int compare_result_files(const Args& args, const std::string& pa, const std::string& pb) {
  const train::RunResult a = train::read_run_result(pa), b = train::read_run_result(pb);
  const train::ResultComparison c = train::compare_results(a, b);
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = kSchema;
    j["mode"] = "results";
    j["a"] = {{"path", a.path}, {"result_schema", a.schema}};
    j["b"] = {{"path", b.path}, {"result_schema", b.schema}};
    j["deltas"] = deltas_json(c.deltas);
    j["gate_passed"] = {{"a", c.gate_a ? OrderedJson(*c.gate_a) : OrderedJson(nullptr)},
                        {"b", c.gate_b ? OrderedJson(*c.gate_b) : OrderedJson(nullptr)}};
    j["paired"] = c.paired ? train::paired_json(*c.paired) : OrderedJson(nullptr);
    j["winner"] = c.winner.empty() ? OrderedJson(nullptr) : OrderedJson(c.winner);
    j["verdict"] = c.verdict;
    j["notes"] = c.notes;
    std::printf("%s\n", json_dump(j, 2).c_str());
    return 0;
  }
  std::printf("a              %s (%s)\n", a.path.c_str(), a.schema.c_str());
  std::printf("b              %s (%s)\n\n", b.path.c_str(), b.schema.c_str());
  print_deltas(c.deltas);
  if (c.gate_a || c.gate_b) std::printf("\ngate           a %s, b %s\n", gate_text(c.gate_a), gate_text(c.gate_b));
  std::printf("\n");
  if (c.paired) print_paired(*c.paired);
  for (const auto& n : c.notes) std::printf("note           %s\n", n.c_str());
  std::printf("verdict        %s\n", c.verdict.c_str());
  return 0;
}

int compare_on_data(const Args& args) {
  const std::string model_dir = args.value_or("model", ""), data = args.value_or("data", "");
  if (model_dir.empty()) throw Error("cli", "a model is required with --adapter-a/--adapter-b (-m MODEL)");
  if (data.empty()) throw Error("cli", "evaluation data is required (-d DATA)");
  const auto adapter_a = args.value("adapter-a"), adapter_b = args.value("adapter-b");
  if (!adapter_a && !adapter_b)
    throw Error("cli", "give --adapter-a and/or --adapter-b (a missing one is the base model)");
  if (args.value("threads")) gemm_set_threads(static_cast<int>(args.int_value("threads", 1, 1)));
  Model model = Model::load(model_dir, {dtype_from_args(args)});
  LoraSet lora_a, lora_b;
  if (adapter_a) lora_a = lora_load_peft(*adapter_a, model.arch(), model.config());
  if (adapter_b) lora_b = lora_load_peft(*adapter_b, model.arch(), model.config());
  ModelTokenizerBundle bundle = ModelTokenizerBundle::load(model_dir);
  const int64_t ctx = model.config().max_position_embeddings > 0 ? model.config().max_position_embeddings : 4096;
  const int64_t seq = args.int_value("seq-length", ctx, 2);
  const int64_t bs = args.int_value("batch-size", 4, 1);
  train::TokenizedDataset ds = train::load_tokenized(data, bundle, seq);
  // Only examples with training targets carry a loss (evaluate.h reports 0 for the others).
  std::vector<TokenizedExample> exs;
  for (auto& e : ds.examples)
    if (e.loss_tokens() > 0) exs.push_back(std::move(e));
  if (exs.empty()) throw Error("compare", str(data, ": no example has a target token to evaluate"));
  train::StepWorkspace ws;
  const train::EvalResult ra = train::evaluate_examples(model, adapter_a ? &lora_a : nullptr, exs, bs, ws);
  const train::EvalResult rb = train::evaluate_examples(model, adapter_b ? &lora_b : nullptr, exs, bs, ws);
  const train::PairedComparison p = train::compare_paired(ra.per_example, rb.per_example);
  const std::string name_a = adapter_a ? *adapter_a : "base model", name_b = adapter_b ? *adapter_b : "base model";
  const std::string verdict = train::paired_verdict(p, name_a, name_b);
  std::vector<train::MetricDelta> deltas = {
      {"loss", ra.loss, rb.loss, rb.loss - ra.loss},
      {"perplexity", train::perplexity(ra.loss), train::perplexity(rb.loss),
       train::perplexity(rb.loss) - train::perplexity(ra.loss)},
      {"mean_example_loss", p.mean_a, p.mean_b, p.mean_b - p.mean_a},
  };
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = kSchema;
    j["mode"] = "evaluate";
    j["model"] = model_dir;
    j["data"] = data;
    j["n_examples"] = exs.size();
    j["n_targets"] = ra.n_targets;
    j["a"] = {{"adapter", adapter_a ? OrderedJson(*adapter_a) : OrderedJson(nullptr)}, {"label", name_a},
              {"loss", number_or_null(ra.loss)}, {"perplexity", number_or_null(train::perplexity(ra.loss))}};
    j["b"] = {{"adapter", adapter_b ? OrderedJson(*adapter_b) : OrderedJson(nullptr)}, {"label", name_b},
              {"loss", number_or_null(rb.loss)}, {"perplexity", number_or_null(train::perplexity(rb.loss))}};
    j["deltas"] = deltas_json(deltas);
    j["paired"] = train::paired_json(p);
    j["winner"] = p.winner.empty() ? OrderedJson(nullptr) : OrderedJson(p.winner);
    j["verdict"] = verdict;
    std::printf("%s\n", json_dump(j, 2).c_str());
    return 0;
  }
  std::printf("data           %s (%zu examples, %.0f target tokens)\n", data.c_str(), exs.size(), ra.n_targets);
  std::printf("a              %s: loss %s, perplexity %s\n", name_a.c_str(), fmt_sig(ra.loss, 6).c_str(),
              fmt_sig(train::perplexity(ra.loss), 5).c_str());
  std::printf("b              %s: loss %s, perplexity %s\n", name_b.c_str(), fmt_sig(rb.loss, 6).c_str(),
              fmt_sig(train::perplexity(rb.loss), 5).c_str());
  print_paired(p);
  std::printf("verdict        %s\n", verdict.c_str());
  return 0;
}

}  // namespace

int cmd_train_compare(const std::vector<std::string>& argv) {
  Args args("mc train compare (--result-a A --result-b B | -m MODEL [--adapter-a DIR] [--adapter-b DIR] -d DATA) [--json]",
            "Compares two training runs. With --result-a/--result-b (training_result.json files or run\n"
            "directories): the differences b - a of every numeric field both results hold (losses, CKA,\n"
            "time, throughput, memory, ...); no winner is named from result files alone unless both carry\n"
            "per-example eval losses of the same eval data. With -m/-d: both adapters (a missing one is the\n"
            "base model) are evaluated on DATA; the per-example mean losses give paired differences\n"
            "d_i = loss_b - loss_a, their mean and a paired percentile bootstrap 95% interval (10000\n"
            "resamples, fixed seed; Efron & Tibshirani 1993, ch. 13). A winner (the lower loss) is named only\n"
            "when the interval excludes zero; otherwise: no significant difference.",
            {
                {"result-a", 0, "FILE", "training_result.json (or run directory) of run a"},
                {"result-b", 0, "FILE", "training_result.json (or run directory) of run b"},
                {"model", 'm', "DIR", "Hugging Face model directory (with -d)"},
                {"adapter-a", 0, "DIR", "PEFT adapter a (omit: the base model)"},
                {"adapter-b", 0, "DIR", "PEFT adapter b (omit: the base model)"},
                {"data", 'd', "FILE", "evaluation data (.jsonl/.json records)"},
                {"seq-length", 0, "N", "truncate examples to N tokens (default: the model's context)"},
                {"batch-size", 'b', "N", "examples per forward pass (default 4)"},
                {"threads", 't', "N", "GEMM threads (default: all cores)"},
                dtype_option(),
                {"json", 0, "", "print JSON (schema mc.train.compare.v1)"},
            },
            {},
            "  mc train compare --result-a runs/research --result-b runs/derived\n"
            "  mc train compare -m models/SmolLM2-135M-Instruct --adapter-a runs/research --adapter-b runs/derived \\\n"
            "      -d data/wordnet/held_out.jsonl\n");
  if (!args.parse(argv)) return 0;
  const auto ra = args.value("result-a"), rb = args.value("result-b");
  const bool data_mode = args.value("model") || args.value("data") || args.value("adapter-a") || args.value("adapter-b");
  if (ra || rb) {
    if (data_mode)
      throw Error("cli", "--result-a/--result-b compare result files; -m/-d/--adapter-a/--adapter-b evaluate "
                         "adapters: use one mode");
    if (!ra || !rb) throw Error("cli", "both --result-a and --result-b are required");
    return compare_result_files(args, *ra, *rb);
  }
  if (!data_mode)
    throw Error("cli", "nothing to compare (give --result-a/--result-b, or -m MODEL --adapter-a DIR [--adapter-b DIR] -d DATA)");
  return compare_on_data(args);
}

}  // namespace mc::cli
