// The generation loop, text streaming and stop strings; see generate.h.
#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"

namespace mc {

namespace {

constexpr const char* kComponent = "generate";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Bytes a UTF-8 sequence with this lead byte has; 0 for a continuation or invalid lead byte.
size_t utf8_seq_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Eos: return "eos";
    case StopReason::StopString: return "stop_string";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::Context: return "context";
  }
  return "unknown";
}

size_t utf8_stable_prefix(std::string_view s) {
  size_t n = s.size();
  // A trailing incomplete sequence: a lead byte followed by fewer continuation bytes than it announces.
  size_t k = n;
  while (k > 0 && n - k < 3 && (static_cast<unsigned char>(s[k - 1]) & 0xC0) == 0x80) --k;
  if (k > 0) {
    const size_t need = utf8_seq_len(static_cast<unsigned char>(s[k - 1]));
    if (need > 1 && n - (k - 1) < need) n = k - 1;
  }
  // Trailing replacement characters: how decoders show bytes that may still become a character.
  while (n >= kReplacement.size() && s.substr(n - kReplacement.size(), kReplacement.size()) == kReplacement)
    n -= kReplacement.size();
  return n;
}

TextStreamer::TextStreamer(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
  for (const std::string& s : stops_) {
    MC_CHECK(!s.empty(), "TextStreamer: empty stop string");
    max_stop_ = std::max(max_stop_, s.size());
  }
}

std::string TextStreamer::update(const std::string& text) {
  if (stopped_) return "";
  const size_t done = released_.size();
  if (text.size() < done) return "";  // the decoder shortened the text: wait until it grows again
  if (!stops_.empty()) {
    // A stop string cannot start inside released text (its first bytes would have been held back), but
    // we look max_stop_ bytes back anyway in case the decoder rewrote the tail.
    const size_t from = done > max_stop_ ? done - max_stop_ : 0;
    size_t best = std::string::npos;
    for (const std::string& s : stops_) best = std::min(best, text.find(s, from));
    if (best != std::string::npos) {
      stopped_ = true;
      std::string piece = best > done ? text.substr(done, best - done) : "";
      released_ += piece;
      return piece;
    }
  }
  size_t end = utf8_stable_prefix(text);
  // Hold back the longest tail that is the beginning of a stop string.
  const size_t first = std::max(done, text.size() >= max_stop_ ? text.size() - max_stop_ + 1 : size_t{0});
  for (size_t p = first; p < text.size() && p < end; ++p) {
    const std::string_view tail(text.data() + p, text.size() - p);
    bool starts_stop = false;
    for (const std::string& s : stops_)
      if (s.size() > tail.size() && std::string_view(s).substr(0, tail.size()) == tail) starts_stop = true;
    if (starts_stop) {
      end = p;
      break;
    }
  }
  if (end <= done) return "";
  std::string piece = text.substr(done, end - done);
  released_ += piece;
  return piece;
}

std::string TextStreamer::finish(const std::string& text) {
  if (stopped_) return "";
  std::string piece = update(text);
  if (stopped_ || text.size() <= released_.size()) return piece;
  std::string rest = text.substr(released_.size());
  released_ += rest;
  return piece + rest;
}

std::vector<int64_t> generation_eos_ids(const std::string& model_dir, const ModelConfig& config) {
  const std::string path = (std::filesystem::path(model_dir) / "generation_config.json").string();
  if (!path_exists(path)) return config.eos_token_id;
  Json g = json_load(path, kComponent);
  if (!g.is_object() || !g.contains("eos_token_id") || g["eos_token_id"].is_null()) return config.eos_token_id;
  const Json& e = g["eos_token_id"];
  std::vector<int64_t> ids;
  auto bad = [&] { return Error(kComponent, str(path, ": eos_token_id must be an integer or a list of integers")); };
  if (e.is_number_integer()) {
    ids.push_back(e.get<int64_t>());
  } else if (e.is_array()) {
    for (const Json& x : e) {
      if (!x.is_number_integer()) throw bad();
      ids.push_back(x.get<int64_t>());
    }
  } else {
    throw bad();
  }
  return ids;
}

GenerateResult generate(const Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opt, const TextCallback& on_text) {
  const ModelConfig& cfg = model.config();
  Sampler sampler(opt.sampling);  // validates the sampling options
  if (prompt.empty()) throw Error(kComponent, "the prompt is empty: there is nothing to continue");
  if (opt.max_new_tokens < 0) throw Error(kComponent, str("max_new_tokens must be >= 0, got ", opt.max_new_tokens));
  for (const std::string& s : opt.stop_strings)
    if (s.empty()) throw Error(kComponent, "a stop string must not be empty");

  GenerateResult r;
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  const int64_t n_ctx = cfg.max_position_embeddings;
  r.prompt_tokens = n_prompt;
  if (n_ctx > 0 && n_prompt > n_ctx)
    throw Error(kComponent, str("the prompt is ", n_prompt, " tokens, longer than the model's context of ", n_ctx,
                                " tokens (max_position_embeddings); shorten the prompt"));
  int64_t budget = opt.max_new_tokens;
  if (n_ctx > 0 && n_prompt + budget > n_ctx) {
    budget = n_ctx - n_prompt;
    r.context_capped = true;
    log_warn(str("prompt (", n_prompt, " tokens) + max_new_tokens (", opt.max_new_tokens, ") exceeds the context of ",
                 n_ctx, " tokens; generating at most ", budget, " tokens"));
  }
  r.token_budget = budget;
  const StopReason at_budget = r.context_capped ? StopReason::Context : StopReason::MaxTokens;
  if (budget == 0) {
    r.stop_reason = at_budget;
    return r;
  }

  const int64_t V = cfg.vocab_size;
  const int32_t n_tok = tokenizer.vocab_size();
  ForwardOptions fo = opt.forward;
  fo.logits = LogitsMode::Last;
  fo.capture_hidden = false;
  fo.keep_acts = false;
  KvCache cache = model.make_cache(1, n_prompt + budget);
  Activations acts;
  TextStreamer streamer(opt.stop_strings);
  std::vector<int32_t> history = prompt;
  history.reserve(static_cast<size_t>(n_prompt + budget));
  std::vector<int32_t> shown;  // generated ids the tokenizer can decode (a padded vocabulary's extra ids are
                               // skipped, as the `tokenizers` decoder skips unknown ids)
  auto emit = [&](const std::string& piece) {
    if (!piece.empty() && on_text) on_text(piece);
  };

  Clock::time_point t0 = Clock::now();
  model.forward(TokenBatch::from_sequences({prompt}), acts, fo, &cache);
  r.prefill_seconds = seconds_since(t0);

  while (true) {
    const int32_t next = sampler.sample(std::span<const float>(acts.logits.data(), static_cast<size_t>(V)), history);
    r.tokens.push_back(next);
    history.push_back(next);
    if (std::find(opt.eos_ids.begin(), opt.eos_ids.end(), static_cast<int64_t>(next)) != opt.eos_ids.end()) {
      r.stop_reason = StopReason::Eos;
      break;
    }
    if (next < n_tok) shown.push_back(next);
    emit(streamer.update(tokenizer.decode(shown, opt.skip_special_tokens)));
    if (streamer.stopped()) {
      r.stop_reason = StopReason::StopString;
      break;
    }
    if (static_cast<int64_t>(r.tokens.size()) >= budget) {
      r.stop_reason = at_budget;
      break;
    }
    t0 = Clock::now();
    model.forward(TokenBatch::from_sequences({{next}}), acts, fo, &cache);
    r.decode_seconds += seconds_since(t0);
    r.decode_steps++;
  }
  if (!streamer.stopped()) emit(streamer.finish(tokenizer.decode(shown, opt.skip_special_tokens)));

  r.text = streamer.text();
  r.new_tokens = static_cast<int64_t>(r.tokens.size());
  if (r.prefill_seconds > 0) r.prefill_tokens_per_second = static_cast<double>(n_prompt) / r.prefill_seconds;
  if (r.decode_seconds > 0) r.decode_tokens_per_second = static_cast<double>(r.decode_steps) / r.decode_seconds;
  return r;
}

}  // namespace mc
