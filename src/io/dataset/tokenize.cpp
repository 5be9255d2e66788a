// Records -> (input_ids, loss_mask), length policies and packing (see tokenize.h).
#include "io/dataset/tokenize.h"

#include <algorithm>

#include "core/error.h"

namespace mc {

namespace {

constexpr const char* kComponent = "dataset";

using Spans = std::vector<std::pair<size_t, size_t>>;

bool overlaps(const TokenSpan& t, const Spans& spans) {
  for (const auto& [b, e] : spans)
    if (t.begin < e && t.end > b) return true;
  return false;
}

// Re-throws an error from a component below (chat template, tokenizer) with the record's location.
[[noreturn]] void rethrow_at(const Error& e, const std::string& where) {
  std::string msg = e.what();
  const std::string prefix = "[" + e.component() + "] ";
  if (msg.rfind(prefix, 0) == 0) msg = msg.substr(prefix.size());
  throw Error(e.component(), where + ": " + msg, e.code());
}

void append_eos(const ModelTokenizerBundle& b, const TokenizeOptions& o, TokenizedView& v) {
  auto& ids = v.example.input_ids;
  if (!o.append_eos || !b.eos_id() || (!ids.empty() && ids.back() == *b.eos_id())) return;
  ids.push_back(*b.eos_id());
  v.example.loss_mask.push_back(1);
  v.offsets.push_back({v.text.size(), v.text.size()});
}

// Encodes `text` with the post-processor's special tokens and finds each token's bytes: the text's
// own tokens are located inside the post-processed ids (prefix = bos etc., suffix = eos etc.).
// Returns the index of the first own token and their count.
std::pair<size_t, size_t> encode_located(const ModelTokenizerBundle& b, TokenizedView& v, bool want_offsets) {
  const Tokenizer& tok = b.tokenizer();
  std::vector<int32_t> full = tok.encode(v.text, true);
  std::vector<int32_t> own = tok.encode(v.text, false);
  size_t k = 0;
  bool found = false;
  for (; k + own.size() <= full.size(); k++)
    if (std::equal(own.begin(), own.end(), full.begin() + static_cast<std::ptrdiff_t>(k))) {
      found = true;
      break;
    }
  if (!found)
    throw Error(kComponent, str(v.example.where, ": the post-processor changed the text's tokens (cannot locate them)"),
                ExitCode::Internal);
  v.example.input_ids = std::move(full);
  if (want_offsets) {
    std::vector<TokenSpan> own_off = token_offsets(b, v.text, own, v.example.where);
    v.offsets.assign(v.example.input_ids.size(), TokenSpan{0, 0});
    for (size_t i = 0; i < own.size(); i++) v.offsets[k + i] = own_off[i];
    for (size_t i = k + own.size(); i < v.offsets.size(); i++) v.offsets[i] = {v.text.size(), v.text.size()};
  }
  return {k, own.size()};
}

void text_view(const ModelTokenizerBundle& b, const std::string& text, const TokenizeOptions& o, bool want_offsets,
               TokenizedView& v) {
  v.text = text;
  bool have_offsets = false;
  if (want_offsets) {
    try {
      encode_located(b, v, true);
      have_offsets = true;
    } catch (const Error&) {
      // Offsets are only for display here; a text record trains on every token anyway.
    }
  }
  if (!have_offsets) {
    v.example.input_ids = b.tokenizer().encode(v.text, true);
    v.offsets.assign(v.example.input_ids.size(), TokenSpan{});
  }
  v.example.loss_mask.assign(v.example.input_ids.size(), 1);
  v.trained = {{0, v.text.size()}};
  append_eos(b, o, v);
  if (!have_offsets) v.offsets.clear();
}

void prompt_completion_view(const ModelTokenizerBundle& b, const std::string& prompt, const std::string& completion,
                            const TokenizeOptions& o, TokenizedView& v) {
  v.text = prompt + completion;
  auto [k, n] = encode_located(b, v, true);
  v.trained = {{prompt.size(), v.text.size()}};
  v.example.loss_mask.resize(v.example.input_ids.size());
  for (size_t i = 0; i < v.example.input_ids.size(); i++)
    v.example.loss_mask[i] = i < k ? 0 : i >= k + n ? 1 : overlaps(v.offsets[i], v.trained) ? 1 : 0;
  append_eos(b, o, v);
}

void chat_view(const ModelTokenizerBundle& b, const OrderedJson& messages, const OrderedJson& tools, size_t first_trained,
               const TokenizeOptions& o, TokenizedView& v) {
  const std::string& where = v.example.where;
  const ChatTemplate* t = b.chat_template(tools.is_array() && !tools.empty());
  if (!t)
    throw Error(kComponent, str(where, ": the model has no chat template for a chat record (give one with --chat-template FILE)"));
  ChatInputs in;
  in.messages = messages;
  in.tools = tools;
  in.special_tokens = b.special_tokens();
  in.kwargs = o.template_kwargs;
  SpanOptions so;
  so.end_markers = b.end_markers();
  ChatTemplate::Rendered r;
  try {
    r = t->render_with_spans(chat_template_context(in), so);
  } catch (const Error& e) {
    rethrow_at(e, where);
  }
  v.text = std::move(r.text);
  for (const ChatSpan& s : r.assistant) {
    bool in_range = s.message_index == ChatSpan::kNoMessage ? first_trained == 0 : s.message_index >= first_trained;
    if (in_range && s.end > s.begin) v.trained.emplace_back(s.begin, s.end);
  }
  v.example.input_ids = b.tokenizer().encode(v.text, false);
  v.offsets = token_offsets(b, v.text, v.example.input_ids, where);
  v.example.loss_mask.resize(v.example.input_ids.size());
  for (size_t i = 0; i < v.offsets.size(); i++) v.example.loss_mask[i] = overlaps(v.offsets[i], v.trained) ? 1 : 0;
}

TokenizedView tokenize_impl(const ModelTokenizerBundle& b, const Record& r, const TokenizeOptions& o, bool want_offsets) {
  TokenizedView v;
  v.example.where = r.where;
  try {
    switch (r.kind) {
      case RecordKind::Text: text_view(b, r.text, o, want_offsets, v); break;
      case RecordKind::Messages: chat_view(b, r.messages, r.tools, 0, o, v); break;
      case RecordKind::PromptCompletion:
        if (r.conversational()) {
          OrderedJson msgs = r.prompt;
          for (const OrderedJson& m : r.completion) msgs.push_back(m);
          chat_view(b, msgs, r.tools, r.prompt.size(), o, v);
        } else if (o.prompt_completion_as_chat) {
          OrderedJson msgs = OrderedJson::array();
          msgs.push_back({{"role", "user"}, {"content", r.prompt}});
          msgs.push_back({{"role", "assistant"}, {"content", r.completion}});
          chat_view(b, msgs, OrderedJson(), 1, o, v);
        } else {
          prompt_completion_view(b, r.prompt.get<std::string>(), r.completion.get<std::string>(), o, v);
        }
        break;
    }
  } catch (const Error& e) {
    if (std::string(e.what()).find(r.where) != std::string::npos || r.where.empty()) throw;
    rethrow_at(e, r.where);
  }
  return v;
}

}  // namespace

size_t TokenizedExample::loss_tokens() const {
  size_t n = 0;
  for (size_t t = 1; t < loss_mask.size(); t++) n += loss_mask[t] ? 1 : 0;
  return n;
}

TokenizedView tokenize_record_view(const ModelTokenizerBundle& bundle, const Record& record, const TokenizeOptions& options) {
  return tokenize_impl(bundle, record, options, true);
}

TokenizedExample tokenize_record(const ModelTokenizerBundle& bundle, const Record& record, const TokenizeOptions& options) {
  return tokenize_impl(bundle, record, options, false).example;
}

std::optional<std::string> fit_to_length(TokenizedExample& ex, const SequencePolicy& policy) {
  if (ex.loss_tokens() == 0) return std::string("no token carries the loss");
  const size_t n = ex.input_ids.size();
  if (policy.max_tokens <= 0 || n <= static_cast<size_t>(policy.max_tokens)) return std::nullopt;
  if (policy.truncation == Truncation::Drop)
    return str(n, " tokens, longer than the sequence length ", policy.max_tokens);
  ex.input_ids.resize(static_cast<size_t>(policy.max_tokens));
  ex.loss_mask.resize(static_cast<size_t>(policy.max_tokens));
  if (ex.loss_tokens() == 0) return str("no loss token within the first ", policy.max_tokens, " of ", n, " tokens");
  return std::nullopt;
}

std::vector<PackedSequence> pack_examples(std::span<const TokenizedExample> examples, int64_t seq_len) {
  if (seq_len <= 0) throw Error(kComponent, str("packing needs a positive sequence length, got ", seq_len));
  const auto cap = static_cast<size_t>(seq_len);
  std::vector<PackedSequence> out;
  for (size_t i = 0; i < examples.size(); i++) {
    const TokenizedExample& ex = examples[i];
    MC_CHECK(ex.input_ids.size() == ex.loss_mask.size(), "example ", i, ": ids and mask differ in length");
    if (ex.input_ids.empty()) continue;
    if (ex.input_ids.size() > cap)
      throw Error(kComponent, str(ex.where, ": ", ex.input_ids.size(), " tokens do not fit the packed sequence length ",
                                  seq_len, " (apply the truncation policy first)"));
    if (out.empty() || out.back().input_ids.size() + ex.input_ids.size() > cap) out.emplace_back();
    PackedSequence& p = out.back();
    size_t start = p.input_ids.size();
    p.example_starts.push_back(start);
    p.examples.push_back(i);
    p.input_ids.insert(p.input_ids.end(), ex.input_ids.begin(), ex.input_ids.end());
    p.loss_mask.insert(p.loss_mask.end(), ex.loss_mask.begin(), ex.loss_mask.end());
    p.loss_mask[start] = 0;
    for (size_t t = 0; t < ex.input_ids.size(); t++) p.position_ids.push_back(static_cast<int32_t>(t));
  }
  return out;
}

LengthStats length_stats(std::vector<size_t> v) {
  LengthStats s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  for (size_t x : v) s.total += x;
  const size_t n = v.size();
  s.min = static_cast<double>(v.front());
  s.max = static_cast<double>(v.back());
  s.mean = static_cast<double>(s.total) / static_cast<double>(n);
  s.median = n % 2 ? static_cast<double>(v[n / 2]) : 0.5 * (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2]));
  // Nearest rank: ceil(0.95 n), computed in integers (0.95 = 19/20) so no rounding can move it.
  size_t rank = (19 * n + 19) / 20;
  s.p95 = static_cast<double>(v[std::clamp<size_t>(rank, 1, n) - 1]);
  return s;
}

}  // namespace mc
