// PEFT adapter reading and per-module ΔW geometry. See capacity_adapter.h for the definitions.
#include "model/capacity_adapter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"
#include "model/capacity.h"

namespace mc {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::string kKeyPrefix = "base_model.model.";
const std::string kSuffixA = ".lora_A.weight";
const std::string kSuffixB = ".lora_B.weight";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A positive number from the config (JSON number; integers for ranks).
double config_number(const Json& j, const std::string& key, const std::string& file, bool integer) {
  if (!j.contains(key)) throw Error("adapter", file + ": missing \"" + key + "\"");
  const Json& v = j[key];
  if (integer ? !v.is_number_integer() : !v.is_number())
    throw Error("adapter", file + ": \"" + key + "\" must be " + (integer ? "an integer" : "a number"));
  double x = v.get<double>();
  if (!(x > 0.0) || !std::isfinite(x)) throw Error("adapter", file + ": \"" + key + "\" must be positive");
  return x;
}

bool config_bool(const Json& j, const std::string& key, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) throw Error("adapter", file + ": \"" + key + "\" must be true or false");
  return j[key].get<bool>();
}

std::string shape_string(const std::vector<int64_t>& sh) {
  std::string s = "(";
  for (size_t i = 0; i < sh.size(); ++i) s += (i ? ", " : "") + std::to_string(sh[i]);
  return s + ")";
}

double frobenius_f(const std::vector<float>& v) {
  double s = 0.0;
  for (float x : v) s += static_cast<double>(x) * static_cast<double>(x);
  return std::sqrt(s);
}

/// ‖Sᵀ X‖_F² / q where S = columns [c0, c0+q) of `basis` (rows, d) and X = the first q columns of
/// `x` (rows, k); both row-major with the given column counts.
double subspace_overlap_cols(const geometry::MatrixD& basis, int64_t c0, const geometry::MatrixD& x, int64_t q) {
  double total = 0.0;
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < q; ++j) {
      double d = 0.0;
      for (int64_t r = 0; r < basis.rows; ++r) d += basis(r, c0 + i) * x(r, j);
      total += d * d;
    }
  return total / static_cast<double>(q);
}

/// The same for row bases (Vᵀ layouts): rows [r0, r0+q) of `basis` (d, cols) against rows [0, q) of x.
double subspace_overlap_rows(const geometry::MatrixD& basis, int64_t r0, const geometry::MatrixD& x, int64_t q) {
  double total = 0.0;
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < q; ++j) {
      double d = 0.0;
      for (int64_t c = 0; c < basis.cols; ++c) d += basis(r0 + i, c) * x(j, c);
      total += d * d;
    }
  return total / static_cast<double>(q);
}

}  // namespace

std::string peft_pattern_key(const std::vector<std::string>& keys, const std::string& module) {
  for (const auto& key : keys) {
    const std::string re = "(?:.*\\.)?(?:" + key + ")$";
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.c_str()), re.size(), PCRE2_ANCHORED, &err, &off,
                                     nullptr);
    if (!code) throw Error("adapter", "invalid pattern '" + key + "' in rank_pattern / alpha_pattern");
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(module.c_str()), module.size(), 0, 0, md, nullptr);
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    if (rc >= 0) return key;
  }
  return "";
}

PeftAdapter peft_adapter_load(const std::string& dir) {
  if (!is_directory(dir)) throw Error("adapter", dir + ": not a directory (a PEFT adapter is a directory)");
  PeftAdapter a;
  a.path = dir;
  const std::string cfg_path = dir + "/adapter_config.json";
  if (!path_exists(cfg_path)) throw Error("adapter", dir + ": no adapter_config.json (not a PEFT adapter)");
  // Ordered parse: PEFT picks the first matching rank_pattern / alpha_pattern key in file order.
  const std::string text = read_file(cfg_path, "adapter");
  OrderedJson cfg;
  try {
    cfg = OrderedJson::parse(text);
  } catch (const std::exception& e) {
    throw Error("adapter", cfg_path + ": invalid JSON (" + std::string(e.what()) + ")");
  }
  if (!cfg.is_object()) throw Error("adapter", cfg_path + ": not a JSON object");
  a.config = Json::parse(cfg.dump());
  if (cfg.contains("peft_type") && cfg["peft_type"] != "LORA")
    throw Error("adapter", cfg_path + ": peft_type is " + cfg["peft_type"].dump() + ", only LORA adapters are supported");
  if (config_bool(a.config, "use_dora", cfg_path))
    throw Error("adapter", cfg_path + ": DoRA adapters (use_dora) are not supported: ΔW is not s·B·A");
  if (config_bool(a.config, "fan_in_fan_out", cfg_path))
    throw Error("adapter", cfg_path + ": fan_in_fan_out adapters (GPT-2 Conv1D layout) are not supported");
  a.r = static_cast<int64_t>(config_number(a.config, "r", cfg_path, true));
  a.lora_alpha = config_number(a.config, "lora_alpha", cfg_path, false);
  a.use_rslora = config_bool(a.config, "use_rslora", cfg_path);
  if (cfg.contains("base_model_name_or_path") && cfg["base_model_name_or_path"].is_string())
    a.base_model_name_or_path = cfg["base_model_name_or_path"].get<std::string>();
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (!cfg.contains(key) || cfg[key].is_null()) continue;
    if (!cfg[key].is_object()) throw Error("adapter", cfg_path + ": \"" + key + "\" must be an object");
    auto& dst = std::string(key) == "rank_pattern" ? a.rank_pattern : a.alpha_pattern;
    for (const auto& [k, v] : cfg[key].items()) {
      if (!v.is_number() || !(v.get<double>() > 0.0))
        throw Error("adapter", cfg_path + ": " + key + "[\"" + k + "\"] must be a positive number");
      dst.emplace_back(k, v.get<double>());
    }
  }
  auto match = [](const std::vector<std::pair<std::string, double>>& pattern, const std::string& module,
                  double fallback) {
    std::vector<std::string> keys;
    for (const auto& kv : pattern) keys.push_back(kv.first);
    const std::string k = peft_pattern_key(keys, module);
    for (const auto& kv : pattern)
      if (!k.empty() && kv.first == k) return kv.second;
    return fallback;
  };

  a.weights_path = dir + "/adapter_model.safetensors";
  if (!path_exists(a.weights_path)) {
    if (path_exists(dir + "/adapter_model.bin"))
      throw Error("adapter", dir + ": only adapter_model.bin (a pickle) found; mc reads adapter_model.safetensors "
                                   "(save with safe_serialization=True)");
    throw Error("adapter", dir + ": no adapter_model.safetensors");
  }
  a.file = std::make_unique<SafetensorsFile>(SafetensorsFile::open(a.weights_path));

  std::map<std::string, LoraModule> mods;
  for (const auto& t : a.file->tensors()) {
    const std::string& name = t.name;
    const bool is_a = ends_with(name, kSuffixA), is_b = ends_with(name, kSuffixB);
    if (name.find("lora_embedding_") != std::string::npos)
      throw Error("adapter", a.weights_path + ": " + name + ": embedding LoRA is not supported");
    if (name.find("lora_magnitude_vector") != std::string::npos)
      throw Error("adapter", a.weights_path + ": " + name + ": DoRA magnitude vectors are not supported");
    if (!is_a && !is_b) {
      a.other_tensors++;
      continue;
    }
    if (name.rfind(kKeyPrefix, 0) != 0)
      throw Error("adapter", a.weights_path + ": " + name + ": LoRA key does not start with \"" + kKeyPrefix + "\"");
    const std::string module =
        name.substr(kKeyPrefix.size(), name.size() - kKeyPrefix.size() - (is_a ? kSuffixA : kSuffixB).size());
    if (module.empty()) throw Error("adapter", a.weights_path + ": " + name + ": empty module path");
    if (t.shape.size() != 2 || t.shape[0] <= 0 || t.shape[1] <= 0)
      throw Error("adapter", a.weights_path + ": " + name + ": expected a non-empty 2-D tensor");
    if (!(t.dtype == Dtype::F32 || t.dtype == Dtype::F16 || t.dtype == Dtype::BF16 || t.dtype == Dtype::F64))
      throw Error("adapter", a.weights_path + ": " + name + ": dtype " + std::string(dtype_name(t.dtype)) +
                                 " is not a floating-point type");
    LoraModule& m = mods[module];
    m.module = module;
    if (is_a) {
      m.a_name = name;
      m.r = t.shape[0];
      m.in = t.shape[1];
    } else {
      m.b_name = name;
      m.out = t.shape[0];
      if (m.r != 0 && m.r != t.shape[1])
        throw Error("adapter", a.weights_path + ": " + module + ": lora_A has " + std::to_string(m.r) +
                                   " rows but lora_B has " + std::to_string(t.shape[1]) + " columns");
      if (m.a_name.empty()) m.r = t.shape[1];
    }
  }
  if (mods.empty()) throw Error("adapter", a.weights_path + ": no lora_A / lora_B tensors");
  for (auto& [module, m] : mods) {
    if (m.a_name.empty() || m.b_name.empty())
      throw Error("adapter", a.weights_path + ": " + module + ": has " + (m.a_name.empty() ? "lora_B" : "lora_A") +
                                 " but no " + (m.a_name.empty() ? "lora_A" : "lora_B"));
    const auto* tb = a.file->find(m.b_name);
    if (tb->shape[1] != m.r)
      throw Error("adapter", a.weights_path + ": " + module + ": lora_A has " + std::to_string(m.r) +
                                 " rows but lora_B has " + std::to_string(tb->shape[1]) + " columns");
    const double r_cfg = match(a.rank_pattern, module, static_cast<double>(a.r));
    if (static_cast<double>(m.r) != r_cfg)
      throw Error("adapter", a.weights_path + ": " + module + ": tensors have rank " + std::to_string(m.r) +
                                 " but adapter_config.json gives r = " + str(r_cfg));
    m.alpha = match(a.alpha_pattern, module, a.lora_alpha);
    m.scale = a.use_rslora ? m.alpha / std::sqrt(static_cast<double>(m.r)) : m.alpha / static_cast<double>(m.r);
    m.layer = capacity_layer_of(module);
    m.proj = capacity_module_of(module);
    a.modules.push_back(m);
  }
  return a;
}

std::vector<double> lora_delta(const PeftAdapter& adapter, const LoraModule& m) {
  const std::vector<float> a = adapter.file->to_f32(*adapter.file->find(m.a_name));  // (r, in)
  const std::vector<float> b = adapter.file->to_f32(*adapter.file->find(m.b_name));  // (out, r)
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
  std::vector<double> delta(static_cast<size_t>(m.out * m.in), 0.0);  // (out, in)
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, /* M = */ static_cast<int>(m.out),
              /* N = */ static_cast<int>(m.in), /* K = */ static_cast<int>(m.r), /* alpha = */ m.scale, bd.data(),
              /* lda = */ static_cast<int>(m.r), ad.data(), /* ldb = */ static_cast<int>(m.in), /* beta = */ 0.0,
              delta.data(), /* ldc = */ static_cast<int>(m.in));
  return delta;
}

void lora_check_base(const PeftAdapter& adapter, const SafetensorsModel& base) {
  for (const auto& m : adapter.modules) {
    const std::string wname = m.module + ".weight";
    const auto* e = base.find(wname);
    if (!e)
      throw Error("adapter", adapter.path + " does not fit " + base.path() + ": the base has no " + wname +
                                 " (an adapter for another model?)");
    const auto& sh = e->info->shape;
    if (sh.size() != 2 || sh[0] != m.out || sh[1] != m.in)
      throw Error("adapter", adapter.path + " does not fit " + base.path() + ": " + wname + " is " +
                                 shape_string(sh) + " but the adapter's ΔW is (" + std::to_string(m.out) + ", " +
                                 std::to_string(m.in) + ") (an adapter for another model?)");
  }
}

std::vector<LoraModuleGeometry> lora_analyze(const PeftAdapter& adapter, const SafetensorsModel* base,
                                             const LoraAnalysisOptions& options) {
  if (base) lora_check_base(adapter, *base);
  std::vector<LoraModuleGeometry> out;
  for (const auto& m : adapter.modules) {
    LoraModuleGeometry g;
    g.mod = m;
    g.a_frobenius = frobenius_f(adapter.file->to_f32(*adapter.file->find(m.a_name)));
    g.b_frobenius = frobenius_f(adapter.file->to_f32(*adapter.file->find(m.b_name)));
    const std::vector<double> delta = lora_delta(adapter, m);  // (out, in)
    const geometry::MatrixViewD dview(delta.data(), m.out, m.in);
    const bool geometry_with_base = base && options.with_base_geometry;
    geometry::Svd dsvd;
    if (geometry_with_base) {
      dsvd = geometry::svd_thin(dview);
    } else {
      dsvd.s = geometry::singular_values(dview);
    }
    const int64_t d = std::min(m.out, m.in);
    const int64_t keep = std::min(m.r, d);
    g.delta_singular_values.assign(dsvd.s.begin(), dsvd.s.begin() + keep);
    g.delta_frobenius = geometry::frobenius_norm(dsvd.s);
    g.delta_spectral = geometry::spectral_norm(dsvd.s);
    g.delta_effective_rank = geometry::shannon_effective_rank(dsvd.s, geometry::ErankWeights::Energy);
    g.delta_rank = geometry::numerical_rank(dsvd.s, m.out, m.in, geometry::kEpsF32);

    if (base) {
      g.has_base = true;
      const std::vector<float> w = base->to_f32(m.module + ".weight");  // (out, in)
      const geometry::MatrixViewF wview(w.data(), m.out, m.in);
      if (!geometry_with_base) {
        const std::vector<double> s = geometry::singular_values(wview);
        g.base_sigma_max = geometry::spectral_norm(s);
        g.base_frobenius = geometry::frobenius_norm(s);
        g.spectral_ratio = g.base_sigma_max > 0 ? g.delta_spectral / g.base_sigma_max : kNaN;
        g.relative_change = g.base_frobenius > 0 ? g.delta_frobenius / g.base_frobenius : kNaN;
        out.push_back(std::move(g));
        continue;
      }
      const geometry::Svd wsvd = geometry::svd_thin(wview);  // U (m, d), s (d), Vᵀ (d, n)
      std::vector<double> wp(delta);                        // W + ΔW (out, in)
      for (size_t i = 0; i < wp.size(); ++i) wp[i] += static_cast<double>(w[i]);
      const geometry::Svd psvd = geometry::svd_thin(geometry::MatrixViewD(wp.data(), m.out, m.in));

      g.base_sigma_max = geometry::spectral_norm(wsvd.s);
      g.base_frobenius = geometry::frobenius_norm(wsvd.s);
      g.spectral_ratio = g.base_sigma_max > 0 ? g.delta_spectral / g.base_sigma_max : kNaN;
      g.relative_change = g.base_frobenius > 0 ? g.delta_frobenius / g.base_frobenius : kNaN;
      g.rank_before = geometry::numerical_rank(wsvd.s, m.out, m.in, geometry::kEpsF32);
      g.rank_after = geometry::numerical_rank(psvd.s, m.out, m.in, geometry::kEpsF32);
      g.condition_ratio = geometry::condition_ratio(psvd.s, wsvd.s, m.out, m.in, geometry::kEpsF32);

      const int64_t q = g.delta_rank;
      g.left_chance = static_cast<double>(q) / static_cast<double>(m.out);
      g.right_chance = static_cast<double>(q) / static_cast<double>(m.in);
      if (q > 0) {
        g.left_top_overlap = subspace_overlap_cols(wsvd.u, 0, dsvd.u, q);
        g.left_tail_overlap = subspace_overlap_cols(wsvd.u, d - q, dsvd.u, q);
        g.right_top_overlap = subspace_overlap_rows(wsvd.vt, 0, dsvd.vt, q);
        g.right_tail_overlap = subspace_overlap_rows(wsvd.vt, d - q, dsvd.vt, q);
        // surface.md §7.1: ‖U_rᵀΔW‖_F² = Σ_j σ_j² ‖U_rᵀ u_j‖² over ΔW's singular triplets.
        double inside = 0.0, total = 0.0;
        for (int64_t j = 0; j < q; ++j) {
          double proj = 0.0;
          for (int64_t i = 0; i < g.rank_before; ++i) {
            double dot = 0.0;
            for (int64_t r = 0; r < m.out; ++r) dot += wsvd.u(r, i) * dsvd.u(r, j);
            proj += dot * dot;
          }
          const double s2 = dsvd.s[static_cast<size_t>(j)] * dsvd.s[static_cast<size_t>(j)];
          inside += s2 * proj;
          total += s2;
        }
        g.subspace_overlap = std::sqrt(std::min(1.0, inside / total));
        g.null_space_component = std::sqrt(std::max(0.0, 1.0 - g.subspace_overlap * g.subspace_overlap));
        // Weyl utilization.
        double maxdiff = 0.0;
        for (int64_t i = 0; i < d; ++i)
          maxdiff = std::max(maxdiff, std::fabs(psvd.s[static_cast<size_t>(i)] - wsvd.s[static_cast<size_t>(i)]));
        g.weyl_utilization = maxdiff / g.delta_spectral;
      } else {
        g.left_top_overlap = g.left_tail_overlap = g.right_top_overlap = g.right_tail_overlap = kNaN;
        g.subspace_overlap = g.null_space_component = g.weyl_utilization = kNaN;
      }
      // Amplification CV over W's top right singular directions: a_i = ‖ΔW v_i‖₂.
      const int64_t ka = std::min(kAmplificationTopK, d);
      std::vector<double> amp(static_cast<size_t>(ka));
      for (int64_t i = 0; i < ka; ++i) {
        double s2 = 0.0;
        for (int64_t r = 0; r < m.out; ++r) {
          double dot = 0.0;
          for (int64_t c = 0; c < m.in; ++c) dot += delta[static_cast<size_t>(r * m.in + c)] * wsvd.vt(i, c);
          s2 += dot * dot;
        }
        amp[static_cast<size_t>(i)] = std::sqrt(s2);
      }
      double mean = 0.0, var = 0.0;
      for (double x : amp) mean += x;
      mean /= static_cast<double>(ka);
      for (double x : amp) var += (x - mean) * (x - mean);
      var /= static_cast<double>(ka);
      g.amplification_cv = mean > 0 ? std::sqrt(var) / mean : kNaN;
      // Intruder dimensions: top-k left singular vectors of W + ΔW against all of W's.
      const int64_t ki = std::min(kIntruderTopK, d);
      g.min_intruder_similarity = kNaN;
      for (int64_t i = 0; i < ki; ++i) {
        double best = 0.0;
        for (int64_t j = 0; j < d; ++j) {
          double dot = 0.0;
          for (int64_t r = 0; r < m.out; ++r) dot += psvd.u(r, i) * wsvd.u(r, j);
          best = std::max(best, std::fabs(dot));
        }
        if (best < kIntruderEps) g.intruder_dimensions++;
        if (!(best >= g.min_intruder_similarity)) g.min_intruder_similarity = best;
      }
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace mc
