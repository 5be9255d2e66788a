#!/usr/bin/env python3
"""Golden training examples (input_ids + loss mask) for mc's dataset tokenization (src/io/dataset).

Pinned oracle: transformers==5.23.0 (jinja2==3.1.6), tokenizers==0.23.3 (see tools/requirements.txt).
Run:  /work/tools-venv/bin/python tools/gen_dataset_goldens.py        (from the repository root; ~20 s)
      MC_SHARED=/path/to/shared overrides where ../shared/assets/tokenizers is looked up.

What it writes into tests/data/datasets/ (deterministic: fixed seed, no clock):
  smollm2/tokenizer_config.json   the tokenizer_config.json `mc model import-gguf` writes for SmolLM2-135M-Instruct
                                  (chat template = tests/data/chat_templates/smollm2.jinja); with
                                  tests/data/tokenizers/smollm2/tokenizer.json it forms a model directory.
  golden_<name>.jsonl             line 1: {"meta": {name, model, tokenizer_json, chat_template, end_markers, ...}};
                                  then one training example per line:
                                  {"id", "record", "options", "input_ids", "loss_mask"} where "record" is a
                                  dataset record ({"messages"}, {"prompt","completion"} or {"text"}),
                                  "options" the tokenization options ({"prompt_completion_as_chat": true} or {}),
                                  "loss_mask" a string of '0'/'1', one per token.

Models: qwen3, llama3, mistral (../shared/assets/tokenizers/<name>, loaded with AutoTokenizer, so
transformers' own class rebuild of the tokenizer applies: LlamaTokenizer for mistral, Qwen2Tokenizer for
qwen3) and smollm2 (the directory above). Templates: the tokenizer_config.json chat_template, except
mistral, whose config has none: tests/data/chat_templates/mistral.jinja (Mistral-7B-Instruct-v0.2).

The reference, per record kind (mc's rules, src/io/dataset/tokenize.h, computed independently here):
  text               ids = tokenizer(text)["input_ids"] (add_special_tokens=True), then eos_token_id appended
                     unless already last; every token carries the loss.
  prompt/completion  ids = tokenizer(prompt + completion)["input_ids"] + eos (as for text). A token carries the
                     loss when its character offsets (offset mapping) overlap the completion's characters; tokens
                     the post-processor puts after the text and the appended eos carry it too, those it puts
                     before (BOS) do not.
  messages           ids = apply_chat_template(messages, tokenize=True)["input_ids"] (no special tokens
                     added: the template writes them). Assistant spans are located in the rendered text by
                     rendering prefixes: span i starts at len(apply_chat_template(messages[:i],
                     add_generation_prompt=True)) (which must be a prefix of the full rendering, else the
                     conversation is skipped) and ends just after the first end-of-turn marker (meta
                     end_markers) at or after that start. A token carries the loss when its character offsets
                     overlap an assistant span. Offsets come from the backend tokenizer's offset mapping
                     (ByteLevel post-processor offset trimming disabled, so whitespace tokens keep their width).
  conversational prompt/completion ({"prompt": [messages], "completion": [messages]}) and prompt/completion
                     with options.prompt_completion_as_chat (rendered as [user: prompt, assistant: completion]):
                     as messages, with only the completion's assistant messages carrying the loss.
"""
import copy
import json
import os
import random
import shutil
import sys
import tempfile

import jinja2
import tokenizers
import transformers
from transformers import AutoTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data")
OUT = os.path.join(DATA, "datasets")
SHARED = os.environ.get("MC_SHARED", os.path.join(REPO, "..", "shared"))
TOKENIZERS = os.path.join(SHARED, "assets", "tokenizers")
SEED = 20250117
VERSIONS = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "jinja2": jinja2.__version__}

assert transformers.__version__ == "5.23.0", transformers.__version__
assert tokenizers.__version__ == "0.23.3", tokenizers.__version__

# --- content pools ------------------------------------------------------------------------------------

TEXTS = [
    "Hello!", "What is the capital of France?", "The capital of France is Paris.",
    "Explain recursion in one sentence.", "Recursion is when a function calls itself on a smaller input.",
    "  leading and trailing spaces  ", "\n\nnewlines around\n\n", "tabs\there\tand there",
    "multi\nline\ncontent\n", "日本語のテキストです。", "مرحبا بالعالم", "emoji 😀👍🏽 and ZWJ 👨‍👩‍👧",
    "combining: e\u0301 a\u0308 n\u0303", "quotes ' \" and backslash \\ and {{ braces }}",
    "json-ish: {\"a\": [1, 2.5, null]}", "math: 2**10 = 1024; 7 // 2 = 3", "Ünïcödé ßtraße İstanbul ΣΑΣ",
    "a", " ", "line one\r\nline two", "Sure. Here is some code:\n```python\ndef f(x):\n    return x * 2\n```\n",
    "zero\u200bwidth\u00a0nbsp", "Can you help me plan a trip to Kyoto next spring?",
    "Yes. Visit Kiyomizu-dera early in the morning.", "Translate 'good morning' into German.", "Guten Morgen.",
    "What's 17 * 23?", "17 * 23 = 391.", "metaspace look-alike: a\u2581b \u2581\u2581", "12345 67890 3.14159",
    " starts with a space", "ends with newline\n", "Ǆemo ﬁne ①②③ ＡＢＣ",
]
# User turns may also hold special-token look-alikes (they tokenize as the special tokens; spans are unaffected).
USER_TEXTS = TEXTS + ["special look-alikes: <|im_start|> [INST] <s> <|eot_id|>"]
# Assistant replies never contain an end-of-turn marker, so span ends are meaningful.
ASSISTANT_TEXTS = [t for t in TEXTS if t.strip()]
SYSTEMS = ["You are a helpful assistant.", "You are a pirate. Answer like one.", "Réponds en français.",
           "  Be concise.\n", "系统提示：请简洁回答。"]
REASONING = ["Let me think. 17*23 = 17*20 + 17*3 = 340 + 51 = 391.", "\nThe user wants a city.\n", "Short thought."]
PROMPTS = ["Question: What is the capital of France?\nAnswer:", "Translate to German: good morning =>",
           "def add(a, b):", "The quick brown fox", "日本の首都は", "Q: 17 * 23?\nA:", "Complete: e\u0301t", "",
           "Say hi.", "List three colours:\n"]
COMPLETIONS = [" Paris.", " Guten Morgen.", "\n    return a + b\n", " jumps over the lazy dog.", "東京です。",
               " 391", "\u00e9 is \u00e9t\u00e9", "Hi!", "1. red\n2. green\n3. blue", "   spaced  ", "x", "😀"]
DOCS = ["The capital of France is Paris. It lies on the Seine.", "  indented text\nwith two lines\n",
        "日本語のテキストです。漢字とかな。", "emoji 😀👍🏽 and ZWJ 👨‍👩‍👧 in a document.", "a",
        "Numbers 1234567 and 3.14159; code `x = y ** 2`.", "combining: e\u0301 a\u0308 n\u0303 (NFC changes these)",
        " starts with a space and ends with one ", "metaspace look-alike: a\u2581b", "line one\r\nline two\n\n\nend"]


# --- conversations ------------------------------------------------------------------------------------


def turns(rng, n_pairs, end_with_user=False):
    msgs = []
    for k in range(n_pairs):
        msgs.append({"role": "user", "content": rng.choice(USER_TEXTS)})
        if k < n_pairs - 1 or not end_with_user:
            msgs.append({"role": "assistant", "content": rng.choice(ASSISTANT_TEXTS)})
    return msgs


def conversations(rng, name, n):
    out = []
    for i in range(n):
        msgs = turns(rng, rng.randint(1, 3), end_with_user=(i % 9 == 8))
        if i % 2 == 0:
            msgs.insert(0, {"role": "system", "content": rng.choice(SYSTEMS)})
        if name == "qwen3" and i % 3 == 1:  # reasoning, as reasoning_content or inline <think>
            for m in msgs:
                if m["role"] == "assistant":
                    if rng.random() < 0.5:
                        m["reasoning_content"] = rng.choice(REASONING)
                    else:
                        m["content"] = "<think>\n" + rng.choice(REASONING) + "\n</think>\n\n" + m["content"]
        out.append({"messages": msgs})
    return out


def pc_records(rng, n):
    return [{"prompt": rng.choice(PROMPTS), "completion": rng.choice(COMPLETIONS)} for _ in range(n)]


# --- reference ----------------------------------------------------------------------------------------


def byte_offsets(text):
    """Character index -> byte offset table (len(text) + 1 entries)."""
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode("utf-8")))
    return out


class Reference:
    def __init__(self, name, model_dir, template, markers):
        self.name = name
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.template = template
        self.markers = markers
        # A backend copy for offsets only: a ByteLevel post-processor with trim_offsets would shrink
        # whitespace tokens to zero width.
        self.backend = copy.deepcopy(self.tok.backend_tokenizer)
        pp = json.loads(self.backend.to_str()).get("post_processor")
        if pp and pp.get("type") == "ByteLevel" and pp.get("trim_offsets"):
            self.backend.post_processor = tokenizers.processors.ByteLevel(trim_offsets=False)

    def encode_with_offsets(self, text, add_special_tokens):
        """ids (checked against transformers' own call) and byte offsets of each token."""
        ids = self.tok(text, add_special_tokens=add_special_tokens)["input_ids"]
        enc = self.backend.encode(text, add_special_tokens=add_special_tokens)
        assert enc.ids == ids, (self.name, text)
        b = byte_offsets(text)
        return ids, [(b[s], b[e]) for (s, e) in enc.offsets]

    def apply(self, messages, add_generation_prompt=False, tokenize=False):
        return self.tok.apply_chat_template(messages, chat_template=self.template, tokenize=tokenize,
                                            return_dict=tokenize, add_generation_prompt=add_generation_prompt)

    def spans(self, messages, full, first_trained):
        """Byte spans of the assistant turns (prefix rendering); None when undefined."""
        b = byte_offsets(full)
        out = []
        for i, m in enumerate(messages):
            if m["role"] != "assistant" or i < first_trained:
                continue
            if i == 0:
                return None
            prompt = self.apply(messages[:i], add_generation_prompt=True)
            if not full.startswith(prompt):
                return None
            start = len(prompt)
            hits = [(full.find(mk, start), mk) for mk in self.markers]
            hits = [(p, p + len(mk)) for p, mk in hits if p >= 0]
            if not hits:
                return None
            end = min(hits, key=lambda h: (h[0], -h[1]))[1]
            out.append((b[start], b[end]))
        return out

    def chat_example(self, messages, first_trained=0):
        full = self.apply(messages)
        ids = self.apply(messages, tokenize=True)["input_ids"]
        ids2, offs = self.encode_with_offsets(full, add_special_tokens=False)
        assert ids == ids2, (self.name, full)
        spans = self.spans(messages, full, first_trained)
        if spans is None:
            return None
        mask = [int(any(s < se and e > sb for (sb, se) in spans)) for (s, e) in offs]
        return ids, mask

    def append_eos(self, ids, mask):
        eos = self.tok.eos_token_id
        if eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)
            mask.append(1)
        return ids, mask

    def text_example(self, text):
        ids = list(self.tok(text)["input_ids"])
        return self.append_eos(ids, [1] * len(ids))

    def pc_example(self, prompt, completion):
        text = prompt + completion
        ids, offs = self.encode_with_offsets(text, add_special_tokens=True)
        content = self.tok(text, add_special_tokens=False)["input_ids"]
        # Where the text's own tokens sit among the post-processed ones.
        k = next(k for k in range(len(ids) - len(content) + 1) if ids[k:k + len(content)] == content)
        cb, ce = len(prompt.encode("utf-8")), len(text.encode("utf-8"))
        mask = []
        for i, (s, e) in enumerate(offs):
            if i < k:
                mask.append(0)
            elif i >= k + len(content):
                mask.append(1)
            else:
                mask.append(int(s < ce and e > cb))
        return self.append_eos(list(ids), mask)


def write_golden(ref, meta, rng):
    rows = []
    skipped = 0

    def add(record, result, options=None):
        nonlocal skipped
        if result is None:
            skipped += 1
            return
        ids, mask = result
        assert len(ids) == len(mask)
        rows.append({"id": "%s-%03d" % (ref.name, len(rows)), "record": record, "options": options or {},
                     "input_ids": ids, "loss_mask": "".join(str(x) for x in mask)})

    for conv in conversations(rng, ref.name, 30):
        add(conv, ref.chat_example(conv["messages"]))
    for rec in pc_records(rng, 12):
        add(rec, ref.pc_example(rec["prompt"], rec["completion"]))
    for rec in pc_records(rng, 4):  # prompt/completion rendered as a user/assistant conversation
        msgs = [{"role": "user", "content": rec["prompt"]}, {"role": "assistant", "content": rec["completion"]}]
        add(rec, ref.chat_example(msgs, first_trained=1), {"prompt_completion_as_chat": True})
    for i in range(4):  # conversational prompt/completion: loss on the completion's assistant turns only
        msgs = turns(rng, 2)
        if i % 2 == 0:
            msgs.insert(0, {"role": "system", "content": rng.choice(SYSTEMS)})
        rec = {"prompt": msgs[:-1], "completion": msgs[-1:]}
        add(rec, ref.chat_example(msgs, first_trained=len(msgs) - 1))
    for doc in DOCS:
        add({"text": doc}, ref.text_example(doc))

    path = os.path.join(OUT, "golden_%s.jsonl" % ref.name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"meta": {**meta, "count": len(rows), **VERSIONS}}, ensure_ascii=False) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_chat = sum(1 for r in rows if "messages" in r["record"])
    print("%-8s %3d examples (%d chat), %d skipped (no prefix-stable rendering)" % (ref.name, len(rows), n_chat,
                                                                                     skipped))


def smollm2_config():
    template = open(os.path.join(DATA, "chat_templates", "smollm2.jinja"), encoding="utf-8").read()
    # As src/io/tokenizer/gguf_tokenizer.cpp writes it for the SmolLM2 GGUF (token strings from its metadata).
    return {"add_bos_token": False, "add_eos_token": False, "add_prefix_space": False,
            "bos_token": "<|im_start|>", "chat_template": template, "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>", "model_max_length": 8192, "pad_token": "<|im_end|>",
            "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<|endoftext|>"}


def main():
    os.makedirs(os.path.join(OUT, "smollm2"), exist_ok=True)
    with open(os.path.join(OUT, "smollm2", "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(smollm2_config(), f, ensure_ascii=False, indent=2)
        f.write("\n")
    tmp = tempfile.mkdtemp()
    try:
        smol_dir = os.path.join(tmp, "smollm2")
        os.makedirs(smol_dir)
        shutil.copy(os.path.join(DATA, "tokenizers", "smollm2", "tokenizer.json"), smol_dir)
        shutil.copy(os.path.join(OUT, "smollm2", "tokenizer_config.json"), smol_dir)
        mistral_template = open(os.path.join(DATA, "chat_templates", "mistral.jinja"), encoding="utf-8").read()
        models = [
            # name, model dir, chat template (None: the config's), end markers, meta
            ("qwen3", os.path.join(TOKENIZERS, "qwen3"), None, ["<|im_end|>"],
             {"model": "shared:qwen3", "chat_template": None}),
            ("llama3", os.path.join(TOKENIZERS, "llama3"), None, ["<|eot_id|>"],
             {"model": "shared:llama3", "chat_template": None}),
            ("mistral", os.path.join(TOKENIZERS, "mistral"), mistral_template, ["</s>"],
             {"model": "shared:mistral", "chat_template": "chat_templates/mistral.jinja"}),
            ("smollm2", smol_dir, None, ["<|im_end|>"],
             {"model": "datasets/smollm2", "tokenizer_json": "tokenizers/smollm2/tokenizer.json",
              "chat_template": None}),
        ]
        for name, model_dir, template, markers, meta in models:
            rng = random.Random("%d-%s" % (SEED, name))
            ref = Reference(name, model_dir, template, markers)
            write_golden(ref, {"name": name, **meta, "end_markers": markers, "append_eos": True}, rng)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
