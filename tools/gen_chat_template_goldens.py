#!/usr/bin/env python3
"""Writes the chat-template goldens in tests/data/chat_templates/ from transformers' own rendering.

Pinned oracle: transformers==5.23.0 (jinja2==3.1.6), gguf==0.19.0, tokenizers==0.23.3
(see tools/requirements.txt).
Run:  /work/tools-venv/bin/python tools/gen_chat_template_goldens.py        (from the repository root)
      MC_SHARED=/path/to/shared overrides where ../shared/assets/tokenizers is looked up.

What it writes (deterministic: fixed seeds, no clock):
  <name>.jinja   the template text, byte for byte:
                   qwen3, llama3   tokenizer_config.json "chat_template" of ../shared/assets/tokenizers/<name>
                   smollm2         the `tokenizer.chat_template` key of models/SmolLM2-135M-Instruct.Q4_1.gguf,
                                   read with the gguf package
                 and it reads (does not write) the hand-placed templates:
                   mistral         Mistral-7B-Instruct-v0.2's template ("v1" with a system prompt); the shared
                                   mistral tokenizer_config.json carries no chat template
                   mistral_v3      mistralai's tool-calling "v3" template (Mistral-7B-Instruct-v0.3 family)
                   chatml_generation  a ChatML template with {% generation %} tags (span oracle)
  <name>.jsonl   line 1: {"meta": {template, tokenizer, special_tokens, end_markers, versions}}
                 then one conversation per line: {"id", "messages", "tools", "add_generation_prompt",
                 "kwargs", "expected" | "error", "spans"}. "expected" is
                 tokenizer.apply_chat_template(messages, tools=..., chat_template=<template>,
                 add_generation_prompt=..., tokenize=False, **kwargs); "error" is the message of the
                 exception it raised (raise_exception in the template). "spans" are the assistant spans as
                 [message_index, begin_byte, end_byte]:
                   - templates with {% generation %}: transformers' own generation indices
                     (render_jinja_template(..., return_assistant_tokens_mask=True)), converted to bytes;
                   - otherwise the prefix-diff reference: begin = len(apply(messages[:i],
                     add_generation_prompt=True)) when that rendering is a prefix of the full one; otherwise,
                     when apply(messages[:i]) without the generation prompt is a prefix (the turn starts
                     there), begin = that length + the common prefix of the generation prompt and the turn,
                     cut where the message's content starts (found by rendering two probe contents);
                     end = just after the first end marker (meta.end_markers) at or after begin. null when
                     the reference is undefined (an assistant turn first, or no prefix-stable rendering).
  constructs.jsonl  one Jinja construct per line: {"template", "context", "expected" | "error",
                 "error_type", "line"}: jinja2 rendering in transformers' environment
                 (_compile_jinja_template(template).render(**context)); "line" is the TemplateSyntaxError line.
"""
import json
import os
import random
import sys

import gguf
import jinja2
import transformers
from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "data", "chat_templates")
SHARED = os.environ.get("MC_SHARED", os.path.join(REPO, "..", "shared"))
TOKENIZERS = os.path.join(SHARED, "assets", "tokenizers")
GGUF_PATH = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
VERSIONS = {"transformers": transformers.__version__, "jinja2": jinja2.__version__}

# --- content pools ------------------------------------------------------------------------------------

TEXTS = [
    "Hello!", "What is the capital of France?", "The capital of France is Paris.",
    "Explain recursion in one sentence.", "Recursion is when a function calls itself on a smaller input.",
    "  leading and trailing spaces  ", "\n\nnewlines around\n\n", "tabs\there\tand there",
    "multi\nline\ncontent\n", "日本語のテキストです。", "مرحبا بالعالم", "emoji 😀👍🏽 and ZWJ 👨‍👩‍👧",
    "combining: e\u0301 a\u0308 n\u0303", "quotes ' \" and backslash \\ and {{ braces }} {% raw %}",
    "json-ish: {\"a\": [1, 2.5, null]}", "math: 2**10 = 1024; 7 // 2 = 3", "Ünïcödé ßtraße İstanbul ΣΑΣ",
    "", " ", "a", "line one\r\nline two", "special look-alikes: <|im_start|> [INST] <s> <|eot_id|>",
    "Sure. Here is some code:\n```python\ndef f(x):\n    return x * 2\n```\n", "zero\u200bwidth\u00a0nbsp",
    "Can you help me plan a trip to Kyoto next spring?", "Yes. Visit Kiyomizu-dera early in the morning.",
    "Translate 'good morning' into German.", "Guten Morgen.", "What's 17 * 23?", "17 * 23 = 391.",
]
# Assistant replies never contain an end-of-turn marker, so span ends are meaningful.
ASSISTANT_TEXTS = [t for t in TEXTS if "<|" not in t and "<s>" not in t and "[INST]" not in t]
SYSTEMS = ["You are a helpful assistant.", "You are a pirate. Answer like one.", "Réponds en français.",
           "", "  Be concise.\n", "系统提示：请简洁回答。"]
REASONING = ["Let me think. 17*23 = 17*20 + 17*3 = 340 + 51 = 391.", "\nThe user wants a city.\n",
             "Short thought.", ""]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search the web — returns snippets",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                                        "top_k": {"type": "integer", "default": 3}},
                       "required": ["query"]}}},
]


def tool_call(rng, with_id=True, bad_id=False):
    name = rng.choice(["get_weather", "search"])
    args = {"city": rng.choice(["Paris", "東京", "Zürich"])} if name == "get_weather" else \
        {"query": rng.choice(["jinja2 whitespace", "météo"]), "top_k": rng.randint(1, 5)}
    if rng.random() < 0.25:
        args = json.dumps(args, ensure_ascii=False)  # arguments given as a JSON string
    call = {"type": "function", "function": {"name": name, "arguments": args}}
    if with_id:
        call["id"] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(7 if bad_id else 9))
    return call


def pick(rng, pool):
    return rng.choice(pool)


def basic_turns(rng, n_pairs, end_with_user):
    msgs = []
    for k in range(n_pairs):
        msgs.append({"role": "user", "content": pick(rng, TEXTS)})
        if k < n_pairs - 1 or not end_with_user:
            msgs.append({"role": "assistant", "content": pick(rng, ASSISTANT_TEXTS)})
    return msgs


def base_cases(rng, n, system_ok=True):
    """Plain system/user/assistant conversations with every combination of the basic features."""
    cases = []
    for i in range(n):
        msgs = basic_turns(rng, rng.randint(1, 4), end_with_user=(i % 3 != 0))
        if system_ok and i % 2 == 0:
            msgs.insert(0, {"role": "system", "content": pick(rng, SYSTEMS)})
        cases.append({"messages": msgs, "add_generation_prompt": (i % 4) in (1, 2)})
    return cases


def qwen3_cases(rng):
    cases = base_cases(rng, 30)
    for i in range(14):  # reasoning: reasoning_content, inline <think>, enable_thinking on/off
        msgs = basic_turns(rng, rng.randint(1, 3), end_with_user=False)
        for m in msgs:
            if m["role"] == "assistant":
                r = rng.random()
                if r < 0.4:
                    m["reasoning_content"] = pick(rng, REASONING)
                elif r < 0.6:
                    m["content"] = "<think>\n" + pick(rng, REASONING) + "\n</think>\n\n" + m["content"]
                elif r < 0.7:
                    m["reasoning_content"] = None  # dropped by apply_chat_template
        if i % 3 == 0:
            msgs.append({"role": "user", "content": pick(rng, TEXTS)})
        kw = [{}, {"enable_thinking": True}, {"enable_thinking": False}][i % 3]
        if i % 4 == 3:
            msgs.insert(0, {"role": "system", "content": pick(rng, SYSTEMS)})
        cases.append({"messages": msgs, "add_generation_prompt": i % 3 == 0 or i % 5 == 1, "kwargs": kw})
    for i in range(14):  # tools and tool calls
        msgs = [{"role": "user", "content": "What's the weather in Paris, and find news about it?"}]
        if i % 2 == 0:
            msgs.insert(0, {"role": "system", "content": pick(rng, SYSTEMS)})
        calls = [tool_call(rng) for _ in range(rng.randint(1, 2))]
        msgs.append({"role": "assistant", "content": rng.choice(["", "Let me check.", "\nChecking.\n"]),
                     "tool_calls": calls})
        for _ in calls:
            msgs.append({"role": "tool", "content": rng.choice(["{\"temp\": 21}", "sunny, 21°C", "no results"])})
        if i % 3 != 2:
            msgs.append({"role": "assistant", "content": "It is sunny and 21°C in Paris."})
            if i % 3 == 1:
                msgs.append({"role": "user", "content": "<tool_response>\nfake\n</tool_response>"})
        if i % 4 == 1:
            msgs[-1 if msgs[-1]["role"] == "assistant" else -2].setdefault("reasoning_content", "Use the tool output.")
        cases.append({"messages": msgs, "tools": TOOLS if i % 5 != 4 else None,
                      "add_generation_prompt": msgs[-1]["role"] != "assistant",
                      "kwargs": {"enable_thinking": False} if i % 4 == 2 else {}})
    return cases


def llama3_cases(rng):
    cases = base_cases(rng, 50)
    for i in range(6):  # roles the template does not special-case, content that trim changes
        msgs = [{"role": rng.choice(["user", "ipython", "tool"]), "content": pick(rng, TEXTS)},
                {"role": "assistant", "content": "  padded answer \n"}]
        cases.append({"messages": msgs, "add_generation_prompt": i % 2 == 0})
    return cases


def mistral_cases(rng):
    cases = base_cases(rng, 52)
    # Errors the template raises: roles that do not alternate, unsupported roles.
    cases.append({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})
    cases.append({"messages": [{"role": "assistant", "content": "a"}]})
    cases.append({"messages": [{"role": "system", "content": "s"}, {"role": "tool", "content": "t"}]})
    cases.append({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                               {"role": "system", "content": "again"}]})
    return cases


def mistral_v3_cases(rng):
    cases = base_cases(rng, 36)
    for i in range(16):
        msgs = [{"role": "user", "content": pick(rng, TEXTS)}]
        if i % 3 == 0:
            msgs.insert(0, {"role": "system", "content": "Use tools when helpful."})
        calls = [tool_call(rng, bad_id=(i == 13)) for _ in range(rng.randint(1, 2))]
        msgs.append({"role": "assistant", "tool_calls": calls, "content": None})
        for c in calls:
            res = rng.choice(["{\"temp\": 21}", "sunny"])
            msgs.append({"role": "tool", "tool_call_id": c["id"] if i != 14 else "short", "content": res})
        if i % 2 == 0:
            msgs.append({"role": "assistant", "content": " It is sunny. "})
            msgs.append({"role": "user", "content": "Thanks! And tomorrow?"})
        cases.append({"messages": msgs, "tools": TOOLS if i % 4 != 3 else None,
                      "add_generation_prompt": i % 2 == 1})
    cases.append({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})
    cases.append({"messages": [{"role": "user", "content": "a"}, {"role": "narrator", "content": "b"}]})
    return cases


def smollm2_cases(rng):
    cases = base_cases(rng, 50)
    cases.append({"messages": [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "ok"}],
                  "add_generation_prompt": True})
    cases.append({"messages": [{"role": "user", "content": "hi", "name": "bob", "extra": None}]})
    return cases


def chatml_generation_cases(rng):
    return base_cases(rng, 24)


# --- rendering ----------------------------------------------------------------------------------------


def utf8_offset(text, idx):
    return len(text[:idx].encode("utf-8"))


def apply(tok, template, case, messages=None, add_generation_prompt=None):
    return tok.apply_chat_template(
        case["messages"] if messages is None else messages, tools=case.get("tools"), chat_template=template,
        add_generation_prompt=case.get("add_generation_prompt", False) if add_generation_prompt is None
        else add_generation_prompt, tokenize=False, **case.get("kwargs", {}))


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def reference_spans(tok, template, case, full, markers):
    msgs = case["messages"]
    spans = []
    for i, m in enumerate(msgs):
        if m.get("role") != "assistant":
            continue
        if i == 0:
            return None
        try:
            prompt = apply(tok, template, case, messages=msgs[:i], add_generation_prompt=True)
        except Exception:
            return None
        if full.startswith(prompt):
            start = len(prompt)
        else:
            # Earlier turns render differently once the conversation goes on (Qwen3 drops the empty
            # think block of past turns): match the generation prompt against the start of the turn,
            # which begins where messages[:i] without a generation prompt ends.
            bare = apply(tok, template, case, messages=msgs[:i], add_generation_prompt=False)
            if not full.startswith(bare):
                return None
            gen = prompt[common_prefix(prompt, bare):]
            header = common_prefix(gen, full[len(bare):])
            # The header cannot reach into the message's content: find where the content starts by
            # rendering with two different probe contents.
            if isinstance(m.get("content"), str):
                probes = []
                for probe in ("\ue000", "\ue001"):
                    pm = [dict(x) for x in msgs]
                    pm[i]["content"] = probe
                    probes.append(apply(tok, template, case, messages=pm))
                if probes[0] != probes[1]:
                    c = common_prefix(probes[0], probes[1])
                    if c >= len(bare):
                        header = min(header, c - len(bare))
            start = len(bare) + header
        best = None
        for mk in markers:
            p = full.find(mk, start)
            if p >= 0 and (best is None or p < best[0] or (p == best[0] and p + len(mk) > best[1])):
                best = (p, p + len(mk))
        if best is None:
            return None
        spans.append([i, utf8_offset(full, start), utf8_offset(full, best[1])])
    return spans


def generation_spans(tok, template, case, full):
    # transformers' own AssistantTracker indices (characters), as return_assistant_tokens_mask uses them.
    msgs = [{k: v for k, v in m.items() if v is not None} for m in case["messages"]]
    rendered, indices = render_jinja_template(
        conversations=[msgs], tools=case.get("tools"), chat_template=template, return_assistant_tokens_mask=True,
        add_generation_prompt=case.get("add_generation_prompt", False),
        **{**tok.special_tokens_map, **case.get("kwargs", {})})
    assert rendered[0] == full
    out = []
    for (b, e) in indices[0]:
        # The message whose turn holds the block: the assistant messages in order.
        out.append([b, e])
    assistant_ids = [i for i, m in enumerate(case["messages"]) if m.get("role") == "assistant"]
    assert len(assistant_ids) == len(out)
    return [[mi, utf8_offset(full, b), utf8_offset(full, e)] for mi, (b, e) in zip(assistant_ids, out)]


def write_template_goldens(name, tok, template, source, markers, cases, hand_placed):
    if not hand_placed:
        with open(os.path.join(OUT, name + ".jinja"), "wb") as f:
            f.write(template.encode("utf-8"))
    has_generation = "generation" in template and "endgeneration" in template
    lines = [{"meta": {"name": name, "template": name + ".jinja", "source": source,
                       "special_tokens": tok.special_tokens_map, "end_markers": markers, **VERSIONS}}]
    n_ok = n_err = n_spans = 0
    for k, case in enumerate(cases):
        rec = {"id": "%s-%03d" % (name, k), "messages": case["messages"], "tools": case.get("tools"),
               "add_generation_prompt": case.get("add_generation_prompt", False), "kwargs": case.get("kwargs", {})}
        try:
            full = apply(tok, template, case)
        except Exception as e:  # raise_exception in the template
            rec["error"] = str(e)
            n_err += 1
            lines.append(rec)
            continue
        rec["expected"] = full
        n_ok += 1
        if any(m.get("role") == "assistant" for m in case["messages"]):
            if has_generation:
                rec["spans"] = generation_spans(tok, template, case, full)
            else:
                rec["spans"] = reference_spans(tok, template, case, full, markers)
            n_spans += rec["spans"] is not None
        lines.append(rec)
    with open(os.path.join(OUT, name + ".jsonl"), "w", encoding="utf-8") as f:
        for rec in lines:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print("%-18s %3d rendered, %2d errors, %2d with spans" % (name, n_ok, n_err, n_spans))


# --- constructs -----------------------------------------------------------------------------------------

# Each entry: (template, context). Contexts are JSON data. Templates whose jinja2 output is an object
# repr with an address ("<generator object ... at 0x...>") are left out: mc rejects printing those.
CONSTRUCTS = [
    # output, literals, printing (Python str/repr)
    ('Hello {{ name }}!', {"name": "World"}),
    ('{{ [1, "a", none, true, 1.5, {"k": "v\'"}, (1,), (1,2)] }}', {}),
    ('{{ ["a\\nb", "it\\x27s", "q\\"", "\\x00\\x7f\\x85\\u200b\\u3000é", "\\\\"] }}', {}),
    ('{{ [1e300*1e300, -1e300*1e300, 1e22, 123456789012345678.0, 0.1+0.2, -0.0, 5e-324, 1.5e-7, 100.0] }}', {}),
    ('{{ x }}|{{ y }}|{{ z }}|{{ w }}', {"x": 1.0, "y": 10**18, "z": -1.5e-10, "w": 1e16}),
    ('{{ 0x1F }}{{ 0b101 }}{{ 0o17 }}{{ 1_000 }}{{ 1.5e3 }}{{ 2E-2 }}{{ 007.5 }}', {}),
    ('{{ "a\\tb\\x41\\u00e9\\d" }}|{{ "\\101\\x42\\u0043\\U0001F600\\n\\\\" }}|{{ \'single "q"\' }}', {}),
    ('{{ "a" "b" \'c\' }}', {}),
    ('{{ {"a": {"b": 1}} }}{{ (1, 2) }}{{ () }}{{ (1,) }}', {}),
    ('{{ {1: "a", none: "b", 1.5: "d", true: "e"} }}', {}),
    ('{{ none }}|{{ true }}|{{ True }}|{{ false }}|{{ None }}|{{ u }}', {}),
    ('{{ l }}', {"l": [{"a": [1, {"b": "c"}]}, "x", None, True, 2.5]}),
    ('{{ messages[0].content }}', {"messages": [{"content": [{"type": "text", "text": "y"}]}]}),
    ('{{ "x" ~ 1 ~ none ~ [1] ~ u }}', {}),
    ('{% print 1, "a" %}', {}),
    # whitespace control, trim_blocks, lstrip_blocks, comments, raw, newlines
    ('a\n  {% if true %}\n  x\n  {% endif %}\nb', {}),
    ('a  {% if true %}x{% endif %}  \n  {{ 1 }}  {# c #}\nz', {}),
    ('  {#- c #}\n  {%+ if true %}y{% endif +%}\nq', {}),
    ('a \t\n {{- 1 -}} \n b', {}),
    ('x\u3000{%- if 1 %}y{% endif %}', {}),
    ('{% if 1 -%}  \n\n  y{% endif %}\n', {}),
    ('line\n\n', {}),
    ('a\r\nb\rc\r\n', {}),
    ('{%- for m in messages -%}\n  {{- m.role }}\n{%- endfor %}\n', {"messages": [{"role": "a"}, {"role": "b"}]}),
    ('{{- "a" -}}\n\n{{- "b" }}\n{% if true %}\n  {{ "c" }}\n{% endif %}\n', {}),
    ('{% if true %}  x  {% endif %}  \n', {}),
    ('  {{ "v" }}\n  {% if true %}\n    yes\n  {% endif %}\n', {}),
    ('{#- comment -#}  \n  a{# c2 #}b\n{#\n multi\n#}\nc', {}),
    ('{% raw %}{{ x }}{% endraw %}|{%- raw -%}  a  {%- endraw %}|', {}),
    ('\t{% for x in [1, 2] %}\n\t{{ x }}\n\t{% endfor %}\n', {}),
    ('{% for x in [1] %}a{% endfor %}\n\n{% if true %}\n\nb{% endif %}', {}),
    # if / elif / else, conditional expressions
    ('{% if true %}a{% elif x %}b{% else %}c{% endif %}{% if false %}a{% elif true %}b{% endif %}', {}),
    ('{% if x %}a{% elif y %}b{% else %}c{% endif %}', {"y": [0]}),
    ('{{ 1 if false }}|{{ 1 if false else 2 }}|{{ "t" if x is defined else "f" }}', {}),
    ('{{ 1 if 2 if 3 else 4 }}', {}),
    # for loops
    ('{% for x in [1,2,3,4] if x is even %}{{ loop.index }}/{{ loop.length }}{{ loop.last }},{% endfor %}', {}),
    ('{% for x in [] %}a{% else %}empty{% endfor %}{% for k, v in {"a": 1}.items() %}{{ k }}={{ v }}{% endfor %}', {}),
    ('{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.revindex }}-{{ loop.revindex0 }}-{{ loop.index0 }}-{{ loop.first }};{% endfor %}', {}),
    ('{% for x in [1,2,3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% if x == 3 %}{% break %}{% endif %}{% endfor %}', {}),
    ('{% for x in [1,2,3] %}{{ loop.cycle("a","b") }}{{ loop.depth }}{% endfor %}', {}),
    ('{% for x in [1,1,2] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}', {}),
    ('{% for a, b in [[1,2],[3,4]] %}{{ a }}{{ b }}{% endfor %}{% for a in {"x": 1, "y": 2} %}{{ a }}{% endfor %}', {}),
    ('{% for c in "héllo" %}{{ c }}|{% endfor %}{% for x in u %}a{% else %}b{% endfor %}', {}),
    ('{% for i in range(2) %}{% for j in range(2) %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}{{ loop.index }};{% endfor %}', {}),
    ('{% for m in messages %}{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}', {"messages": [{"role": "user"}, {"role": "assistant"}]}),
    ('{% for m in messages[::-1] %}{{ m }}{% endfor %}{% for m in messages[1:] %}{{ m }}{% endfor %}', {"messages": [1, 2, 3]}),
    # scoping, set, namespace, with
    ('{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = i %}{{x}};{% endfor %}{{ x }}', {}),
    ('{% for i in range(3) %}{% if loop.first %}{% set y = 1 %}{% endif %}[{{ y }}]{% endfor %}', {}),
    ('{% for x in [1] %}{% set inner = 5 %}{% endfor %}{{ inner }}|{% if true %}{% set t = 6 %}{% endif %}{{ t }}', {}),
    ('{% set ns = namespace(a=1, b=[]) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}{{ ns.zz }}{{ ns }}', {}),
    ('{% set ns = namespace(found=false) %}{% for m in ms %}{% if m == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}', {"ms": [1, 2, 3]}),
    ('{% set ns = namespace({"k": 1}, j=2) %}{{ ns.k }}{{ ns.j }}{{ ns["k"] }}', {}),
    ('{% set x %}a {{ 1 }} b{% endset %}[{{ x }}]{% set y | upper %}q{% endset %}{{ y }}', {}),
    ('{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c, d = "xy" %}{{ d }}{% set e = 1, 2 %}{{ e }}', {}),
    ('{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}', {}),
    ('{% set messages = [1] %}{{ messages }}', {"messages": [9]}),
    # macros and call blocks
    ('{% set a = 1 %}{% macro m() %}{{ a }}{% endmacro %}{% set a = 2 %}{{ m() }}', {}),
    ('{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, b=3) }}{{ m(a=5) }}{{ m }}', {}),
    ('{% macro m(a, b) %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(1) }}', {}),
    ('{% macro m(a, b=a ~ "!") %}{{ b }}{% endmacro %}{{ m("x") }}', {}),
    ('{% macro m(a) %}[{{ caller() }}{{ a }}]{% endmacro %}{% call m(1) %}body{% endcall %}', {}),
    ('{% macro m() %}{{ caller(3) }}{% endmacro %}{% call(n) m() %}<{{ n * 2 }}>{% endcall %}', {}),
    ('{% macro m(a) %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}', {}),
    ('{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}', {}),
    ('{% for x in [1, 2] %}{% macro m() %}{{ x }}{% endmacro %}{{ m() }}{% endfor %}', {}),
    ('{% filter upper %}abc {{ x }}{% endfilter %}', {"x": "y"}),
    # operators
    ('{{ 1/3 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 2**10 }} {{ 2**-1 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }}', {}),
    ('{{ true + 1 }}{{ [1] + [2] }}{{ "ab" * 2 }}{{ [0] * 3 }}{{ 1 + 1.5 }}{{ 10 / 5 }}{{ 7 % 2.5 }}{{ 2 ** 0.5 }}', {}),
    ('{{ 10 // 3 }}{{ 10.0 // 3 }}{{ -10 // 3 }}{{ 10 % -3 }}{{ -10.5 % 3 }}{{ 2 ** 3 ** 2 }}{{ -2 ** 2 }}{{ (1, 2) + (3,) }}', {}),
    ('{{ "abc" * -1 }}|{{ [1] * 0 }}|{{ 3 * "x" }}', {}),
    ('{{ -x }}{{ +x }}{{ not x }}{{ -x|abs }}{{ not 1 == 1 }}{{ not (1 == 1) }}{{ - 1 + 2 }}{{ (-1) | abs }}', {"x": 3}),
    ('{{ a or b }}|{{ a and b }}|{{ 0 or "x" }}|{{ "" and 1 }}|{{ none or none }}|{{ u or "d" }}', {"a": 1, "b": 2}),
    ('{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1 == 1 }}{{ 2 > 1.5 }}{{ 1 <= 1.0 }}{{ [1, 2] < [1, 3] }}{{ "a" >= "a" }}{{ (1, 2) > (1,) }}', {}),
    ('{{ 1 == 1.0 }}{{ true == 1 }}{{ [1] == [1.0] }}{{ {"a": 1} == {"a": 1.0} }}{{ [1, 2] == (1, 2) }}{{ "1" == 1 }}{{ none == none }}{{ u == none }}{{ u == u }}', {}),
    ('{{ "a" in {"a": 1} }}{{ 1 in [1.0] }}{{ "b" not in "abc" }}{{ "x" in u }}{{ u in [1] }}', {}),
    ('{{ "%s-%d" % ("a", 3) }}{{ "%5.2f|%-3s|%r|%x" % (3.14159, "a", "b", 255) }}{{ "%s" % none }}{{ "%(a)s" % {"a": 1} }}', {}),
    ('{{ "%05d|%+d|% d|%.3s|%c|%o|%X|%e|%g|%%" % (42, 5, 7, "abcdef", 65, 8, 255, 12345.678, 0.0001) }}', {}),
    ('{{ "%s" % {"a": 1} }}{{ "%s" % [1, 2] }}', {}),
    # attribute / subscript / slicing
    ('{{ d.x }}|{{ l[5] }}|{{ l.x }}|{{ s.x }}|{{ s[1] }}|{{ d["items"] }}', {"d": {"items": 5}, "l": [1, 2], "s": "abc"}),
    ('{{ x.0 }}{{ x.1.a }}{{ x[1]["a"] }}{{ x[-1].a }}', {"x": ["z", {"a": "q"}]}),
    ('{{ "abc"[::-1] }}{{ "abcdef"[1:-1:2] }}{{ [1,2,3][-2:] }}{{ [1,2,3][:-1] }}{{ [1,2,3][::2] }}{{ [1,2,3][5:] }}{{ "é日本"|length }}{{ "é日本"[1] }}', {}),
    ('{{ "abc"[5] }}|{{ "abc"[-1] }}|{{ none[0] }}|{{ 5.x }}|{{ (1, 2)[1] }}|{{ range(5)[2] }}|{{ range(10)[2:8:3] }}', {}),
    ('{{ messages[0]["role"] }}{{ messages[0].role }}{{ messages[-1].content }}{{ messages[1] }}|', {"messages": [{"role": "u", "content": "c"}]}),
    ('{{ x["get"] is callable }}{{ x.get("a", 0) }}{{ d["items"] }}{{ d.items is callable }}', {"x": {}, "d": {"items": 1}}),
    # filters
    ('{{ x | default("d") }}{{ none | default("d") }}{{ "" | default("d", true) }}{{ 0 | d("z", boolean=true) }}{{ x|d }}|', {}),
    ('{{ "  ab c " | trim }}|{{ "xxabx" | trim("x") }}|{{ "hello world-foo (bar" | title }}|{{ "hELLO wORLD" | capitalize }}|{{ "it\'s ok"|title }}', {}),
    ('{{ "aBc"|upper }}{{ "AbC"|lower }}{{ "é"|upper }}{{ "ß"|upper }}{{ "ΣΑΣ"|lower }}{{ "İ"|lower|length }}{{ "ǆ"|title }}', {}),
    ('{{ [3,1,2] | sort }}{{ ["b","A","a"] | sort }}{{ ["b","A","a"] | unique | list }}{{ [1,2] | reverse | list }}{{ "abc" | reverse }}', {}),
    ('{{ [3,2,1]|sort(reverse=true) }}{{ [{"n":2},{"n":1}]|sort(attribute="n") }}{{ ["B","a","C"]|sort(case_sensitive=true) }}{{ [[2, "b"], [1, "a"]]|sort }}', {}),
    ('{{ {"b":"X","a":"y"}|dictsort(by="value") }}{{ {"b":1,"A":2}|dictsort(case_sensitive=true) }}{{ {"b":1,"a":2}|dictsort(reverse=true) }}{{ {"b":1,"a":2}|dictsort }}', {}),
    ('{{ ["a","A","b"]|unique|list }}{{ ["a","A","b"]|unique(case_sensitive=true)|list }}{{ [{"k":1},{"k":1}]|unique(attribute="k")|list }}', {}),
    ('{{ "a\\nb\\n\\nc" | indent(2) }}|{{ "a\\nb" | indent(2, true) }}|{{ "a\\n\\nb" | indent(2, blank=true) }}|{{ "x\\ny"|indent("> ") }}|{{ "a\\r\\nb"|indent }}', {}),
    ('{{ [1,2,3] | join(", ") }}{{ [{"a":1},{"a":2}] | map(attribute="a") | list }}{{ [1,2,3]|first }}{{ [1,2,3]|last }}{{ "abc"|first }}{{ "abc"|last }}', {}),
    ('{{ "abc"|list }}{{ {"a":1,"b":2}|list }}{{ {"a":1}|join(",") }}{{ [{"a":"x"},{"a":"y"}]|join(",", attribute="a") }}{{ [1, [2]]|join("-") }}', {}),
    ('{{ [1, none, 2]|map("string")|list }}{{ ["a","b"]|map("upper")|join }}{{ [{"a":1},{}]|map(attribute="a", default=0)|list }}{{ ["x"]|map("replace", "x", "y")|list }}', {}),
    ('{{ [{"a": {"b": 5}}]|map(attribute="a.b")|list }}{{ [[1, 2]]|map(attribute="1")|list }}{{ [{"r": "x"}]|map(attribute="r")|first }}', {}),
    ('{{ [1,2,3] | select("odd") | list }}{{ [1,2,3] | reject("odd") | list }}{{ [0, 1, ""]|select|list }}{{ [1,2,3]|select("gt", 1)|list }}{{ [1,2,3]|select(">", 2)|list }}', {}),
    ('{{ [{"r":"u"},{"r":"a"}] | selectattr("r", "equalto", "u") | list }}{{ [{"r":"u"},{}] | selectattr("r") | list }}{{ [{"r":"u"},{"x":1}] | rejectattr("r", "defined") | list }}{{ [{"r":"u"},{"r":"a"}]|rejectattr("r", "in", ["a"])|list }}', {}),
    ('{{ messages|selectattr("role", "equalto", "user")|list|length }}{{ messages|map(attribute="role")|join(",") }}{{ (messages|selectattr("role", "eq", "assistant")|first).role }}', {"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]}),
    ('{% if messages|selectattr("role", "equalto", "system") %}T{% else %}F{% endif %}{% if [1,2]|reverse %}T{% endif %}', {"messages": [{"role": "user"}]}),
    ('{% set g = [1,2,3]|select %}{{ g|list }}{{ g|list }}{% set h = [1, 2]|map("string") %}{{ h|first }}{{ h|list }}', {}),
    ('{{ 5|string + "x" }}{{ "5"|int + 1 }}{{ "5.5"|int }}{{ "x"|int }}{{ "5.5"|float }}{{ -3|abs }}{{ 3.0|int }}{{ true|int }}{{ -2.5|abs }}', {}),
    ('{{ "3.7"|float + 1 }}|{{ "x"|float }}|{{ none|int }}|{{ "0x1f"|int(0, 16) }}|{{ "1_000"|int }}|{{ " 42 "|int }}|{{ "1e3"|int }}|{{ "-7"|int }}|{{ none|float }}|{{ "nan"|float }}', {}),
    ('{{ 3|round }} {{ 2.5|round }} {{ 3.14159|round(2) }} {{ 3|round(-1) }} {{ 15|round(-1) }} {{ 25|round(-1) }} {{ 2.675|round(2) }} {{ 1.5|round }} {{ 0.5|round }} {{ 1.25|round(1, "floor") }} {{ 1.21|round(1, "ceil") }}', {}),
    ('{{ [3,1]|max }}{{ [3,1]|min }}{{ [3,1]|sum }}{{ "abc"|count }}{{ [{"v":3},{"v":5}]|max(attribute="v") }}{{ ["b","A"]|min }}{{ []|max }}|{{ [1,2]|sum(start=10) }}{{ [{"v":3},{"v":5}]|sum(attribute="v") }}', {}),
    ('{{ "%s and %s"|format("a", "b") }}{{ "%(x)s"|format(x=5) }}', {}),
    ('{{ x|attr("a") }}|{{ x|attr("get") is callable }}|{{ ns|attr("k") }}', {"x": {"a": 1}}),
    ('{{ "ab"|center(6) }}|{{ "abc"|center(6) }}|{{ x|wordcount }}', {"x": "hello big world, it's 3_x"}),
    ('{{ "abc" | batch(2) | list }}{{ [1,2,3] | slice(2) | list }}{{ [1,2,3]|batch(2, "x")|list }}{{ [1,2,3,4,5]|slice(3, 0)|list }}', {}),
    ('{{ x|items|list }}{{ u|items|list }}{% for k, v in x|items %}{{ k }}{{ v }}{% endfor %}', {"x": {"a": 1, "b": 2}}),
    ('{{ "a" | e }}{{ "<a href=\\"x\\">&\'" | e }}{{ "<b>" | safe }}{{ "<b>"|safe + "<i>" }}{{ "<i>" + "<b>"|safe }}{{ ("<b>"|safe) ~ "<i>" }}', {}),
    ('{{ "<a>" | escape | e }}{{ ("<a>" | e) | upper }}{{ ("<a>" | e) | length }}{{ "<a>"|forceescape }}{{ "<"|e is escaped }}', {}),
    ('{{ [1,[2]]|string }}{{ 3|string|length }}{{ none|string }}{{ {"a":none}|string }}{{ x|length }}{{ x|count }}', {"x": {"a": 1, "b": 2}}),
    ('{{ u|upper }}{{ u|lower }}{{ u|trim }}{{ u|string }}{{ u|join }}{{ u|capitalize }}{{ u|title }}{{ u|replace("a", "b") }}{{ u|escape }}{{ u|safe }}{{ u|wordcount }}{{ u|length }}{{ u|list }}{{ u|last }}', {}),
    ('{{ u|sort }}{{ u|unique|list }}{{ u|reverse|list }}{{ u|select|list }}{{ u|map("upper")|list }}{{ u|sum }}{{ u|first }}{{ u|min }}{{ u|default(1) }}{{ u|d(2, true) }}', {}),
    ('{{ "a-b".replace("-", "+") }}{{ "aaa"|replace("a", "b", 2) }}{{ "aaa"|replace("", "-") }}{{ "abc".replace("", "|", 2) }}', {}),
    # tojson (transformers' override: ensure_ascii=False, no HTML escaping)
    ('{{ x|tojson }}', {"x": {"b": 1, "a": [1.0, "é\"\n<>&'", None, True, False, 0, -3, 2.5e-8]}}),
    ('{{ x|tojson(indent=2) }}|{{ x|tojson(4) }}|{{ x|tojson(indent=0) }}|{{ x|tojson(indent="\\t") }}', {"x": {"b": 1, "a": [1.0, {}, []], "é": "ü"}}),
    ('{{ x|tojson(separators=(",", ":"), sort_keys=true) }}{{ x|tojson(sort_keys=true, indent=1) }}', {"x": {"b": 1, "a": {"d": 2, "c": [3]}}}),
    ('{{ x|tojson }}{{ x|tojson(ensure_ascii=true) }}', {"x": ["\u0001\u001f\u007f\u2028\U0001F600\t\\/", 1e300, "日本"]}),
    ('{{ {1: "a", none: "b", true: "c", 1.5: "d"}|tojson }}{{ (1, "x")|tojson }}{{ "plain"|tojson }}{{ 3|tojson }}{{ none|tojson }}', {}),
    ('{{ tools[0]|tojson }}', {"tools": TOOLS}),
    # tests
    ('{{ x is number }}{{ x is integer }}{{ x is boolean }}{{ u is iterable }}{{ u is sequence }}{{ s is sequence }}{{ d is sequence }}{{ d is iterable }}{{ u is mapping }}', {"x": True, "s": "a", "d": {}}),
    ('{{ none is none }}{{ x is not none }}{{ x is defined and x is string }}{{ 3 is divisibleby 3 }}{{ 3 is divisibleby(2) }}{{ x is equalto "s" }}{{ x is eq "s" }}{{ 2 is in [1,2] }}', {"x": "s"}),
    ('{{ x is true }}{{ x is false }}{{ 1 is true }}{{ x is callable }}{{ raise_exception is callable }}{{ namespace is callable }}{{ 1.0 is float }}{{ 1 is float }}{{ u is callable }}', {"x": True}),
    ('{{ 4 is odd }}{{ 4 is even }}{{ 3.0 is odd }}{{ 10 is divisibleby 5 }}{{ 5 is lt 6 }}{{ 5 is gt 6 }}{{ 5 is ge 5 }}{{ 5 is le 4 }}{{ 5 is ne 5 }}{{ 5 is lessthan 6 }}{{ 5 is greaterthan 6 }}', {}),
    ('{{ "abc" is lower }}{{ "ABC" is upper }}{{ "aBc" is lower }}{{ "upper" is filter }}{{ "odd" is test }}{{ "nope" is filter }}{{ none is sameas none }}{{ true is sameas true }}', {}),
    ('{{ x is string }}{{ x is mapping }}{{ x is sequence }}{{ x is iterable }}{{ x is number }}{{ 1.5 is integer }}{{ x is not defined }}{{ u is undefined }}{{ u is not none }}', {"x": [1]}),
    ('{{ d.a is defined }}{{ d.b is defined }}{{ d.a.b is defined }}{{ d.a is mapping }}', {"d": {"a": {"c": 1}}}),
    # str, dict and list methods
    ('{{ "a,b,,c".split(",") }}{{ " a  b ".split() }}{{ "a b c".split(" ", 1) }}{{ "a b c".split(maxsplit=1) }}{{ "abc".startswith(("x","a")) }}{{ "abc".endswith("bc") }}', {}),
    ('{{ "  x  ".strip() }}|{{ "xxyxx".strip("x") }}|{{ "  x".lstrip() }}|{{ "x  ".rstrip() }}|{{ "\\n\\tx\\n".strip() }}|{{ "\\u3000x\\u00a0".strip() }}|{{ "ab\\n".rstrip("\\n") }}', {}),
    ('{{ "a\\nb\\r\\nc".splitlines() }}{{ "abc".upper() }}{{ "x".zfill(3) }}{{ "ab".ljust(4, "*") }}|{{ "ab".rjust(4) }}|{{ "x".center(5) }}|{{ "-5".zfill(4) }}', {}),
    ('{{ "a=b=c".partition("=") }}{{ "a=b=c".rpartition("=") }}{{ "a,b,c".rsplit(",", 1) }}{{ " a b ".rsplit() }}{{ "abc".removeprefix("a") }}{{ "abc".removesuffix("c") }}', {}),
    ('{{ "a b".count("a") }}{{ "abc".find("c") }}{{ "abc".rfind("z") }}{{ "12".isdigit() }}{{ "ab".isalpha() }}{{ "a1".isalnum() }}{{ " ".isspace() }}{{ "ab".islower() }}{{ "AB".isupper() }}', {}),
    ('{{ "Hello World".title() }}{{ "it\'s ok".title() }}{{ "hello world".capitalize() }}{{ "ABC".lower() }}{{ "-".join(["a", "b"]) }}{{ "".join("xyz") }}', {}),
    ('{{ "{0}{1}{0}".format("a", "b") }}{{ "{x}-{y}".format(x=1, y=2) }}{{ "{{}}{}".format(3) }}{{ "{!r}".format("q") }}{{ "{} {}".format(1, "b") }}{{ "{0[k]}".format({"k": 7}) }}', {}),
    ('{{ d.get("a") }}{{ d.get("z") }}{{ d.get("z", 5) }}{{ d.keys() }}{{ d.values() }}{{ d.items() }}{{ d|items|list }}{{ d.items()|list }}{{ d.keys()|length }}{{ d.copy() }}', {"d": {"a": 1}}),
    ('{{ [1,2,1].count(1) }}{{ [1,2,1].index(2) }}{{ (1,2).index(2) }}{{ l.append }}|{{ d.update }}|', {"l": [], "d": {}}),
    ('{{ dict(a=1, b=2) }}{{ dict({"x": 1}, y=2) }}{{ dict([["p", 1]]) }}{{ range(3)|list }}{{ range(1,7,2)|list }}{{ range(3,0,-1)|list }}{{ range(3) }}{{ range(1,9,3) }}{{ range(3)|length }}', {}),
    # real-template idioms
    ('{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}{%- if ns.multi_step_tool and message.role == "user" %}{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}{{ ns.last_query_index }}', {"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}, {"role": "tool"}]}),
    ('{%- if "</think>" in c %}{{ c.split("</think>")[-1].lstrip("\\n") }}|{{ c.split("</think>")[0].rstrip("\\n").split("<think>")[-1].lstrip("\\n") }}{%- endif %}', {"c": "<think>\nreason\n</think>\n\nanswer"}),
    ('{% set content = "<|start_header_id|>" + m["role"] + "<|end_header_id|>\n\n"+ m["content"] | trim + "<|eot_id|>" %}{{ content }}', {"m": {"role": "user", "content": "  hi  "}}),
    ('{%- for tool_call in calls %}{%- set out = tool_call.function|tojson %}{{- out[:-1] }}, "id": "{{ tool_call.id }}"}{%- endfor %}', {"calls": [{"id": "abc123xyz", "function": {"name": "f", "arguments": {"x": 1}}}]}),
    ('{%- for key, val in tool.items() if key != "return" %}{{ key }}={{ val if val is string else val|tojson }};{%- endfor %}', {"tool": {"name": "f", "return": {"type": "x"}, "parameters": {"a": 1}}}),
    ('{{ strftime_now("%Y") | length }}', {}),
    # Python str/number edge cases
    ('{{ " a  b c ".split(none, 1) }}{{ " a  b c ".rsplit(none, 1) }}{{ "a,b,c".split(",", 0) }}{{ "a,,b".rsplit(",") }}{{ "".split() }}{{ "".split(",") }}', {}),
    ('{{ "x\\x0by\\x1cz\\u2028w\\r\\n".splitlines() }}{{ "a\\n\\nb\\n".splitlines() }}{{ "a\\nb".splitlines(true) }}', {}),
    ('{{ "ΣΑΣ ΟΔΟΣ".lower() }}{{ "ﬁ".upper() }}{{ "ǅ".lower() }}{{ "hello wORLD 3x".title() }}{{ "ǆemal".capitalize() }}', {}),
    ('{{ "%s|%5s|%-5s|%.2s" % ("é日本", "é", "日", "日本語") }}{{ "%3d|%-3d|%03d" % (5, 5, 5) }}{{ "%.2f %.0f %e %g %G" % (2.675, 0.5, 1e-5, 1e20, 1e-10) }}', {}),
    ('{{ "%x %X %o %#x %#o" % (255, 255, 8, 255, 8) }}{{ "%x" % -255 }}{{ "%5x|" % -255 }}{{ "%-6x|%06x|%+x" % (10, -10, 10) }}', {}),
    ('{{ 1e308 * 10 }}{{ -1e308 * 10 }}{{ (1e308*10) - (1e308*10) }}{{ 0.1 * 3 }}{{ 1/7 }}{{ 2**62 - 1 + 2**62 }}', {}),
    ('{{ 12345678901234567.0 }}{{ 1e-7 }}{{ 123e-20 }}{{ 0.000123 }}{{ 9999999999999998.0 }}{{ 1.0e16 }}', {}),
    ('{{ x|round(3) }}{{ y|round }}{{ z|round(1) }}', {"x": 1.0005, "y": -2.5, "z": 0.05}),
    ('{{ "abc"|center(2) }}|{{ "ab"|center(5) }}|{{ "ab".center(5, "*") }}|{{ "abc".center(6, "-") }}', {}),
    ('{% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %}{{ d|list }}{{ d.keys()|list }}{{ d|length }}', {"d": {"b": 2, "a": 1, "C": 3}}),
    ('{{ range(10)|batch(3)|map("join", "")|list }}{{ range(5)|reverse|list }}{{ range(0)|list }}{{ range(2, -2, -1)|list }}', {}),
    ('{{ "é日本"|reverse }}{{ "é日本"[::-1] }}{{ "é日本"[-2:] }}{{ "é日本"|first }}{{ "é日本"|last }}{{ "é日本"|list }}', {}),
    ('{{ [1,2,3]|sum / 2 }}{{ [0.1, 0.2]|sum }}{{ [[1], [2]]|sum(start=[]) }}', {}),
    ('{{ "x" % [1, 2] }}{{ "x" % {"a": 1} }}{{ "%s" % [1, 2] }}{{ "ab" % u }}', {}),
    ('{{ "abc" in ["abc"] }}{{ ["a"] in [["a"]] }}{{ {"a": 1} in [{"a": 1}] }}{{ none in [none] }}{{ 1 in {1: 2} }}{{ (1, 2) in {(1, 2): 3} }}{{ {(1, 2): 3}[(1, 2)] }}', {}),
    ('{{ m.content is none }}{{ m.content is defined }}{{ m.tool_calls is defined }}', {"m": {"content": None}}),
    ('{{ "  \\t\\n x \\n" | trim }}|{{ "--x--"|trim("-") }}|{{ "ab"|trim("") }}|{{ "x\\u200b"|trim }}', {}),
    ('{{ [3, 1]|select|list }}{{ 0|select|list }}{{ none|map("upper")|list }}{{ false|selectattr("a")|list }}', {}),
    # errors (jinja2 raises: mc must raise too)
    ('{{ foo.bar }}', {}),
    ('{{ foo + 1 }}', {}),
    ('{{ foo[0] }}', {}),
    ('{{ foo() }}', {}),
    ('{{ x.y.z }}', {"x": {}}),
    ('{{ l.append(1) }}', {"l": []}),
    ('{{ 1 < "a" }}', {}),
    ('{{ "a" + 1 }}', {}),
    ('{{ 1 + "a" }}', {}),
    ('{{ 1 / 0 }}', {}),
    ('{{ 1 // 0 }}', {}),
    ('{{ [1] < (1,) }}', {}),
    ('{{ 1 in "abc" }}', {}),
    ('{{ "x" in 5 }}', {}),
    ('{{ x|length }}', {"x": 5}),
    ('{{ messages|selectattr("role", "equalto", "user")|length }}', {"messages": [{"role": "user"}]}),
    ('{{ [{"a":1}]|unique|list }}', {}),
    ('{{ x|tojson }}', {}),
    ('{{ u|int }}', {}),
    ('{{ u|indent }}', {}),
    ('{{ u|dictsort }}', {}),
    ('{{ u[1:] }}', {}),
    ('{{ x[1:] }}', {"x": 5}),
    ('{{ -u }}', {}),
    ('{{ raise_exception("boom: " ~ 42) }}', {}),
    ('{% if messages[0].role != "system" %}{{ raise_exception("System message required") }}{% endif %}', {"messages": [{"role": "user"}]}),
    ('{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}', {}),
    ('{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=2) }}', {}),
    ('{% set a, b = [1] %}', {}),
    ('{% set a, b = [1, 2, 3] %}', {}),
    ('{% for x in 5 %}{% endfor %}', {}),
    ('{% for x in none %}{% endfor %}', {}),
    ('{% set ns = namespace() %}{% set ns._x = 1 %}', {}),
    ('{% set x = 1 %}{% set x.y = 2 %}', {}),
    ('{{ namespace(_a=1) }}', {}),
    ('{{ range(100001)|length }}', {}),
    ('{{ "abc".split("") }}', {}),
    ('{{ "%d" % "x" }}', {}),
    ('{{ "%s %s" % (1,) }}', {}),
    ('{{ ["a", "b"]|sum(start="") }}', {}),
    ('{{ 3|select|list }}', {}),
    ('{{ {[1]: 2} }}', {}),
    ('{{ [1] in {} }}', {}),
    # syntax errors (line numbers checked)
    ('{{ 1 + }}', {}),
    ('{% for %}', {}),
    ('line1\n{{ x|nosuchfilter }}', {}),
    ('line1\nline2\n{{ x is nosuchtest }}', {}),
    ('{% if x %}{% endif %}\n{% endfor %}', {}),
    ('{% if x %}\n\nabc', {}),
    ('{% for x in y %}\n{% endif %}', {}),
    ('{{ x', {}),
    ('{{ "abc }}', {}),
    ('a\n{# abc', {}),
    ('{{ (1 }}', {}),
    ('{{ 1) }}', {}),
    ('{{ [1, 2 }}', {}),
    ('{% set 1 = 2 %}', {}),
    ('{% macro m(a=1, b) %}{% endmacro %}', {}),
    ('{% call m %}{% endcall %}', {}),
    ('{% foo %}', {}),
    ('{% endif %}', {}),
    ('{{ }}', {}),
    ('{{ 1 is }}', {}),
    ('{{ x.1a }}', {}),
    ('\n\n{{ a b }}', {}),
    ('{{ f(a=1, 2) }}', {}),
    ('{{ 1 is odd is odd }}', {}),
    ('{% raw %}abc', {}),
    ('{{ "\\xZZ" }}', {}),
]


def write_constructs():
    out = []
    n_err = 0
    for template, context in CONSTRUCTS:
        context = json.loads(json.dumps(context))
        rec = {"template": template, "context": context}
        try:
            rec["expected"] = _compile_jinja_template(template).render(**context)
            assert " at 0x" not in rec["expected"], template
        except AssertionError:
            raise
        except Exception as e:
            rec["error"] = str(e)
            rec["error_type"] = type(e).__name__
            if isinstance(e, jinja2.exceptions.TemplateSyntaxError):
                rec["line"] = e.lineno
            n_err += 1
        out.append(rec)
    with open(os.path.join(OUT, "constructs.jsonl"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"meta": {"count": len(out), **VERSIONS}}) + "\n")
        for rec in out:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print("constructs.jsonl   %3d cases (%d errors)" % (len(out), n_err))


# --- main -----------------------------------------------------------------------------------------------


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8")


def main():
    os.makedirs(OUT, exist_ok=True)
    if not os.path.isdir(TOKENIZERS):
        sys.exit("tokenizers not found at %s (set MC_SHARED)" % TOKENIZERS)
    tok = {name: AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, name)) for name in ("qwen3", "llama3", "mistral")}
    smol = AutoTokenizer.from_pretrained(os.path.dirname(GGUF_PATH), gguf_file=os.path.basename(GGUF_PATH))
    reader = gguf.GGUFReader(GGUF_PATH)
    field = reader.fields["tokenizer.chat_template"]
    smol_template = bytes(field.parts[field.data[0]]).decode("utf-8")
    assert smol_template == smol.chat_template

    specs = [
        ("qwen3", tok["qwen3"], tok["qwen3"].chat_template, "shared/assets/tokenizers/qwen3/tokenizer_config.json",
         ["<|im_end|>"], qwen3_cases),
        ("llama3", tok["llama3"], tok["llama3"].chat_template, "shared/assets/tokenizers/llama3/tokenizer_config.json",
         ["<|eot_id|>"], llama3_cases),
        ("mistral", tok["mistral"], read_text(os.path.join(OUT, "mistral.jinja")),
         "Mistral-7B-Instruct-v0.2 template (tests/data/chat_templates/README.md); tokenizer: shared/assets/tokenizers/mistral",
         ["</s>"], mistral_cases),
        ("mistral_v3", tok["mistral"], read_text(os.path.join(OUT, "mistral_v3.jinja")),
         "mistralai v3 tool-calling template (tests/data/chat_templates/README.md); tokenizer: shared/assets/tokenizers/mistral",
         ["</s>"], mistral_v3_cases),
        ("smollm2", smol, smol_template, "models/SmolLM2-135M-Instruct.Q4_1.gguf tokenizer.chat_template",
         ["<|im_end|>"], smollm2_cases),
        ("chatml_generation", smol, read_text(os.path.join(OUT, "chatml_generation.jinja")),
         "mc test template with {% generation %} tags; tokenizer: SmolLM2 GGUF", ["<|im_end|>"], chatml_generation_cases),
    ]
    for k, (name, tk, template, source, markers, make_cases) in enumerate(specs):
        rng = random.Random(1000 + k)
        write_template_goldens(name, tk, template, source, markers, make_cases(rng),
                               hand_placed=name in ("mistral", "mistral_v3", "chatml_generation"))
    write_constructs()


if __name__ == "__main__":
    main()
