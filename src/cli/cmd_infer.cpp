// `mc infer run` and `mc infer chat`: generate text with a model directory's weights, tokenizer and chat
// template, optionally through a PEFT LoRA adapter (--adapter). Argument parsing, prompt rendering and
// printing only; model/generate.h runs the loop and model/sampling.h picks the tokens (transformers'
// logits processors); model/lora_io.h reads the adapter.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/dtype_option.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "io/chat_template/chat_template.h"
#include "io/dataset/model_tokenizer.h"
#include "kernels/gemm.h"
#include "model/generate.h"
#include "model/lora_io.h"
#include "model/transformer.h"

namespace mc::cli {

namespace {

constexpr const char* kComponent = "infer";

// Options shared by `run` and `chat`.
std::vector<OptionSpec> common_specs(unsigned hw) {
  return {
      {"model", 'm', "MODEL", "Hugging Face model directory (config.json, safetensors, tokenizer.json)"},
      {"adapter", 'a', "DIR", "apply a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors, "
                              "e.g. the output of mc train run)"},
      {"system", 0, "TEXT", "system message (needs the model's chat template)"},
      {"max-tokens", 'n', "N", "most new tokens per reply (default 256; capped at the model's context)"},
      {"temperature", 't', "T", "sampling temperature; 0 = greedy argmax (default 0)"},
      {"top-k", 0, "K", "keep the K most likely tokens (default 0 = off)"},
      {"top-p", 0, "P", "keep the smallest set of tokens with probability >= P (default 1 = off)"},
      {"min-p", 0, "P", "drop tokens less likely than P times the most likely one (default 0 = off)"},
      {"repetition-penalty", 0, "R", "penalise every token seen so far (prompt included): positive logits / R, "
                                     "negative ones * R (default 1 = off; also when greedy)"},
      {"seed", 0, "S", "random seed of the sampler (default 0); the same seed gives the same tokens"},
      {"stop", 0, "STR", "stop when the text contains STR, which is cut from the output (repeatable; matched "
                         "against the text without special tokens)"},
      {"chat-template", 0, "FILE", "a Jinja chat template to use instead of the model's"},
      {"threads", 'j', "N", str("GEMM threads (default ", hw, ")")},
      dtype_option(),
  };
}

// Args keeps the last value of an option; --stop may be given several times, so its values are taken
// out of argv first. A token that is the value of another option (--prompt --stop) is left alone.
std::vector<std::string> take_repeated(std::vector<std::string>& argv, const std::string& name,
                                       const std::vector<OptionSpec>& specs) {
  auto takes_value = [&](const std::string& t) {
    for (const OptionSpec& o : specs) {
      if (o.value_name.empty()) continue;
      if (t == "--" + o.long_name || (o.short_name && t.size() == 2 && t[0] == '-' && t[1] == o.short_name)) return true;
    }
    return false;
  };
  std::vector<std::string> values, rest;
  const std::string flag = "--" + name, prefix = flag + "=";
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& t = argv[i];
    if (t == "--") {
      rest.insert(rest.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    if (t.rfind(prefix, 0) == 0) {
      values.push_back(t.substr(prefix.size()));
    } else if (t == flag && i + 1 < argv.size()) {
      values.push_back(argv[++i]);
    } else {
      rest.push_back(t);
      if (takes_value(t) && i + 1 < argv.size()) rest.push_back(argv[++i]);
    }
  }
  argv = std::move(rest);
  return values;
}

struct Common {
  std::string              model_dir;
  std::string              adapter_dir;  // empty: the base model
  std::optional<std::string> system;
  GenerateOptions          gen;
  BundleOptions            bundle;
  int                      threads = 1;
  WeightDtype              dtype = WeightDtype::Auto;
};

Common read_common(const Args& args, std::vector<std::string> stops, const char* command) {
  Common c;
  auto model = args.value("model");
  if (!model) throw Error("cli", str(command, " needs -m MODEL (a Hugging Face model directory)"));
  c.model_dir = *model;
  c.adapter_dir = args.value_or("adapter", "");
  if (args.value("adapter") && c.adapter_dir.empty()) throw Error("cli", "--adapter needs a directory");
  c.system = args.value("system");
  c.gen.max_new_tokens = args.int_value("max-tokens", 256, 1);
  SamplingOptions& s = c.gen.sampling;
  s.temperature = args.double_value("temperature", 0.0, 0.0, 1e6);
  s.top_k = args.int_value("top-k", 0, 0);
  s.top_p = args.double_value("top-p", 1.0, 0.0, 1.0);
  s.min_p = args.double_value("min-p", 0.0, 0.0, 1.0);
  s.repetition_penalty = args.double_value("repetition-penalty", 1.0, 1e-6, 1e6);
  s.seed = static_cast<uint64_t>(args.int_value("seed", 0, 0));
  sampling_validate(s);
  if (s.greedy())
    for (const char* k : {"top-k", "top-p", "min-p", "seed"})
      if (args.value(k)) log_warn(str("--", k, " has no effect with greedy decoding (give --temperature > 0 to sample)"));
  for (const std::string& st : stops)
    if (st.empty()) throw Error("cli", "--stop needs a non-empty string");
  c.gen.stop_strings = std::move(stops);
  c.bundle.chat_template_file = args.value_or("chat-template", "");
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  c.threads = static_cast<int>(args.int_value("threads", hw, 1));
  c.dtype = dtype_from_args(args);
  return c;
}

// The tokenizer, special tokens and chat template of a model directory. A missing tokenizer is named
// before any weights are read.
ModelTokenizerBundle load_bundle(const Common& c) {
  if (!is_directory(c.model_dir)) {
    if (!path_exists(c.model_dir)) throw Error(kComponent, str(c.model_dir, ": no such model directory"));
    throw Error(kComponent, str(c.model_dir, ": not a directory (give a Hugging Face model directory; a .gguf file "
                                             "can be converted with `mc model import-gguf`)"));
  }
  const std::string tok = (std::filesystem::path(c.model_dir) / "tokenizer.json").string();
  if (!path_exists(tok))
    throw Error(kComponent, str(tok, " not found: generation needs the model's tokenizer (copy tokenizer.json and "
                                     "tokenizer_config.json into the model directory)"));
  return ModelTokenizerBundle::load(c.model_dir, c.bundle);
}

Model load_model(const Common& c) {
  gemm_set_threads(c.threads);
  return Model::load(c.model_dir, {c.dtype});
}

// The --adapter of `c` for `model` (an empty set without one). lora_load_peft validates the adapter
// against the model: a module the model lacks or a shape that differs is exit 1, naming the adapter.
// The caller keeps the set alive while c.gen.forward.lora points at it.
LoraSet load_adapter(const Common& c, const Model& model) {
  if (c.adapter_dir.empty()) return {};
  if (!path_exists(c.adapter_dir)) throw Error(kComponent, str(c.adapter_dir, ": no such adapter directory"));
  LoraSet set = lora_load_peft(c.adapter_dir, model.arch(), model.config());
  if (set.modules.empty()) throw Error(kComponent, str(c.adapter_dir, ": the adapter adapts no module"));
  return set;
}

// Generation runs through the adapter without dropout (inference).
void attach_adapter(Common& c, const LoraSet& set) {
  c.gen.forward.lora = set.modules.empty() ? nullptr : &set;
  c.gen.forward.training = false;
}

std::string render_chat(const ModelTokenizerBundle& b, const OrderedJson& messages) {
  ChatInputs in;
  in.messages = messages;
  in.add_generation_prompt = true;
  in.special_tokens = b.special_tokens();
  return b.chat_template()->render(chat_template_context(in));
}

OrderedJson message(const char* role, const std::string& content) { return {{"role", role}, {"content", content}}; }

void write_stdout(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

void log_stats(const GenerateResult& r) {
  log_info(str(r.prompt_tokens, " prompt + ", r.new_tokens, " new tokens (stop: ", stop_reason_name(r.stop_reason),
               "); prefill ", format_number(std::round(r.prefill_tokens_per_second * 10) / 10), " tok/s, decode ",
               format_number(std::round(r.decode_tokens_per_second * 10) / 10), " tok/s"));
}

OrderedJson sampling_json(const SamplingOptions& s) {
  return {{"temperature", s.temperature},  {"top_k", s.top_k},
          {"top_p", s.top_p},              {"min_p", s.min_p},
          {"repetition_penalty", s.repetition_penalty}, {"seed", s.seed},
          {"greedy", s.greedy()}};
}

}  // namespace

int cmd_infer_run(const std::vector<std::string>& argv_in) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::vector<OptionSpec> specs = common_specs(hw);
  specs.insert(specs.begin() + 1,
               {{"prompt", 'p', "TEXT", "the prompt (a user message, or raw text with --raw)"},
                {"raw", 0, "", "use the prompt as it is (no chat template; special tokens such as BOS are added as "
                               "the tokenizer's post-processor says)"},
                {"json", 0, "", "print one JSON document (schema mc.infer.run.v1) instead of streaming text"}});
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> stops = take_repeated(argv, "stop", specs);
  Args args("mc infer run -m MODEL [-a ADAPTER] --prompt TEXT [--system TEXT] [--raw] [sampling options] [--json]",
            "Generates a reply to one prompt. With a chat template (and without --raw) the prompt is the user\n"
            "message of a conversation (after --system, if given) rendered with add_generation_prompt, as\n"
            "transformers' apply_chat_template does; a model without a template gets the prompt as it is.\n"
            "Decoding is greedy unless --temperature > 0; the filters are transformers' logits processors in\n"
            "generate()'s order (repetition penalty, temperature, top-k, top-p, min-p). Generation stops at the\n"
            "model's end-of-sequence ids (generation_config.json), a --stop string, --max-tokens or the context.\n"
            "The text streams to stdout; token counts and speeds go to stderr.",
            specs, {},
            "  mc infer run -m models/SmolLM2-135M-Instruct --prompt \"What is the capital of France?\"\n"
            "  mc infer run -m models/SmolLM2-135M-Instruct --prompt \"Once upon a time\" --raw -t 0.8 --top-p 0.9 --seed 7\n"
            "  mc infer run -m models/SmolLM2-135M-Instruct --prompt \"List three fruits\" --stop \"3.\" --json\n"
            "  mc infer run -m models/SmolLM2-135M-Instruct -a runs/derived --prompt \"What does ring mean as a noun?\"");
  if (!args.parse(argv)) return 0;
  Common c = read_common(args, std::move(stops), "infer run");
  auto prompt = args.value("prompt");
  if (!prompt) throw Error("cli", "infer run needs --prompt TEXT");
  const bool raw = args.flag("raw"), json = args.flag("json");

  ModelTokenizerBundle bundle = load_bundle(c);
  const bool templated = !raw && bundle.chat_template() != nullptr;
  if (c.system && !templated)
    throw Error("cli", raw ? "--system cannot be used with --raw (put the system text into the prompt)"
                           : str(c.model_dir, " has no chat template, so --system cannot be placed (put it into the "
                                              "prompt, or give a template with --chat-template FILE)"));
  if (!raw && !templated) log_info("the model has no chat template: the prompt is used as it is (as with --raw)");
  OrderedJson messages = OrderedJson::array();
  if (c.system) messages.push_back(message("system", *c.system));
  messages.push_back(message("user", *prompt));
  const std::string rendered = templated ? render_chat(bundle, messages) : *prompt;
  const std::vector<int32_t> ids = bundle.tokenizer().encode(rendered, !templated);

  Model model = load_model(c);
  const LoraSet adapter = load_adapter(c, model);
  attach_adapter(c, adapter);
  c.gen.eos_ids = generation_eos_ids(c.model_dir, model.config());
  GenerateResult r = generate(model, bundle.tokenizer(), ids, c.gen, json ? TextCallback{} : TextCallback{write_stdout});

  if (!json) {
    if (r.text.empty() || r.text.back() != '\n') write_stdout("\n");
    log_stats(r);
    return 0;
  }
  OrderedJson j;
  j["schema"] = "mc.infer.run.v1";
  j["model"] = c.model_dir;
  j["adapter"] = c.adapter_dir.empty() ? OrderedJson() : OrderedJson(c.adapter_dir);
  j["prompt"] = *prompt;
  j["system"] = c.system ? OrderedJson(*c.system) : OrderedJson();
  j["chat_template"] = templated;
  j["rendered_prompt"] = rendered;
  j["prompt_ids"] = ids;
  j["text"] = r.text;
  j["token_ids"] = r.tokens;
  j["prompt_tokens"] = r.prompt_tokens;
  j["new_tokens"] = r.new_tokens;
  j["stop_reason"] = stop_reason_name(r.stop_reason);
  j["max_tokens"] = c.gen.max_new_tokens;
  j["context_capped"] = r.context_capped;
  j["stop"] = c.gen.stop_strings;
  j["eos_token_ids"] = c.gen.eos_ids;
  j["sampling"] = sampling_json(c.gen.sampling);
  j["prefill_seconds"] = r.prefill_seconds;
  j["decode_seconds"] = r.decode_seconds;
  j["decode_steps"] = r.decode_steps;
  j["prefill_tokens_per_second"] = r.prefill_tokens_per_second;
  j["decode_tokens_per_second"] = r.decode_tokens_per_second;
  j["threads"] = c.threads;
  j["dtype"] = weight_dtype_name(model.weight_dtype());
  std::printf("%s\n", json_dump(j).c_str());
  return 0;
}

int cmd_infer_chat(const std::vector<std::string>& argv_in) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::vector<OptionSpec> specs = common_specs(hw);
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> stops = take_repeated(argv, "stop", specs);
  Args args("mc infer chat -m MODEL [-a ADAPTER] [--system TEXT] [sampling options]",
            "An interactive conversation: each line read from stdin is a user message; the whole conversation\n"
            "is rendered through the model's chat template every turn and the reply streams to stdout (one\n"
            "reply per line of output, ended by a newline). Commands: /reset forgets the conversation (the\n"
            "--system message stays), /exit or end of input quits. Works with piped input. Sampling turn i\n"
            "uses seed S + i, so a session is reproducible. Options as for `mc infer run`.",
            specs, {},
            "  mc infer chat -m models/SmolLM2-135M-Instruct --system \"Answer briefly.\"\n"
            "  printf 'hello\\n/exit\\n' | mc infer chat -m models/SmolLM2-135M-Instruct");
  if (!args.parse(argv)) return 0;
  Common c = read_common(args, std::move(stops), "infer chat");
  ModelTokenizerBundle bundle = load_bundle(c);
  if (!bundle.chat_template())
    throw Error(kComponent, str(c.model_dir, " has no chat template, so a conversation cannot be formatted (use `mc "
                                             "infer run --raw --prompt TEXT`, or give one with --chat-template FILE)"));
  Model model = load_model(c);
  const LoraSet adapter = load_adapter(c, model);
  attach_adapter(c, adapter);
  c.gen.eos_ids = generation_eos_ids(c.model_dir, model.config());
  const int64_t n_ctx = model.config().max_position_embeddings;
  const uint64_t seed = c.gen.sampling.seed;

  OrderedJson messages = OrderedJson::array();
  if (c.system) messages.push_back(message("system", *c.system));
  const size_t n_fixed = messages.size();
  const bool tty = isatty(STDIN_FILENO) != 0;
  if (tty)
    log_info("chatting with " + c.model_dir + (c.adapter_dir.empty() ? "" : " + adapter " + c.adapter_dir) +
             ": /reset forgets the conversation, /exit or Ctrl-D quits");
  uint64_t turn = 0;
  std::string line;
  while (true) {
    if (tty) {
      std::fputs("> ", stderr);
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    const std::string text = line.substr(b, e - b + 1);
    if (text == "/exit" || text == "/quit") break;
    if (text == "/reset") {
      messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(n_fixed), messages.end());
      log_info("conversation cleared");
      continue;
    }
    if (text[0] == '/' && text.find(' ') == std::string::npos) {
      log_warn(str("unknown command ", text, " (/reset, /exit)"));
      continue;
    }
    messages.push_back(message("user", text));
    const std::string rendered = render_chat(bundle, messages);
    const std::vector<int32_t> ids = bundle.tokenizer().encode(rendered, false);
    if (n_ctx > 0 && static_cast<int64_t>(ids.size()) >= n_ctx) {
      log_warn(str("the conversation is ", ids.size(), " tokens, at or over the model's context of ", n_ctx,
                   " tokens; /reset to start over"));
      messages.erase(messages.end() - 1);
      continue;
    }
    c.gen.sampling.seed = seed + turn;
    GenerateResult r = generate(model, bundle.tokenizer(), ids, c.gen, write_stdout);
    write_stdout("\n");
    log_stats(r);
    if (r.stop_reason == StopReason::Context) log_warn("the conversation reached the model's context; /reset to start over");
    messages.push_back(message("assistant", r.text));
    turn++;
  }
  if (tty) std::fputs("\n", stderr);
  return 0;
}

}  // namespace mc::cli
