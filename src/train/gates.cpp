// Post-training gates (spec/training.md §8). See gates.h for the formulas.
#include "train/gates.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "geometry/cka.h"
#include "geometry/ranks.h"
#include "train/stopping.h"

namespace mc::train {
namespace {

using geometry::kEpsF32;
using geometry::kSqrtEpsF32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T>
CkaLayerBound cka_layer_bound_impl(geometry::MatrixView<T> base, geometry::MatrixView<T> adapted, int64_t layer) {
  if (base.rows != adapted.rows || base.cols != adapted.cols)
    throw Error("cka", str("layer ", layer, ": base (", base.rows, ", ", base.cols, ") and adapted (", adapted.rows,
                           ", ", adapted.cols, ") activations differ in shape"));
  CkaLayerBound b;
  b.layer = layer;
  geometry::CkaOptions o;
  o.kernel = geometry::CkaKernel::Linear;
  o.estimator = geometry::HsicEstimator::Biased;
  b.cka = geometry::cka(base, adapted, o).cka;
  const geometry::MatrixD kb = geometry::gram_linear(base);     // (N, N) centred
  const geometry::MatrixD ka = geometry::gram_linear(adapted);  // (N, N) centred
  double diff = 0.0, ref = 0.0;
  for (size_t i = 0; i < kb.data.size(); ++i) {
    diff += (ka.data[i] - kb.data[i]) * (ka.data[i] - kb.data[i]);
    ref += kb.data[i] * kb.data[i];
  }
  b.gram_epsilon = ref > 0.0 ? std::sqrt(diff / ref) : kNaN;
  b.bound = (1.0 - b.gram_epsilon) / (1.0 + b.gram_epsilon);
  return b;
}

/// Length in bytes of the Unicode whitespace character at s[i] (Python's str.isspace set), 0 if none.
size_t whitespace_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xc2 && (at(1) == 0x85 || at(1) == 0xa0)) return 2;                   // U+0085, U+00A0
  if (c == 0xe1 && at(1) == 0x9a && at(2) == 0x80) return 3;                     // U+1680
  if (c == 0xe2 && at(1) == 0x80 && (at(2) <= 0x8a && at(2) >= 0x80)) return 3;  // U+2000–U+200A
  if (c == 0xe2 && at(1) == 0x80 && (at(2) == 0xa8 || at(2) == 0xa9 || at(2) == 0xaf)) return 3;  // 2028 2029 202F
  if (c == 0xe2 && at(1) == 0x81 && at(2) == 0x9f) return 3;                     // U+205F
  if (c == 0xe3 && at(1) == 0x80 && at(2) == 0x80) return 3;                     // U+3000
  return 0;
}

template <typename Item, typename Key>
double repetition_rate(std::span<const Item> items, int64_t n, Key key) {
  MC_CHECK(n >= 1, "n-gram order must be >= 1, got ", n);
  const auto len = static_cast<int64_t>(items.size());
  if (len < n) return 0.0;
  const int64_t total = len - n + 1;
  std::set<decltype(key(items.subspan(0, 1)))> unique;
  for (int64_t i = 0; i < total; ++i) unique.insert(key(items.subspan(static_cast<size_t>(i), static_cast<size_t>(n))));
  return 1.0 - static_cast<double>(unique.size()) / static_cast<double>(total);
}

GateCheck make_check(std::string name, bool required, double value, double threshold) {
  GateCheck c;
  c.name = std::move(name);
  c.required = required;
  c.value = value;
  c.threshold = threshold;
  return c;
}

}  // namespace

SpectralBoundCheck spectral_bound_check(double ratio, int64_t n, int64_t m) {
  MC_CHECK(n >= 1 && m >= 1, "module shape (", m, ", ", n, ")");
  SpectralBoundCheck c;
  c.ratio = ratio;
  c.tolerance = 1.0 + std::sqrt(static_cast<double>(std::max(n, m))) * kEpsF32;
  c.ok = ratio <= c.tolerance;  // NaN fails
  return c;
}

SpectralBounds spectral_bounds(std::span<const SpectralBoundCheck> modules) {
  SpectralBounds s;
  s.n_modules = static_cast<int64_t>(modules.size());
  s.max_ratio = kNaN;
  for (size_t i = 0; i < modules.size(); ++i) {
    if (!modules[i].ok) ++s.n_failed;
    if (std::isnan(s.max_ratio) && s.worst >= 0) continue;  // a NaN ratio stays the worst
    if (s.worst < 0 || std::isnan(modules[i].ratio) || modules[i].ratio > s.max_ratio) {
      s.max_ratio = modules[i].ratio;
      s.worst = static_cast<int64_t>(i);
    }
  }
  s.ok = s.n_modules > 0 && s.n_failed == 0;
  return s;
}

CkaLayerBound cka_layer_bound(geometry::MatrixViewF base, geometry::MatrixViewF adapted, int64_t layer) {
  return cka_layer_bound_impl(base, adapted, layer);
}
CkaLayerBound cka_layer_bound(geometry::MatrixViewD base, geometry::MatrixViewD adapted, int64_t layer) {
  return cka_layer_bound_impl(base, adapted, layer);
}

CkaBoundBundle cka_bound_bundle(std::span<const CkaLayerBound> layers) {
  CkaBoundBundle b;
  b.min_cka = b.mean_cka = b.min_margin = kNaN;
  if (layers.empty()) return b;
  b.resolved = true;
  double sum = 0.0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const CkaLayerBound& l = layers[i];
    if (!std::isfinite(l.cka) || !std::isfinite(l.bound)) b.resolved = false;
    sum += l.cka;
    if (i == 0 || l.cka < b.min_cka) {
      b.min_cka = l.cka;
      b.min_cka_layer = l.layer;
    }
    if (i == 0 || l.margin() < b.min_margin) {
      b.min_margin = l.margin();
      b.min_margin_layer = l.layer;
    }
  }
  b.mean_cka = sum / static_cast<double>(layers.size());
  b.ok = b.resolved && b.min_margin >= -kSqrtEpsF32;
  return b;
}

std::optional<int64_t> degeneration_ngram_order(double r_eff) {
  if (!(std::isfinite(r_eff) && r_eff > 1.0)) return std::nullopt;
  const double n = std::ceil(2.0 * std::log(kDegenerationHorizonTokens) / std::log(r_eff));
  return std::max<int64_t>(1, static_cast<int64_t>(n));
}

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0, start = std::string_view::npos;
  while (i < text.size()) {
    const size_t ws = whitespace_len(text, i);
    if (ws > 0) {
      if (start != std::string_view::npos) words.push_back(text.substr(start, i - start));
      start = std::string_view::npos;
      i += ws;
    } else {
      if (start == std::string_view::npos) start = i;
      ++i;
    }
  }
  if (start != std::string_view::npos) words.push_back(text.substr(start));
  return words;
}

double word_repetition_rate(std::string_view text, int64_t n) {
  const std::vector<std::string_view> words = split_words(text);
  return repetition_rate(std::span<const std::string_view>(words), n, [](std::span<const std::string_view> g) {
    return std::vector<std::string_view>(g.begin(), g.end());
  });
}

double token_repetition_rate(std::span<const int32_t> ids, int64_t n) {
  return repetition_rate(ids, n, [](std::span<const int32_t> g) { return std::vector<int32_t>(g.begin(), g.end()); });
}

Degeneration degeneration(std::span<const std::string> texts, int64_t order) {
  Degeneration d;
  d.order = order;
  d.n_texts = static_cast<int64_t>(texts.size());
  double sum = 0.0;
  for (const std::string& t : texts) {
    const double rate = word_repetition_rate(t, order);
    d.max_rate = std::max(d.max_rate, rate);
    sum += rate;
  }
  if (!texts.empty()) d.mean_rate = sum / static_cast<double>(texts.size());
  return d;
}

PipelineGateResult pipeline_gate_v1(const PipelineGateInputs& in) {
  PipelineGateResult r;
  auto set = [](GateCheck& c, bool resolved, bool pass, std::string detail) {
    c.status = !resolved ? "unresolved" : (pass ? "passed" : "failed");
    c.detail = std::move(detail);
  };

  {  // spectral_bounds (required)
    const SpectralBounds s = spectral_bounds(in.spectral);
    GateCheck c = make_check("spectral_bounds", true, s.max_ratio, kNaN);
    if (s.worst >= 0) c.threshold = in.spectral[static_cast<size_t>(s.worst)].tolerance;
    set(c, s.n_modules > 0, s.ok,
        s.n_modules == 0 ? "no module measured"
                         : str(s.n_failed, " of ", s.n_modules, " modules above 1 + sqrt(max(n,m))*eps"));
    r.checks.push_back(std::move(c));
  }
  {  // cka_bound_bundle (required)
    GateCheck c = make_check("cka_bound_bundle", true, in.cka ? in.cka->min_margin : kNaN, -kSqrtEpsF32);
    const bool resolved = in.cka && in.cka->resolved;
    set(c, resolved, resolved && in.cka->ok,
        !in.cka ? "not measured"
                : (!resolved ? "no finite CKA/bound" : str("min_L(CKA - bound) at layer ", in.cka->min_margin_layer,
                                                          ", min_cka=", in.cka->min_cka)));
    r.checks.push_back(std::move(c));
  }
  {  // safety_cap_stop_reason
    GateCheck c = make_check("safety_cap_stop_reason", false, kNaN, kNaN);
    set(c, !in.stop_reason.empty(), in.stop_reason.rfind("safety_cap", 0) != 0,
        in.stop_reason.empty() ? "no stop reason" : in.stop_reason);
    r.checks.push_back(std::move(c));
  }
  {  // adapter_saturation: median ratio < 1
    const double med = median(in.saturation_ratios);
    GateCheck c = make_check("adapter_saturation", false, med, 1.0);
    set(c, std::isfinite(med), med < 1.0, str("median over ", in.saturation_ratios.size(), " modules"));
    r.checks.push_back(std::move(c));
  }
  {  // max_effective_gain_ratio ≤ 1 + √ε
    const double g = in.max_effective_gain_ratio;
    GateCheck c = make_check("max_effective_gain_ratio", false, g, 1.0 + kSqrtEpsF32);
    set(c, std::isfinite(g), g <= 1.0 + kSqrtEpsF32, "max eta_step/eta_ceiling over the run");
    r.checks.push_back(std::move(c));
  }
  for (const GateCheck& c : r.checks)
    if (c.status == "failed" || (c.status == "unresolved" && c.required)) r.failure_modes.push_back(c.name);
  r.passed = r.failure_modes.empty();
  return r;
}

}  // namespace mc::train
