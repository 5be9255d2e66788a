// `mc model ...` commands: argument parsing and printing only.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "core/error.h"
#include "core/json.h"
#include "model/gguf_import.h"
#include "model/summary.h"

namespace mc::cli {

namespace {

void print_info_text(const ModelSummary& s) {
  auto row = [](const char* key, const std::string& value) { std::printf("%-16s %s\n", key, value.c_str()); };
  row("model", s.path + "  (" + s.format + (s.gguf_version ? " v" + std::to_string(s.gguf_version) : "") + ")");
  if (s.config) {
    const ModelConfig& c = *s.config;
    row("architecture", c.model_type + (c.architecture.empty() ? "" : "  (" + c.architecture + ")"));
    row("layers", std::to_string(c.num_hidden_layers));
    if (!c.layer_types.empty()) {
      int64_t attn = 0;
      for (int64_t i = 0; i < c.num_hidden_layers; ++i) attn += c.layer_is_attention(i) ? 1 : 0;
      row("layer types", str(attn, " attention, ", c.num_hidden_layers - attn, " conv"));
    }
    row("hidden size", std::to_string(c.hidden_size));
    row("heads", str(c.num_attention_heads, " query / ", c.num_key_value_heads, " key-value, head_dim ", c.head_dim));
    row("FFN size", std::to_string(c.ffn_dim) +
                        (c.ffn_dim != c.intermediate_size ? str("  (config ", c.intermediate_size, ", auto-adjusted)") : ""));
    row("vocab", std::to_string(c.vocab_size));
    row("context length", std::to_string(c.max_position_embeddings));
    std::string rope = "theta " + format_number(c.rope_theta) + ", " + c.rope_scaling.rope_type;
    if (c.rope_scaling.rope_type != "default") rope += " factor " + format_number(c.rope_scaling.factor);
    row("RoPE", rope);
    row("norm eps", format_number(c.rms_norm_eps));
    row("tied embeddings", c.tie_word_embeddings ? "yes" : "no");
  } else {
    row("config", "none (" + s.config_note + ")");
  }
  std::string dts;
  for (const auto& [d, n] : s.dtypes()) dts += (dts.empty() ? "" : ", ") + d + " ×" + std::to_string(n);
  row("dtypes", dts);
  uint64_t total = s.total_params();
  row("parameters", format_count(total) + "  (" + format_si(static_cast<double>(total)) + ")");
  for (const auto& [g, n] : s.params_by_group()) {
    if (n == 0) continue;
    std::printf("  %-14s %15s  %5.1f%%\n", g.c_str(), format_count(n).c_str(),
                total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
  }
  row("tensors", std::to_string(s.tensors.size()));
  row("bytes on disk", format_bytes(s.bytes_on_disk) + "  (" + std::to_string(s.files.size()) + " file" +
                           (s.files.size() == 1 ? "" : "s") + ")");
  const TokenizerSummary& t = s.tokenizer;
  if (t.present) {
    row("tokenizer", t.kind + ", " + std::to_string(t.vocab_size) + " tokens");
    std::string sp = "bos " + (t.bos_token.empty() ? "-" : t.bos_token) + ", eos " +
                     (t.eos_token.empty() ? "-" : t.eos_token) + ", pad " + (t.pad_token.empty() ? "-" : t.pad_token);
    row("special tokens", sp + str("; ", t.special_tokens.size(), " special in total"));
  } else {
    row("tokenizer", "none");
  }
  row("chat template", t.has_chat_template ? "yes" : "no");
}

}  // namespace

int cmd_model_info(const std::vector<std::string>& argv) {
  Args args("mc model info PATH [--json]",
            "Describes a model without loading its weights: architecture, sizes, RoPE, dtypes, parameter counts\n"
            "by group, bytes on disk, tokenizer and chat template. PATH is a Hugging Face model directory\n"
            "(config.json + model.safetensors or a sharded index), a .safetensors file, or a .gguf file.",
            {{"json", 0, "", "print one JSON document (schema mc.model.info.v1) instead of text"}}, {"PATH"},
            "  mc model info models/SmolLM2-135M-Instruct\n  mc model info model.gguf --json");
  if (!args.parse(argv)) return 0;
  ModelSummary s = model_summary(args.positionals()[0]);
  if (args.flag("json")) {
    std::printf("%s\n", json_dump(model_summary_json(s)).c_str());
  } else {
    print_info_text(s);
  }
  return 0;
}

int cmd_model_import_gguf(const std::vector<std::string>& argv) {
  Args args("mc model import-gguf FILE -o DIR [--dtype bf16|f32] [--force]",
            "Converts a GGUF file (llama.cpp format) into a Hugging Face model directory: config.json,\n"
            "model.safetensors (dequantized; bf16 by default), tokenizer.json rebuilt from the GGUF tokenizer,\n"
            "tokenizer_config.json with the chat template, generation_config.json. Llama-architecture Q/K rows\n"
            "are un-permuted. Quant types: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K.",
            {{"out", 'o', "DIR", "output directory (must not exist unless --force)"},
             {"dtype", 0, "DTYPE", "weight dtype written: bf16 (default) or f32"},
             {"force", 0, "", "replace DIR if it exists"}},
            {"FILE"}, "  mc model import-gguf SmolLM2-135M-Instruct.Q4_1.gguf -o models/SmolLM2-135M-Instruct");
  if (!args.parse(argv)) return 0;
  auto out = args.value("out");
  if (!out) throw Error("cli", "import-gguf needs -o DIR (the output directory)");
  GgufImportOptions opt;
  std::string dt = args.value_or("dtype", "bf16");
  if (dt == "bf16") {
    opt.dtype = Dtype::BF16;
  } else if (dt == "f32") {
    opt.dtype = Dtype::F32;
  } else {
    throw Error("cli", str("--dtype must be bf16 or f32, got '", dt, "'"));
  }
  opt.force = args.flag("force");
  gguf_import(args.positionals()[0], *out, opt);
  return 0;
}

}  // namespace mc::cli
