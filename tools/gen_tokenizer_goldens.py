#!/usr/bin/env python3
"""Golden encode/decode records for mc's tokenizer.json implementation (src/io/tokenizer).

Oracle: Hugging Face `tokenizers` 0.23.3 (PyPI), plus `transformers` 5.23.0 to derive SmolLM2's
tokenizer.json from the GGUF (its original tokenizer.json is not available offline).

Writes tests/data/tokenizers/:
  smollm2/tokenizer.json          SmolLM2-135M-Instruct's tokenizer as transformers derives it from
                                  models/SmolLM2-135M-Instruct.Q4_1.gguf (backend_tokenizer.save)
  synth_*.json                    small tokenizers trained here with tokenizers' BpeTrainer, each
                                  wiring a different set of normalizers / pre-tokenizers / added-token
                                  options / post-processors / decoders
  overlays.json                   tokenizers defined as "a base tokenizer.json with these top-level
                                  keys replaced" (e.g. Mistral's model with a Metaspace pre-tokenizer)
  golden_<name>.jsonl             line 1: meta; then one record per string:
      "t": text  (or "b": hex bytes of invalid UTF-8; HF gets bytes.decode("utf-8", "replace"))
      "e": ids of encode(text, add_special_tokens=False)
      "s": ids of encode(text, add_special_tokens=True)     (absent: prefix_ids + e + suffix_ids, the
                                                             meta's template ids, found by HF on "a")
      "d": decode(s, skip_special_tokens=False)             (absent: equal to the text)
      "k": decode(s, skip_special_tokens=True)              (absent: equal to the text)

Run:  /work/tools-venv/bin/python tools/gen_tokenizer_goldens.py [--regen-smollm2]   (~30 s)
      (from any directory; the SmolLM2 tokenizer.json is only rebuilt with --regen-smollm2)
Pinned: tokenizers==0.23.3 transformers==5.23.0. Output is deterministic (fixed seeds and alphabets),
except synth_plain.json: with a continuing_subword_prefix, BpeTrainer breaks merge-count ties in hash
order, so its merges vary between runs; its golden is always made from the file written in the same run.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer, Regex, models, normalizers, pre_tokenizers, decoders, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "assets", "tokenizers"))
OUT = os.path.join(ROOT, "tests", "data", "tokenizers")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
SEED = 20240611
N_REAL = 2000   # strings per real tokenizer
N_SYNTH = 400   # strings per synthetic tokenizer

assert tokenizers.__version__ == "0.23.3", f"tokenizers {tokenizers.__version__}, expected 0.23.3"

# ----------------------------------------------------------------------------------------------------
# Test strings

WORDS = ("the of and to in is was for on that with as by at from his her they we you it this be are "
         "not but have had were which one all their there been has when who will more no if out so said "
         "what up its about into than them can only other new some could time these two may first then "
         "do any like my now over such our man me even most made after also did many before must through "
         "Hello World Python Tokenizer LoRA geometry HuggingFace Qwen Llama Mistral SmolLM "
         "naïve café résumé coöperate Straße façade jalapeño Ångström über Zürich").split()
CONTRACTIONS = ["I'M", "we'Ll", "DON'T", "they'VE", "it'S", "she'D", "You'RE", "I'm", "we'll", "don't",
                "they've", "it's", "he'd", "you're", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S",
                "it’s", "don’t", "O'Neil", "rock'n'roll", "'''", "y'all'd've", "'ſ", "I'M'S"]
CJK = ["你好，世界！", "我爱自然语言处理。", "東京は日本の首都です。", "カタカナとひらがな", "한국어 텍스트입니다",
       "中文，标点符号；测试：“引号”", "汉字漢字", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３", "日本語の文章、句読点。",
       "龍龘𠀀𪚥", "機械学習モデル"]
SCRIPTS = ["مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "١٢٣٤٥ ٦٧٨٩٠", "שלום עולם", "नमस्ते दुनिया", "हिन्दी में पाठ",
           "क्षत्रिय ज्ञान", "สวัสดีครับ", "Привет, мир!", "Ελληνικά κείμενα", "Ђурђевдан", "ქართული",
           "Հայերեն", "தமிழ் எழுத்து", "বাংলা লিপি", "ພາສາລາວ", "ᚠᛇᚻ᛫ᛒᛦᚦ", "ⴰⵣⵓⵍ", "𐌰𐌱𐌲"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇩🇪", "1️⃣", "❤️", "🧑🏿‍🚀", "🤖", "🎉🎉🎉", "☕", "✔️",
         "👩‍❤️‍💋‍👨", "🐈‍⬛", "🫠", "©®™", "⌚⏰", "🀄", "🂡"]
COMBINING = ["e\u0301", "a\u0308\u0304", "n\u0303", "Z\u0351\u0352\u0353\u0354", "o\u0328\u0301",
             "\u0301alone", "Å", "Å", "ﬁﬂ", "Ⅻ", "x²³", "½", "ǅ", "ﬃ", "Ω", "K", "İstanbul", "ß ẞ",
             "ΣΑΣ", "ŉ", "ǰ", "ᾳ", "e\u0301\u0301\u0301", "\u1100\u1161\u11a8", "각", "ｱｲｳ", "㍿", "㎞"]
WHITESPACE = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", "\r\n\r\n", " \n ", "\u00a0",
              "\u3000", "\u2009", "\u200b", "\x85", "\u2028", "\u202f", "\x0b", "\x0c", " \t \n", "\u1680",
              "\u180e", "\ufeff"]
PUNCT = list(".,;:!?-—–()[]{}<>\"'`~@#$%^&*_+=|\\/") + ["...", "!!", "?!", "--", "->", "=>", "::", "&&",
                                                          "||", "/*", "*/", "//", "<=", ">=", "**"]
CODE = ["def f(x):\n    return x * 2\n", "int main() {\n\treturn 0;\n}\n", "for (int i = 0; i < n; ++i) { s += a[i]; }",
        "if x == None:\n        pass", "console.log(`${a}+${b}`);", "#include <vector>\n", "SELECT * FROM t WHERE id=42;",
        "    x = [1, 2, 3]  # comment", "fn main() -> Result<(), Box<dyn Error>> {", "<div class=\"a\">hi</div>",
        "{\"key\": [1, 2.5e-3, null, true]}", "$ ls -la /usr/bin | grep py", "a_b_c = a__b + __init__",
        "0x1F 0b1010 1e10 3.14f", "        \n    \n", "λx.x", "\\begin{equation} E = mc^2 \\end{equation}"]
NUMBERS = ["0", "7", "42", "123", "1234", "12345", "123456", "1234567", "12345678901234567890", "3.14159",
           "1,000,000", "-273.15", "2024-06-11", "10:30:59", "+1 (555) 123-4567", "1e-9", "007", "９８７",
           "①②③", "Ⅳ", "٣", "१२३", "๑๒๓", "0.000001", "99%", "$1,234.56", "v1.2.3"]
URLS = ["https://huggingface.co/docs/tokenizers", "user@example.com", "C:\\Windows\\System32",
        "/usr/local/lib/python3.11/site-packages", "www.example.org/path?q=1&r=2#frag"]


def special_fragments(specials):
    look = ["<|im_start", "<|im_end|", "< s>", "</s", "<s", "s>", "<|endoftext|", "|>", "<|", "<<s>>",
            "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<|begin_of_text|>",
            "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "[INST]", "[/INST]", "<think>",
            "</think>", "<tool_call>", "<|reserved_special_token_5|>", "<repo_name>", "<0x0A>", "<0x41>",
            "▁", "▁▁", "Ġ", "Ċ", "ĠĠ"]
    return look + list(specials)


def rand_word(rng):
    w = rng.choice(WORDS)
    r = rng.random()
    if r < 0.15:
        w = w.upper()
    elif r < 0.3:
        w = w.capitalize()
    return w


def fragment(rng, specials):
    k = rng.random()
    if k < 0.30:
        return " ".join(rand_word(rng) for _ in range(rng.randint(1, 6)))
    if k < 0.38:
        return rng.choice(WHITESPACE) * rng.randint(1, 3)
    if k < 0.44:
        return rng.choice(NUMBERS)
    if k < 0.50:
        return rng.choice(CONTRACTIONS)
    if k < 0.56:
        return rng.choice(PUNCT)
    if k < 0.62:
        return rng.choice(CODE)
    if k < 0.68:
        return rng.choice(CJK)
    if k < 0.73:
        return rng.choice(SCRIPTS)
    if k < 0.78:
        return rng.choice(EMOJI)
    if k < 0.83:
        return rng.choice(COMBINING)
    if k < 0.91:
        return rng.choice(special_fragments(specials))
    if k < 0.94:
        return rng.choice(URLS)
    if k < 0.97:  # random code points from assigned, stable blocks
        blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
                  (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F600, 0x1F64F),
                  (0x2000, 0x206F), (0x2190, 0x21FF), (0x2500, 0x257F), (0xFF00, 0xFF5E)]
        out = []
        for _ in range(rng.randint(1, 8)):
            a, b = rng.choice(blocks)
            c = rng.randint(a, b)
            if 0x2060 <= c <= 0x206F or c in (0x2065,):
                c = 0x2022
            out.append(chr(c))
        return "".join(out)
    return rng.choice(["", " ", "\n", "a", "A", "0", "'", "\t", "  \n"])


def invalid_bytes(rng):
    """Byte strings with ill-formed UTF-8 inside valid text."""
    bad = [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe2\x82", b"\xe2\x82\xe2\x82\xac", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf4\x90\x80\x80", b"\xf0\x9f\x98", b"\x80", b"\xbf\xbf", b"\xc3", b"\xf8\x88\x80\x80\x80",
           b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xc2\x41", b"\xe1\x80\x41", b"\xf5\x80", b"\xef\xbf\xbd"]
    parts = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.5:
            parts.append(rng.choice(bad))
        else:
            parts.append(" ".join(rand_word(rng) for _ in range(rng.randint(0, 3))).encode())
        if rng.random() < 0.3:
            parts.append(bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 4))))
    b = b"".join(parts)
    try:
        b.decode("utf-8")
        b += b"\xff"
    except UnicodeDecodeError:
        pass
    return b


FIXED = ["", " ", "  ", "\n", "\t", "\r\n", "a", "A", "0", "Hello world", " Hello world", "Hello  world",
         "Hello world ", "  leading", "trailing  ", "\n\nnewlines\n\n", "tab\tseparated\tvalues",
         "windows\r\nline\r\nendings\r\n", "mixed \t\n \r\n whitespace   runs", "I'M we'Ll DON'T they'VE",
         "12345678901234567890", "1234 12345 123456", "3.14159265358979", "Ω≈ç√∫˜µ≤≥÷", "naïve café",
         "e\u0301 vs \u00e9", "ﬁnancial ﬂow", "ＡＢＣ１２３", "你好世界", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "مرحبا", "नमस्ते",
         "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|eot_id|>",
         "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", "<s>[INST] hi [/INST]",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "x<s>y", "x <s> y",
         "<s><s></s>", "< s>", "<|im_start", "im_start|>", "\u0085", "a\u0085b", "a\u00a0b", "a\u3000b",
         "a\u200bb", "\ufeffBOM", "    def f():\n        return 1\n", "x" * 300, " " * 40, "\n" * 20,
         "ab" * 200, "9" * 100, "😀" * 30, "a\u0301" * 20, "İstanbul İİ", "ΣΑΣ σας", "'s'S'ſ", "▁▁▁", "ĠĠĠ",
         "<0x0A>", "Ċ", "\x00", "a\x00b", "\x01\x02\x1f\x7f", "\U0010FFFF", "\ue000", "\uffff", "\ufffd"]


def make_strings(n, specials, seed):
    rng = random.Random(seed)
    out = [("t", s) for s in FIXED]
    out += [("t", s) for s in special_fragments([])]
    out += [("t", s) for s in rng.sample(list(specials), min(150, len(specials)))]
    n_invalid = max(40, n // 25)
    while len(out) < n - n_invalid:
        k = rng.random()
        if k < 0.1:  # long mixed paragraph
            parts = [fragment(rng, specials) for _ in range(rng.randint(15, 60))]
        else:
            parts = [fragment(rng, specials) for _ in range(rng.randint(1, 8))]
        sep = rng.choice(["", " ", " ", " ", "\n"])
        out.append(("t", sep.join(parts)))
    for _ in range(n_invalid):
        out.append(("b", invalid_bytes(rng)))
    return out[:n]


# ----------------------------------------------------------------------------------------------------
# Synthetic tokenizers

def corpus(seed):
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        lines.append(" ".join(fragment(rng, []) for _ in range(rng.randint(1, 10))))
    return lines


# A fixed initial alphabet (limit_alphabet = its size keeps exactly it): rarer characters take the
# unk / byte-fallback paths, and training is deterministic (a limit alone breaks count ties at random).
ALPHABET = [chr(c) for c in range(0x21, 0x7F)] + list("▁éèüöäßçñÅ你好世界日本")


def added(content, special, **kw):
    d = dict(content=content, special=special)
    d.update(kw)
    return tokenizers.AddedToken(**d)


def synth_bytelevel(lines):
    """Byte-level BPE with many components: NFKC+Lowercase+Replace normalizers, Split (all behaviours),
    Digits, ByteLevel with prefix space, added tokens with every option, bos/eos template."""
    tok = Tokenizer(models.BPE(ignore_merges=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\d{5,}"), "#"),
                                           normalizers.Replace("``", "\""), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[.!?]+"), "merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[(\[{]"), "merged_with_next"),
        pre_tokenizers.Split(Regex(r"-+"), "removed"),
        pre_tokenizers.Split(Regex(r"[a-z]+"), "contiguous", invert=True),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=900, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<bos>", "<eos>", "<pad>"])
    tok.train_from_iterator(lines, trainer)
    tok.add_special_tokens([added("<mask>", True, lstrip=True, rstrip=True),
                            added("[SEP]", True, single_word=True)])
    tok.add_tokens([added("hello world", False, normalized=True), added("Tok", False, normalized=True),
                    added("xyz", False, normalized=False, single_word=True), added("<<", False, rstrip=True),
                    added(">>", False, lstrip=True), added("éé", False, normalized=True)])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", pair="<bos> $A <eos> $B:1 <eos>:1",
        special_tokens=[("<bos>", tok.token_to_id("<bos>")), ("<eos>", tok.token_to_id("<eos>"))])
    return tok


def synth_spbpe(lines, byte_fallback):
    """SentencePiece-style BPE: Metaspace (always, split), a limited alphabet so rare characters take
    byte_fallback (or the fused unk), decoders Replace/ByteFallback/Fuse/Strip."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=not byte_fallback, byte_fallback=byte_fallback))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Strip(left=False, right=True)]) \
        if byte_fallback else normalizers.NFD()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    specials = ["<unk>", "<s>", "</s>"]
    if byte_fallback:
        specials += [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=1200 if byte_fallback else 700, show_progress=False,
                                  initial_alphabet=ALPHABET, limit_alphabet=len(ALPHABET),
                                  special_tokens=specials)
    tok.train_from_iterator(lines, trainer)
    if byte_fallback:
        # the byte tokens are ordinary vocabulary entries in real SentencePiece models
        j = json.loads(tok.to_str())
        j["added_tokens"] = [a for a in j["added_tokens"] if not a["content"].startswith("<0x")]
        tok = Tokenizer.from_str(json.dumps(j))
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    else:
        # (no Strip(stop > 0) here: tokenizers 0.23.3 panics on an empty token there)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def synth_plain(lines):
    """No normalizer and no pre-tokenizer beyond WhitespaceSplit; continuing_subword_prefix and
    end_of_word_suffix; BPEDecoder; Roberta-style post-processor; a non-special added token in the vocab."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                           normalizers.Prepend("^")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Digits(individual_digits=False)])
    trainer = trainers.BpeTrainer(vocab_size=800, show_progress=False, initial_alphabet=ALPHABET,
                                  limit_alphabet=len(ALPHABET),
                                  special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                  continuing_subword_prefix="##", end_of_word_suffix="</w>")
    tok.train_from_iterator(lines, trainer)
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    tok.post_processor = processors.RobertaProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                      ("[CLS]", tok.token_to_id("[CLS]")))
    tok.add_tokens([added("the", False, normalized=True), added("New Token", False, normalized=False)])
    return tok


def overlays():
    """Tokenizers described as a base file plus replaced top-level keys."""
    meta_first = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    return {
        # Llama-2 / Mistral as transformers (legacy=False) and GGUF conversions write them.
        "mistral_metaspace": {
            "base": "shared:mistral/tokenizer.json",
            "replace": {"normalizer": None, "pre_tokenizer": meta_first,
                        "decoder": {"type": "Sequence", "decoders": [
                            {"type": "ByteFallback"},
                            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}]}},
        },
        # Qwen3's model with the Llama-3 regex and a plain post-processor; merges as "a b" strings.
        "qwen3_split_llama3": {
            "base": "shared:qwen3/tokenizer.json",
            "replace": {"normalizer": {"type": "NFKC"},
                        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                             "behavior": "Isolated", "invert": False},
                            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
                        "post_processor": {"type": "Sequence", "processors": [
                            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
                            {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                                        {"Sequence": {"id": "A", "type_id": 0}},
                                        {"SpecialToken": {"id": "<|im_end|>", "type_id": 0}}],
                             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                             "special_tokens": {"<|im_start|>": {"id": "<|im_start|>", "ids": [151644], "tokens": ["<|im_start|>"]},
                                                "<|im_end|>": {"id": "<|im_end|>", "ids": [151645], "tokens": ["<|im_end|>"]}}}]}},
        },
    }


def resolve(path):
    if path.startswith("shared:"):
        return os.path.join(SHARED, path[len("shared:"):])
    return os.path.join(OUT, path)


def load_overlay(spec):
    with open(resolve(spec["base"]), encoding="utf-8") as f:
        j = json.load(f)
    j.update(spec["replace"])
    return Tokenizer.from_str(json.dumps(j))


# ----------------------------------------------------------------------------------------------------
# Goldens

def template_ids(tok):
    """Ids the post-processor puts before and after a sequence (HF on the probe string "a")."""
    e = tok.encode("a", add_special_tokens=False).ids
    s = tok.encode("a", add_special_tokens=True).ids
    for i in range(len(s) - len(e) + 1):
        if s[i:i + len(e)] == e:
            return s[:i], s[i + len(e):]
    raise SystemExit("cannot find the sequence inside the templated ids")


def write_golden(name, tok, source, n, seed):
    added_tokens = tok.get_added_tokens_decoder().values()
    specials = [a.content for a in added_tokens if a.special]
    contents = [a.content for a in added_tokens]
    # added tokens in contexts that exercise lstrip / rstrip / single_word / normalized
    contents += [w for c in contents if not c.startswith("<0x")
                 for w in (f" {c} ", f"\t{c}\n", f"a{c}b", f"{c}{c}", c.upper(), f"x {c}", f"{c}!", f"  {c}")]
    strings = make_strings(n, contents, seed)
    prefix, suffix = template_ids(tok)
    post = json.loads(tok.to_str()).get("post_processor")
    meta = {"tokenizer": name, "source": source, "hf_tokenizers": tokenizers.__version__, "count": len(strings),
            "vocab_size": tok.get_vocab_size(True), "model_vocab_size": tok.get_vocab_size(False),
            "specials": specials, "has_post_processor": post is not None, "prefix_ids": prefix,
            "suffix_ids": suffix}
    lines = [json.dumps(meta, ensure_ascii=False)]
    for kind, s in strings:
        rec = {}
        if kind == "b":
            rec["b"] = s.hex()
            text = s.decode("utf-8", "replace")
        else:
            rec["t"] = s
            text = s
        e = tok.encode(text, add_special_tokens=False).ids
        sp = tok.encode(text, add_special_tokens=True).ids
        d = tok.decode(sp, skip_special_tokens=False)
        k = tok.decode(sp, skip_special_tokens=True)
        rec["e"] = e
        if sp != prefix + e + suffix:
            rec["s"] = sp
        if d != text:
            rec["d"] = d
        if k != text:
            rec["k"] = k
        lines.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    path = os.path.join(OUT, f"golden_{name}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: {len(strings)} strings, {os.path.getsize(path) / 1e6:.2f} MB", file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    # SmolLM2 as transformers derives it from the GGUF.
    smol_dir = os.path.join(OUT, "smollm2")
    smol_path = os.path.join(smol_dir, "tokenizer.json")
    if not os.path.exists(smol_path) or "--regen-smollm2" in sys.argv:
        from transformers import AutoTokenizer
        os.makedirs(smol_dir, exist_ok=True)
        t = AutoTokenizer.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF))
        t.backend_tokenizer.save(smol_path)
        with open(smol_path, encoding="utf-8") as f:  # store it compact: same content, 2/3 the size
            j = json.load(f)
        with open(smol_path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, separators=(",", ":"))

    lines = corpus(SEED + 1)
    synth = {"synth_bytelevel": synth_bytelevel(lines), "synth_spbpe_fallback": synth_spbpe(lines, True),
             "synth_spbpe_unk": synth_spbpe(lines, False), "synth_plain": synth_plain(lines)}
    for name, tok in synth.items():
        tok.save(os.path.join(OUT, f"{name}.json"))
    ov = overlays()
    with open(os.path.join(OUT, "overlays.json"), "w", encoding="utf-8") as f:
        json.dump(ov, f, ensure_ascii=False, indent=1)

    real = {"qwen3": "shared:qwen3/tokenizer.json", "llama3": "shared:llama3/tokenizer.json",
            "mistral": "shared:mistral/tokenizer.json", "smollm2": "smollm2/tokenizer.json"}
    for i, (name, src) in enumerate(real.items()):
        write_golden(name, Tokenizer.from_file(resolve(src)), src, N_REAL, SEED + 10 + i)
    for i, (name, spec) in enumerate(ov.items()):
        write_golden(name, load_overlay(spec), "overlay:" + name, N_SYNTH, SEED + 20 + i)
    for i, name in enumerate(synth):
        # reload from the saved file so the goldens describe exactly what was written
        write_golden(name, Tokenizer.from_file(os.path.join(OUT, f"{name}.json")), f"{name}.json", N_SYNTH,
                     SEED + 30 + i)


if __name__ == "__main__":
    main()
