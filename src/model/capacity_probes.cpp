// Activation-based layer profiles; see capacity_probes.h for the definitions.
#include "model/capacity_probes.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/fs.h"
#include "geometry/intrinsic_dimension.h"
#include "kernels/linear.h"
#include "kernels/rms_norm.h"
#include "model/capacity.h"

namespace mc {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return s.substr(a, b - a);
}

const float* weight_named(const Model& m, const std::string& name, int64_t* rows = nullptr) {
  for (const auto& w : m.weights())
    if (w.name == name) {
      if (rows) *rows = w.shape[0];
      MC_CHECK(w.data, "probe model must be loaded with fp32 weights");
      return w.data;
    }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& default_geometry_probes() {
  static const std::vector<std::string> probes = {
      "The river froze early that winter, and the ferry stayed in its shed until March.",
      "A prime number has exactly two divisors: one and itself.",
      "She tuned the old violin by ear before the concert began.",
      "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
      "The committee postponed the vote because two members were ill.",
      "If you multiply any number by zero, the result is zero.",
      "The lighthouse keeper wrote the weather in a leather notebook every evening.",
      "Copper conducts electricity better than iron but worse than silver.",
      "He apologised for the late reply and attached the corrected invoice.",
      "Bees communicate the direction of flowers with a waggle dance.",
      "The recipe calls for two eggs, a cup of flour and a pinch of salt.",
      "In chess, the bishop moves diagonally across any number of free squares.",
      "The train to the coast leaves from platform four at a quarter past nine.",
      "Glaciers carve wide U-shaped valleys as they slide downhill.",
      "Please close the window; the papers keep blowing off the desk.",
      "A sonnet has fourteen lines and usually a fixed rhyme scheme.",
      "The function returns an empty list when the input is empty.",
      "Volcanic ash made the fields unusually fertile for decades.",
      "They planted tomatoes along the south wall where the sun lingers.",
      "Interest on the loan is charged monthly at a fixed rate.",
      "The owl turned its head almost completely around without moving its body.",
      "Salt lowers the freezing point of water, which is why roads are salted.",
      "The museum opened a new wing for maps drawn before the age of satellites.",
      "Why does the moon look larger when it is close to the horizon?",
  };
  return probes;
}

const std::vector<std::string>& default_entropy_probes() {
  static const std::vector<std::string> probes = {
      "The capital city of Norway is",
      "Once upon a time, in a small village by the sea, there lived",
      "def add(a, b):\n    return",
      "The opposite of hot is",
      "My favourite thing about autumn is",
      "2, 4, 6, 8,",
  };
  return probes;
}

std::vector<std::string> probes_load(const std::string& path) {
  if (!path_exists(path)) throw Error("probes", path + ": no such file");
  const std::string text = read_file(path, "probes");
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = trim(text.substr(start, nl - start));
    if (!line.empty()) out.push_back(line);
    start = nl + 1;
  }
  if (out.empty()) throw Error("probes", path + ": no probes (the file is empty or holds only blank lines)");
  return out;
}

std::vector<int64_t> parse_layer_list(const std::string& spec, int64_t n_layers) {
  std::vector<int64_t> out;
  if (spec == "all" || spec.empty()) {
    for (int64_t i = 0; i < n_layers; ++i) out.push_back(i);
    return out;
  }
  auto parse_index = [&](const std::string& s) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
      throw Error("cli", "--layers: '" + s + "' is not a layer index (use e.g. 0,4,8 or 2-5)");
    const int64_t v = std::stoll(s);
    if (v >= n_layers)
      throw Error("cli", str("--layers: layer ", v, " is out of range (the model has ", n_layers, " layers: 0..",
                             n_layers - 1, ")"));
    return v;
  };
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string part = trim(spec.substr(start, comma - start));
    const size_t dash = part.find('-');
    if (dash == std::string::npos) {
      out.push_back(parse_index(part));
    } else {
      const int64_t a = parse_index(part.substr(0, dash)), b = parse_index(part.substr(dash + 1));
      if (b < a) throw Error("cli", "--layers: empty range '" + part + "'");
      for (int64_t i = a; i <= b; ++i) out.push_back(i);
    }
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

ProbeModel probe_model_load(const std::string& model_dir, const std::string& tokenizer_path) {
  if (!is_directory(model_dir)) throw Error("probes", model_dir + ": not a model directory");
  const std::string tok = tokenizer_path.empty() ? model_dir + "/tokenizer.json" : tokenizer_path;
  if (!path_exists(tok))
    throw Error("probes", model_dir + ": no tokenizer.json (give one with --tokenizer FILE)");
  ProbeModel pm{model_dir, Model::load(model_dir), Tokenizer::load(tok)};
  return pm;
}

void probe_pass(const ProbeModel& pm, const std::vector<std::string>& texts, ProbePass& out) {
  if (texts.empty()) throw Error("probes", "no probe texts");
  out.batch = TokenBatch{};
  for (const auto& t : texts) {
    std::vector<int32_t> ids = pm.tokenizer.encode(t, /* add_special_tokens = */ true);
    if (ids.empty()) throw Error("probes", "probe \"" + t + "\" encodes to no token");
    out.batch.add(ids);
  }
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.capture_hidden = true;
  pm.model.forward(out.batch, out.acts, fo);
  out.n_layers = pm.model.config().num_hidden_layers;
  out.hidden = pm.model.config().hidden_size;
}

geometry::MatrixD pooled_hidden(const ProbePass& pass, int64_t layer) {
  const Tensor& h = pass.acts.layer_output(layer);  // (N, D)
  const int64_t P = pass.batch.n_seq(), D = pass.hidden;
  geometry::MatrixD out(P, D);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t b = pass.batch.offsets[static_cast<size_t>(p)], e = pass.batch.offsets[static_cast<size_t>(p + 1)];
    for (int64_t t = b; t < e; ++t) {
      const float* row = h.data() + t * D;
      for (int64_t j = 0; j < D; ++j) out(p, j) += static_cast<double>(row[j]);
    }
    const double inv = 1.0 / static_cast<double>(e - b);
    for (int64_t j = 0; j < D; ++j) out(p, j) *= inv;
  }
  return out;
}

// --- dimension-profile ---------------------------------------------------------------------------------

DimensionProfile dimension_profile(const ProbePass& pass, const std::vector<int64_t>& layers, bool bootstrap_ci) {
  DimensionProfile dp;
  dp.num_layers = pass.n_layers;
  dp.hidden = pass.hidden;
  dp.probe_count = pass.batch.n_seq();
  for (int64_t l : layers) {
    LayerDimension ld;
    ld.layer = l;
    ld.sample_count = dp.probe_count;
    ld.intrinsic_dimension = ld.ci_lo = ld.ci_hi = kNaN;
    if (dp.probe_count < kMinProbesForId) {
      ld.error = str("needs at least ", kMinProbesForId, " probes, got ", dp.probe_count);
    } else {
      const geometry::MatrixD x = pooled_hidden(pass, l);
      try {
        const geometry::TwoNNResult r = geometry::twonn(x.view());
        ld.intrinsic_dimension = r.dimension;
        ld.usable_count = r.n_fit;
        if (bootstrap_ci) {
          const geometry::ConfidenceInterval ci = geometry::twonn_bootstrap(r.mu);
          ld.ci_lo = ci.lo;
          ld.ci_hi = ci.hi;
        }
      } catch (const Error& e) {
        ld.error = e.what();
      }
    }
    dp.layers.push_back(ld);
  }
  std::vector<double> ids;
  for (const auto& ld : dp.layers)
    if (std::isfinite(ld.intrinsic_dimension)) ids.push_back(ld.intrinsic_dimension);
  if (ids.empty()) {
    dp.mean_id = dp.min_id = dp.max_id = dp.compression_ratio = dp.final_id = dp.recovery_ratio = kNaN;
    return dp;
  }
  double sum = 0.0;
  for (double v : ids) sum += v;
  dp.mean_id = sum / static_cast<double>(ids.size());
  dp.min_id = *std::min_element(ids.begin(), ids.end());
  dp.max_id = *std::max_element(ids.begin(), ids.end());
  dp.compression_ratio = dp.min_id / static_cast<double>(dp.hidden);
  dp.final_id = ids.back();
  dp.recovery_ratio = dp.final_id / dp.min_id;
  // Highway: the first layer at the minimum, extended over contiguous neighbours with ID < 2·min.
  size_t at = 0;
  while (!(dp.layers[at].intrinsic_dimension == dp.min_id)) ++at;
  size_t lo = at, hi = at;
  auto low = [&](size_t i) { return std::isfinite(dp.layers[i].intrinsic_dimension) && dp.layers[i].intrinsic_dimension < 2.0 * dp.min_id; };
  while (lo > 0 && low(lo - 1)) --lo;
  while (hi + 1 < dp.layers.size() && low(hi + 1)) ++hi;
  for (size_t i = lo; i <= hi; ++i) dp.highway_layers.push_back(dp.layers[i].layer);
  return dp;
}

// --- entropy-trajectory ----------------------------------------------------------------------------

EntropyTrajectory entropy_trajectory(const ProbeModel& pm, const ProbePass& pass, const std::vector<int64_t>& layers,
                                     bool final_norm) {
  const ModelConfig& c = pm.model.config();
  const ArchSpec& arch = pm.model.arch();
  const int64_t D = pass.hidden, P = pass.batch.n_seq(), L = static_cast<int64_t>(layers.size());
  int64_t V = 0;
  const float* wu = weight_named(pm.model, arch.lm_head + ".weight", &V);
  if (!wu) wu = weight_named(pm.model, arch.embed + ".weight", &V);  // tied embeddings
  const float* norm_w = weight_named(pm.model, arch.final_norm + ".weight");
  MC_CHECK(wu && norm_w, "model has no unembedding or final norm weight");

  // Rows (layer, probe): the last token's state.
  Tensor h(Shape{L * P, D}), logits(Shape{L * P, V});
  for (int64_t li = 0; li < L; ++li) {
    const Tensor& out = pass.acts.layer_output(layers[static_cast<size_t>(li)]);
    for (int64_t p = 0; p < P; ++p) {
      const int64_t last = pass.batch.offsets[static_cast<size_t>(p + 1)] - 1;
      std::copy(out.data() + last * D, out.data() + (last + 1) * D, h.data() + (li * P + p) * D);
    }
  }
  if (final_norm) {
    Tensor rstd(Shape{L * P});
    rms_norm_forward(h.data(), rstd.data(), h.data(), norm_w, L * P, D, static_cast<float>(c.rms_norm_eps));
  }
  linear_forward(logits.data(), h.data(), wu, nullptr, L * P, D, V);

  EntropyTrajectory et;
  et.layers = layers;
  et.vocab_size = V;
  et.max_entropy = std::log(static_cast<double>(V));
  et.final_norm = final_norm;
  et.per_probe.assign(static_cast<size_t>(L), std::vector<double>(static_cast<size_t>(P)));
  for (int64_t li = 0; li < L; ++li) {
    double mean = 0.0;
    for (int64_t p = 0; p < P; ++p) {
      const float* z = logits.data() + (li * P + p) * V;
      double zmax = -std::numeric_limits<double>::infinity();
      for (int64_t v = 0; v < V; ++v) zmax = std::max(zmax, static_cast<double>(z[v]));
      double se = 0.0, sez = 0.0;
      for (int64_t v = 0; v < V; ++v) {
        const double d = static_cast<double>(z[v]) - zmax;
        const double e = std::exp(d);
        se += e;
        sez += e * d;
      }
      // H = log Σe^{z−m} − Σ p (z − m), p = e^{z−m}/Σe^{z−m}.
      const double H = std::log(se) - sez / se;
      et.per_probe[static_cast<size_t>(li)][static_cast<size_t>(p)] = H;
      mean += H;
    }
    mean /= static_cast<double>(P);
    et.entropy.push_back(mean);
    et.normalized.push_back(mean / et.max_entropy);
  }
  // Trajectory features over the index i = 0..n−1 of the selected layers.
  const size_t n = et.entropy.size();
  if (n < 2) {
    et.slope = et.peak_layer_fraction = et.monotonicity = et.early_late_ratio = kNaN;
    return et;
  }
  double mi = 0.0, mh = 0.0;
  for (size_t i = 0; i < n; ++i) {
    mi += static_cast<double>(i);
    mh += et.entropy[i];
  }
  mi /= static_cast<double>(n);
  mh /= static_cast<double>(n);
  double sxy = 0.0, sxx = 0.0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (static_cast<double>(i) - mi) * (et.entropy[i] - mh);
    sxx += (static_cast<double>(i) - mi) * (static_cast<double>(i) - mi);
  }
  et.slope = sxy / sxx;
  const size_t peak = static_cast<size_t>(std::max_element(et.entropy.begin(), et.entropy.end()) - et.entropy.begin());
  et.peak_layer_fraction = static_cast<double>(peak) / static_cast<double>(n - 1);
  std::vector<double> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = static_cast<double>(i);
  et.monotonicity = spearman(idx, et.entropy);
  const size_t half = n / 2;
  double early = 0.0, late = 0.0;
  for (size_t i = 0; i < half; ++i) early += et.entropy[i];
  for (size_t i = half; i < n; ++i) late += et.entropy[i];
  early /= static_cast<double>(half);
  late /= static_cast<double>(n - half);
  et.early_late_ratio = late > 1e-12 ? early / late : kNaN;
  return et;
}

// --- expansion-ratio -------------------------------------------------------------------------------

std::vector<ExpansionResult> expansion_ratio(const ProbeModel& pm, const std::vector<std::string>& prompts) {
  std::vector<ExpansionResult> out;
  ProbePass pass;
  for (const auto& prompt : prompts) {
    probe_pass(pm, {prompt}, pass);
    ExpansionResult r;
    r.prompt = prompt;
    r.token_count = pass.batch.n_tokens();
    r.peak_dim = r.final_dim = r.expansion_ratio = kNaN;
    if (r.token_count < kMinTokensForExpansion) {
      r.classification = "insufficient_tokens";
      r.layer_dims.assign(static_cast<size_t>(pass.n_layers), kNaN);
      out.push_back(r);
      continue;
    }
    r.classification = "ok";
    const int64_t T = r.token_count, D = pass.hidden;
    for (int64_t l = 0; l < pass.n_layers; ++l) {
      const Tensor& h = pass.acts.layer_output(l);  // (T, D)
      double id = kNaN;
      try {
        id = geometry::twonn(geometry::MatrixViewF(h.data(), T, D)).dimension;
      } catch (const Error&) {
        // too few distinct points or degenerate ratios at this layer: NaN
      }
      r.layer_dims.push_back(id);
    }
    for (size_t l = 0; l < r.layer_dims.size(); ++l)
      if (std::isfinite(r.layer_dims[l]) && (r.peak_layer < 0 || r.layer_dims[l] > r.peak_dim)) {
        r.peak_layer = static_cast<int64_t>(l);
        r.peak_dim = r.layer_dims[l];
      }
    r.final_dim = r.layer_dims.back();
    if (r.peak_dim > 0 && r.final_dim > 0) r.expansion_ratio = r.peak_dim / r.final_dim;
    out.push_back(r);
  }
  return out;
}

// --- layer CKA -------------------------------------------------------------------------------------

LayerCka layer_cka(const ProbePass& a, const std::vector<int64_t>& layers_a, const ProbePass& b,
                   const std::vector<int64_t>& layers_b, const geometry::CkaOptions& options) {
  if (a.batch.n_seq() != b.batch.n_seq())
    throw Error("cka", str("probe counts differ: ", a.batch.n_seq(), " vs ", b.batch.n_seq()));
  LayerCka r;
  r.layers_a = layers_a;
  r.layers_b = layers_b;
  r.probe_count = a.batch.n_seq();
  r.hidden_a = a.hidden;
  r.hidden_b = b.hidden;
  r.cka = geometry::MatrixD(static_cast<int64_t>(layers_a.size()), static_cast<int64_t>(layers_b.size()));
  std::vector<geometry::MatrixD> pb;
  for (int64_t l : layers_b) pb.push_back(pooled_hidden(b, l));
  for (size_t i = 0; i < layers_a.size(); ++i) {
    const geometry::MatrixD pa = pooled_hidden(a, layers_a[i]);
    for (size_t j = 0; j < layers_b.size(); ++j)
      r.cka(static_cast<int64_t>(i), static_cast<int64_t>(j)) = geometry::cka(pa.view(), pb[j].view(), options).cka;
  }
  return r;
}

}  // namespace mc
