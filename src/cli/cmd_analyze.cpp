// `mc analyze ...` and `mc adapter analyze`: argument parsing and printing only. The measurements are
// src/geometry (estimators) and src/model/capacity*.h (walking models, adapters and activation files).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/format.h"
#include "cli/plot_svg.h"
#include "cli/table.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "geometry/cka.h"
#include "geometry/intrinsic_dimension.h"
#include "geometry/ranks.h"
#include "io/safetensors.h"
#include "model/capacity.h"
#include "model/capacity_activations.h"
#include "model/capacity_adapter.h"
#include "model/capacity_probes.h"

namespace mc::cli {

int cmd_analyze_intrinsic_dimension(const std::vector<std::string>& argv);
int cmd_analyze_cka(const std::vector<std::string>& argv);
int cmd_analyze_lora_svd(const std::vector<std::string>& argv);
int cmd_adapter_analyze(const std::vector<std::string>& argv);
int cmd_analyze_spectral_trajectory(const std::vector<std::string>& argv);
int cmd_analyze_dimension_profile(const std::vector<std::string>& argv);
int cmd_analyze_entropy_trajectory(const std::vector<std::string>& argv);
int cmd_analyze_expansion_ratio(const std::vector<std::string>& argv);

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

geometry::MatrixViewD view_of(const geometry::DenseMatrix& m) { return {m.data.data(), m.rows, m.cols}; }

double mean_finite(const std::vector<double>& v) {
  double s = 0.0;
  int64_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      s += x;
      ++n;
    }
  return n ? s / static_cast<double>(n) : kNaN;
}

/// The base model for an adapter: --base, else the adapter config's base_model_name_or_path when that
/// is an existing local directory. Empty when neither.
std::string resolve_base(const Args& args, const PeftAdapter& a) {
  if (auto b = args.value("base")) return *b;
  if (!a.base_model_name_or_path.empty() && is_directory(a.base_model_name_or_path)) return a.base_model_name_or_path;
  return "";
}

}  // namespace

// --- intrinsic-dimension -------------------------------------------------------------------------------

int cmd_analyze_intrinsic_dimension(const std::vector<std::string>& argv) {
  Args args("mc analyze intrinsic-dimension FILE [--method twonn|mle] [--k N] [--tensor NAME] [--json]",
            "Intrinsic dimension of a point cloud: the rows of a 2-D float matrix (samples × features) read\n"
            "from a .npy file (little-endian float32/float64, C order) or a .safetensors file (--tensor picks\n"
            "the tensor when there are several). TwoNN (Facco et al. 2017; scikit-dimension's default fit,\n"
            "discarding the 10% largest ratios) or the Levina–Bickel MLE (2004) with MacKay–Ghahramani\n"
            "averaging over k neighbours (default 20, scikit-dimension's). Identical rows are merged first.",
            {{"method", 0, "M", "twonn (default) or mle"},
             {"k", 'k', "N", "neighbours per point for --method mle (default 20)"},
             {"tensor", 0, "NAME", "tensor to read from a .safetensors file"},
             {"discard", 0, "F", "TwoNN: fraction of the largest ratios discarded (default 0.1)"},
             {"ci", 0, "", "TwoNN: add a 95% bootstrap interval (200 resamples, seed 42)"},
             {"keep-duplicates", 0, "", "do not merge identical rows (scikit-dimension's behaviour)"},
             {"json", 0, "", "print one JSON document (schema mc.analyze.intrinsic-dimension.v1)"}},
            {"FILE"}, "  mc analyze intrinsic-dimension hidden_layer12.npy\n"
                      "  mc analyze intrinsic-dimension acts.safetensors --tensor layer.12 --method mle --k 10");
  if (!args.parse(argv)) return 0;
  const std::string method = args.value_or("method", "twonn");
  if (method != "twonn" && method != "mle") throw Error("cli", "--method must be twonn or mle, got '" + method + "'");
  if (method == "twonn" && args.value("k")) throw Error("cli", "--k applies to --method mle only");
  if (method == "mle" && (args.value("discard") || args.flag("ci")))
    throw Error("cli", "--discard and --ci apply to --method twonn only");
  const geometry::DuplicatePolicy dup =
      args.flag("keep-duplicates") ? geometry::DuplicatePolicy::DropZeroR1 : geometry::DuplicatePolicy::Collapse;
  const std::string file = args.positionals()[0];
  const geometry::DenseMatrix x = activation_matrix_load(file, args.value_or("tensor", ""));

  OrderedJson j;
  j["schema"] = "mc.analyze.intrinsic-dimension.v1";
  j["file"] = file;
  j["shape"] = {x.rows, x.cols};
  j["dtype"] = x.dtype;
  j["method"] = method;
  if (method == "twonn") {
    geometry::TwoNNOptions o;
    o.discard_fraction = args.double_value("discard", geometry::kTwoNNDiscardFraction, 0.0, 0.99);
    o.duplicates = dup;
    const geometry::TwoNNResult r = geometry::twonn(view_of(x), o);
    j["intrinsic_dimension"] = r.dimension;
    j["n_points"] = r.n_points;
    j["n_distinct"] = r.n_distinct;
    j["n_used"] = r.n_used;
    j["n_fit"] = r.n_fit;
    j["discard_fraction"] = o.discard_fraction;
    if (args.flag("ci")) {
      const geometry::ConfidenceInterval ci = geometry::twonn_bootstrap(r.mu, o.discard_fraction);
      j["ci95"] = {ci.lo, ci.hi};
      j["ci_resamples"] = ci.resamples;
    }
  } else {
    geometry::MleOptions o;
    o.k = args.int_value("k", geometry::kMleNeighbors, 2);
    o.duplicates = dup;
    const geometry::MleResult r = geometry::mle_levina_bickel(view_of(x), o);
    j["intrinsic_dimension"] = r.dimension;
    j["n_points"] = r.n_points;
    j["n_distinct"] = r.n_distinct;
    j["n_used"] = r.n_used;
    j["k"] = r.k;
  }
  j["duplicates"] = args.flag("keep-duplicates") ? "kept" : "merged";
  if (args.flag("json")) {
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("INTRINSIC DIMENSION  %s\n\n", file.c_str());
  std::printf("matrix      %lld × %lld (%s)\n", static_cast<long long>(x.rows), static_cast<long long>(x.cols),
              x.dtype.c_str());
  std::printf("method      %s\n", method == "twonn" ? "TwoNN (Facco et al. 2017)" : "MLE (Levina & Bickel 2004)");
  std::printf("dimension   %s\n", fmt_fixed(j["intrinsic_dimension"].get<double>(), 3).c_str());
  if (j.contains("ci95"))
    std::printf("95%% CI      [%s, %s]  (bootstrap, %lld resamples)\n", fmt_fixed(j["ci95"][0].get<double>(), 3).c_str(),
                fmt_fixed(j["ci95"][1].get<double>(), 3).c_str(), static_cast<long long>(j["ci_resamples"].get<int64_t>()));
  std::printf("points      %lld (%lld distinct, %lld used", static_cast<long long>(j["n_points"].get<int64_t>()),
              static_cast<long long>(j["n_distinct"].get<int64_t>()), static_cast<long long>(j["n_used"].get<int64_t>()));
  if (method == "twonn")
    std::printf(", %lld in the fit)\n", static_cast<long long>(j["n_fit"].get<int64_t>()));
  else
    std::printf(", k = %lld)\n", static_cast<long long>(j["k"].get<int64_t>()));
  return 0;
}

// --- cka -------------------------------------------------------------------------------------------

namespace {

/// `mc analyze cka A B` with two model directories: layer-by-layer CKA of mean-pooled hidden states.
int cka_models(const Args& args, const geometry::CkaOptions& o, const std::string& kernel, const std::string& fa,
               const std::string& fb) {
  const std::vector<std::string> probes =
      args.value("prompts") ? probes_load(*args.value("prompts")) : default_geometry_probes();
  ProbeModel ma = probe_model_load(fa, args.value_or("tokenizer", ""));
  ProbeModel mb = probe_model_load(fb, args.value_or("tokenizer", ""));
  ProbePass pa, pb;
  probe_pass(ma, probes, pa);
  probe_pass(mb, probes, pb);
  const std::vector<int64_t> la = parse_layer_list(args.value_or("layers", "all"), pa.n_layers);
  const std::vector<int64_t> lb = parse_layer_list(args.value_or("layers", "all"), pb.n_layers);
  const LayerCka r = layer_cka(pa, la, pb, lb, o);
  // For every layer of A, the layer of B it resembles most.
  std::vector<int64_t> best(la.size(), -1);
  std::vector<double> best_v(la.size(), kNaN);
  for (size_t i = 0; i < la.size(); ++i)
    for (size_t j = 0; j < lb.size(); ++j) {
      const double v = r.cka(static_cast<int64_t>(i), static_cast<int64_t>(j));
      if (std::isfinite(v) && !(v <= best_v[i])) {
        best_v[i] = v;
        best[i] = lb[j];
      }
    }
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.cka.v1";
    j["mode"] = "models";
    j["a"] = fa;
    j["b"] = fb;
    j["kernel"] = kernel;
    j["hsic"] = args.value_or("hsic", "biased");
    j["probe_count"] = r.probe_count;
    j["hidden_a"] = r.hidden_a;
    j["hidden_b"] = r.hidden_b;
    j["layers_a"] = la;
    j["layers_b"] = lb;
    OrderedJson m = OrderedJson::array();
    for (int64_t i = 0; i < r.cka.rows; ++i) {
      std::vector<double> row(r.cka.data.begin() + i * r.cka.cols, r.cka.data.begin() + (i + 1) * r.cka.cols);
      m.push_back(row);
    }
    j["cka"] = m;
    OrderedJson corr = OrderedJson::array();
    for (size_t i = 0; i < la.size(); ++i) corr.push_back({{"layer_a", la[i]}, {"layer_b", best[i]}, {"cka", best_v[i]}});
    j["correspondence"] = corr;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("LAYER CKA  %s  vs  %s\n\n", fa.c_str(), fb.c_str());
  std::printf("probes %lld (mean-pooled hidden states), kernel %s, HSIC %s, hidden %lld vs %lld\n\n",
              static_cast<long long>(r.probe_count), kernel.c_str(), args.value_or("hsic", "biased").c_str(),
              static_cast<long long>(r.hidden_a), static_cast<long long>(r.hidden_b));
  TextTable t({"layer A", "best B", "CKA", "", "same-index CKA"}, {3});
  for (size_t i = 0; i < la.size(); ++i) {
    auto it = std::find(lb.begin(), lb.end(), la[i]);
    const double same = it == lb.end() ? kNaN : r.cka(static_cast<int64_t>(i), static_cast<int64_t>(it - lb.begin()));
    t.add_row({std::to_string(la[i]), best[i] < 0 ? "-" : std::to_string(best[i]), fmt_fixed(best_v[i], 4),
               ascii_bar(best_v[i], 1.0, 20), fmt_fixed(same, 4)});
  }
  std::fputs(t.render().c_str(), stdout);
  return 0;
}

}  // namespace

int cmd_analyze_cka(const std::vector<std::string>& argv) {
  Args args("mc analyze cka A B [--kernel linear|rbf] [--hsic biased|unbiased|auto] [--json]",
            "Centered kernel alignment (Kornblith et al. 2019) between two representations of the same inputs.\n"
            "Files: A and B are 2-D float matrices (samples × features) in .npy or .safetensors files, row i of\n"
            "both being the same input. Models: A and B are model directories; every layer's mean-pooled hidden\n"
            "states over the probe set are compared with every layer of the other (layer correspondence).\n"
            "Linear or RBF kernel (bandwidth = sigma-frac × median pairwise distance); biased HSIC (Gretton et\n"
            "al. 2005) or unbiased HSIC (Song et al. 2012, needs n >= 4; not clamped).",
            {{"kernel", 0, "K", "linear (default) or rbf"},
             {"hsic", 0, "E", "biased (default), unbiased, or auto (unbiased when features > samples)"},
             {"sigma-frac", 0, "F", "RBF bandwidth as a fraction of the median distance (default 1.0)"},
             {"tensor-a", 0, "NAME", "tensor to read from A when it is a .safetensors file"},
             {"tensor-b", 0, "NAME", "tensor to read from B when it is a .safetensors file"},
             {"prompts", 0, "FILE", "models: probe texts, one per line (default: 24 built-in sentences)"},
             {"tokenizer", 0, "FILE", "models: tokenizer.json to use for both (default: each model's own)"},
             {"layers", 0, "LIST", "models: layers to compare, e.g. 0,4,8 or 2-5 (default all)"},
             {"json", 0, "", "print one JSON document (schema mc.analyze.cka.v1)"}},
            {"A", "B"},
            "  mc analyze cka base_layer10.npy tuned_layer10.npy --hsic unbiased\n"
            "  mc analyze cka models/SmolLM2-135M-Instruct models/merged --layers 0-29");
  if (!args.parse(argv)) return 0;
  geometry::CkaOptions o;
  const std::string kernel = args.value_or("kernel", "linear");
  if (kernel == "linear") {
    o.kernel = geometry::CkaKernel::Linear;
  } else if (kernel == "rbf") {
    o.kernel = geometry::CkaKernel::Rbf;
  } else {
    throw Error("cli", "--kernel must be linear or rbf, got '" + kernel + "'");
  }
  const std::string hsic = args.value_or("hsic", "biased");
  if (hsic == "biased") {
    o.estimator = geometry::HsicEstimator::Biased;
  } else if (hsic == "unbiased") {
    o.estimator = geometry::HsicEstimator::Unbiased;
  } else if (hsic == "auto") {
    o.estimator = geometry::HsicEstimator::Auto;
  } else {
    throw Error("cli", "--hsic must be biased, unbiased or auto, got '" + hsic + "'");
  }
  if (args.value("sigma-frac") && o.kernel != geometry::CkaKernel::Rbf)
    throw Error("cli", "--sigma-frac applies to --kernel rbf only");
  o.rbf_sigma_frac = args.double_value("sigma-frac", geometry::kRbfSigmaFrac, 1e-6, 1e6);
  const std::string fa = args.positionals()[0], fb = args.positionals()[1];
  const bool dir_a = is_directory(fa), dir_b = is_directory(fb);
  if (dir_a != dir_b)
    throw Error("cli", "A and B must both be activation files or both be model directories");
  if (dir_a) return cka_models(args, o, kernel, fa, fb);
  for (const char* opt : {"prompts", "tokenizer", "layers"})
    if (args.value(opt)) throw Error("cli", str("--", opt, " applies to model directories only"));
  const geometry::DenseMatrix a = activation_matrix_load(fa, args.value_or("tensor-a", ""));
  const geometry::DenseMatrix b = activation_matrix_load(fb, args.value_or("tensor-b", ""));
  if (a.rows != b.rows)
    throw Error("cka", str("sample counts differ: ", fa, " has ", a.rows, " rows, ", fb, " has ", b.rows,
                           " (CKA compares the same inputs row by row)"));
  const geometry::CkaResult r = geometry::cka(view_of(a), view_of(b), o);
  const char* est = r.estimator == geometry::HsicEstimator::Unbiased ? "unbiased" : "biased";
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.cka.v1";
    j["mode"] = "files";
    j["a"] = fa;
    j["b"] = fb;
    j["shape_a"] = {a.rows, a.cols};
    j["shape_b"] = {b.rows, b.cols};
    j["kernel"] = kernel;
    j["hsic"] = est;
    j["cka"] = r.cka;
    j["hsic_xy"] = r.hsic_xy;
    j["hsic_xx"] = r.hsic_xx;
    j["hsic_yy"] = r.hsic_yy;
    if (o.kernel == geometry::CkaKernel::Rbf) {
      j["sigma_frac"] = o.rbf_sigma_frac;
      j["sigma_a"] = r.sigma_x;
      j["sigma_b"] = r.sigma_y;
    }
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("CKA  %s  vs  %s\n\n", fa.c_str(), fb.c_str());
  std::printf("samples     %lld  (features %lld and %lld)\n", static_cast<long long>(a.rows),
              static_cast<long long>(a.cols), static_cast<long long>(b.cols));
  std::printf("kernel      %s%s\n", kernel.c_str(),
              o.kernel == geometry::CkaKernel::Rbf
                  ? str(" (σ_A = ", fmt_sig(r.sigma_x, 5), ", σ_B = ", fmt_sig(r.sigma_y, 5), ")").c_str()
                  : "");
  std::printf("HSIC        %s\n", est);
  std::printf("CKA         %s  %s\n", fmt_fixed(r.cka, 6).c_str(), ascii_bar(r.cka, 1.0, 30).c_str());
  std::printf("HSIC(A,B)   %s\nHSIC(A,A)   %s\nHSIC(B,B)   %s\n", fmt_sig(r.hsic_xy, 6).c_str(),
              fmt_sig(r.hsic_xx, 6).c_str(), fmt_sig(r.hsic_yy, 6).c_str());
  return 0;
}

// --- lora-svd and adapter analyze --------------------------------------------------------------------

namespace {

OrderedJson module_json(const LoraModuleGeometry& g) {
  OrderedJson j;
  j["module"] = g.mod.module;
  j["layer"] = g.mod.layer;
  j["proj"] = g.mod.proj;
  j["shape"] = {g.mod.out, g.mod.in};
  j["r"] = g.mod.r;
  j["alpha"] = g.mod.alpha;
  j["scale"] = g.mod.scale;
  j["a_frobenius"] = g.a_frobenius;
  j["b_frobenius"] = g.b_frobenius;
  j["delta_frobenius"] = g.delta_frobenius;
  j["delta_spectral"] = g.delta_spectral;
  j["delta_effective_rank"] = g.delta_effective_rank;
  j["delta_rank"] = g.delta_rank;
  j["delta_singular_values"] = g.delta_singular_values;
  if (g.has_base) {
    j["base_sigma_max"] = g.base_sigma_max;
    j["base_frobenius"] = g.base_frobenius;
    j["spectral_ratio"] = g.spectral_ratio;
    j["relative_change"] = g.relative_change;
  }
  return j;
}

void add_base_geometry(OrderedJson& j, const LoraModuleGeometry& g) {
  j["rank_before"] = g.rank_before;
  j["rank_after"] = g.rank_after;
  j["rank_delta"] = g.rank_after - g.rank_before;
  j["left_top_overlap"] = g.left_top_overlap;
  j["left_tail_overlap"] = g.left_tail_overlap;
  j["left_chance"] = g.left_chance;
  j["right_top_overlap"] = g.right_top_overlap;
  j["right_tail_overlap"] = g.right_tail_overlap;
  j["right_chance"] = g.right_chance;
  j["subspace_overlap"] = g.subspace_overlap;
  j["null_space_component"] = g.null_space_component;
  j["weyl_utilization"] = g.weyl_utilization;
  j["amplification_cv"] = g.amplification_cv;
  j["condition_ratio"] = g.condition_ratio;
  j["intruder_dimensions"] = g.intruder_dimensions;
  j["min_intruder_similarity"] = g.min_intruder_similarity;
}

int64_t total_lora_params(const PeftAdapter& a) {
  int64_t n = 0;
  for (const auto& m : a.modules) n += m.r * (m.in + m.out);
  return n;
}

}  // namespace

int cmd_analyze_lora_svd(const std::vector<std::string>& argv) {
  Args args("mc analyze lora-svd ADAPTER --base MODEL [--top N] [--json]",
            "Spectral diagnostic of a PEFT LoRA adapter against its base model. Per module: the singular values\n"
            "and effective rank of ΔW = s·B·A, its size relative to W (‖ΔW‖₂/σ₁(W), ‖ΔW‖_F/‖W‖_F), the numerical\n"
            "rank of W before and after, and where ΔW points: the overlap of ΔW's top-q singular subspace (q =\n"
            "rank of ΔW) with W's top-q and bottom-q singular subspaces (mean cos² of the principal angles; a\n"
            "random subspace gives q/dim), and the intruder dimensions of W + ΔW (Shuttleworth et al. 2024:\n"
            "top-10 singular vectors with cosine < 0.5 to every singular vector of W). MODEL defaults to the\n"
            "adapter's base_model_name_or_path when that is a local directory.",
            {{"base", 'b', "MODEL", "base model directory (HF layout) the adapter was trained on"},
             {"top", 'k', "N", "text: show the N modules with the largest ‖ΔW‖_F (default all)"},
             {"json", 0, "", "print one JSON document (schema mc.analyze.lora-svd.v1)"}},
            {"ADAPTER"}, "  mc analyze lora-svd adapters/run1 --base models/SmolLM2-135M-Instruct");
  if (!args.parse(argv)) return 0;
  const int64_t top = args.int_value("top", -1, 1);
  PeftAdapter adapter = peft_adapter_load(args.positionals()[0]);
  const std::string base_path = resolve_base(args, adapter);
  if (base_path.empty())
    throw Error("cli", "lora-svd needs --base MODEL (the adapter's base_model_name_or_path '" +
                           adapter.base_model_name_or_path + "' is not a local directory)");
  const SafetensorsModel base = SafetensorsModel::open(base_path);
  std::vector<LoraModuleGeometry> mods = lora_analyze(adapter, &base);
  std::stable_sort(mods.begin(), mods.end(),
                   [](const auto& a, const auto& b) { return a.delta_frobenius > b.delta_frobenius; });

  std::vector<double> overlap, nullc, rel, ltop, ltail, rtop, rtail;
  int64_t intruders = 0;
  const LoraModuleGeometry* peak = nullptr;
  for (const auto& g : mods) {
    overlap.push_back(g.subspace_overlap);
    nullc.push_back(g.null_space_component);
    rel.push_back(g.relative_change);
    ltop.push_back(g.left_top_overlap);
    ltail.push_back(g.left_tail_overlap);
    rtop.push_back(g.right_top_overlap);
    rtail.push_back(g.right_tail_overlap);
    intruders += g.intruder_dimensions;
    if (!peak || g.relative_change > peak->relative_change) peak = &g;
  }
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.lora-svd.v1";
    j["adapter_path"] = adapter.path;
    j["base_model"] = base_path;
    j["layers_with_lora"] = static_cast<int64_t>(mods.size());
    j["total_params_modified"] = total_lora_params(adapter);
    j["avg_subspace_overlap"] = mean_finite(overlap);
    j["avg_null_space_component"] = mean_finite(nullc);
    j["avg_relative_change"] = mean_finite(rel);
    j["avg_left_top_overlap"] = mean_finite(ltop);
    j["avg_left_tail_overlap"] = mean_finite(ltail);
    j["avg_right_top_overlap"] = mean_finite(rtop);
    j["avg_right_tail_overlap"] = mean_finite(rtail);
    j["intruder_dimensions"] = intruders;
    j["intruder_top_k"] = kIntruderTopK;
    j["intruder_eps"] = kIntruderEps;
    j["peak_change_layer"] = peak ? OrderedJson(peak->mod.module) : OrderedJson(nullptr);
    OrderedJson arr = OrderedJson::array();
    for (const auto& g : mods) {
      OrderedJson m = module_json(g);
      add_base_geometry(m, g);
      arr.push_back(m);
    }
    j["modules"] = arr;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("LORA SVD DIAGNOSTIC  %s  (base %s)\n\n", adapter.path.c_str(), base_path.c_str());
  std::printf("modules            %zu with LoRA, %s parameters\n", mods.size(),
              format_count(static_cast<uint64_t>(total_lora_params(adapter))).c_str());
  std::printf("mean ‖ΔW‖_F/‖W‖_F  %s\n", fmt_sig(mean_finite(rel), 4).c_str());
  std::printf("mean overlap       left top %s, tail %s;  right top %s, tail %s\n", fmt_fixed(mean_finite(ltop), 4).c_str(),
              fmt_fixed(mean_finite(ltail), 4).c_str(), fmt_fixed(mean_finite(rtop), 4).c_str(),
              fmt_fixed(mean_finite(rtail), 4).c_str());
  std::printf("intruder dims      %lld in total (top %lld of W+ΔW, cosine < %.2g)\n", static_cast<long long>(intruders),
              static_cast<long long>(kIntruderTopK), kIntruderEps);
  if (peak) std::printf("peak change        %s (‖ΔW‖_F/‖W‖_F = %s)\n", peak->mod.module.c_str(), fmt_sig(peak->relative_change, 4).c_str());
  std::printf("\nMODULES BY ‖ΔW‖_F\n");
  TextTable t({"module", "r", "‖ΔW‖_F", "‖ΔW‖₂/σ₁", "erank ΔW", "rank W→W'", "top L/R", "tail L/R", "chance L/R",
               "intruders"});
  size_t shown = 0;
  for (const auto& g : mods) {
    if (top > 0 && shown >= static_cast<size_t>(top)) break;
    ++shown;
    t.add_row({g.mod.module, std::to_string(g.mod.r), fmt_sig(g.delta_frobenius, 4), fmt_sig(g.spectral_ratio, 4),
               fmt_fixed(g.delta_effective_rank, 2), str(g.rank_before, "→", g.rank_after),
               fmt_fixed(g.left_top_overlap, 3) + "/" + fmt_fixed(g.right_top_overlap, 3),
               fmt_fixed(g.left_tail_overlap, 3) + "/" + fmt_fixed(g.right_tail_overlap, 3),
               fmt_fixed(g.left_chance, 3) + "/" + fmt_fixed(g.right_chance, 3), std::to_string(g.intruder_dimensions)});
  }
  std::fputs(t.render().c_str(), stdout);
  if (shown < mods.size()) std::printf("(%zu of %zu modules shown)\n", shown, mods.size());
  return 0;
}

int cmd_adapter_analyze(const std::vector<std::string>& argv) {
  Args args("mc adapter analyze ADAPTER [--base MODEL] [--json]",
            "Summary of a PEFT LoRA adapter: rank, alpha and scale per module (rank_pattern / alpha_pattern and\n"
            "rsLoRA applied as PEFT does), ‖A‖_F, ‖B‖_F, ‖ΔW‖_F and ‖ΔW‖₂ of ΔW = s·B·A. With a base model\n"
            "(--base, or base_model_name_or_path when it is a local directory): ‖ΔW‖₂ relative to σ₁(W), the\n"
            "Weyl utilization max|σ_i(W+ΔW) − σ_i(W)|/‖ΔW‖₂, the amplification CV of ΔW over W's top-64 right\n"
            "singular directions and the condition ratio κ(W+ΔW)/κ(W). An adapter that does not fit the base\n"
            "(missing module, other shape) is an error.",
            {{"base", 'b', "MODEL", "base model directory"},
             {"no-base", 0, "", "ignore base_model_name_or_path; analyse the adapter alone"},
             {"json", 0, "", "print one JSON document (schema mc.adapter.analyze.v1)"}},
            {"ADAPTER"}, "  mc adapter analyze adapters/run1 --base models/SmolLM2-135M-Instruct");
  if (!args.parse(argv)) return 0;
  PeftAdapter adapter = peft_adapter_load(args.positionals()[0]);
  if (args.flag("no-base") && args.value("base")) throw Error("cli", "--base and --no-base exclude each other");
  const std::string base_path = args.flag("no-base") ? std::string() : resolve_base(args, adapter);
  std::optional<SafetensorsModel> base;
  if (!base_path.empty()) base = SafetensorsModel::open(base_path);
  const std::vector<LoraModuleGeometry> mods = lora_analyze(adapter, base ? &*base : nullptr);

  std::set<std::string> projs;
  std::set<int64_t> layers;
  std::vector<double> sr, wu, cv, rel, dfro, dspec;
  for (const auto& g : mods) {
    projs.insert(g.mod.proj);
    if (g.mod.layer >= 0) layers.insert(g.mod.layer);
    dfro.push_back(g.delta_frobenius);
    dspec.push_back(g.delta_spectral);
    if (g.has_base) {
      sr.push_back(g.spectral_ratio);
      wu.push_back(g.weyl_utilization);
      cv.push_back(g.amplification_cv);
      rel.push_back(g.relative_change);
    }
  }
  const double config_scale =
      adapter.use_rslora ? adapter.lora_alpha / std::sqrt(static_cast<double>(adapter.r)) : adapter.lora_alpha / static_cast<double>(adapter.r);
  auto max_finite = [](const std::vector<double>& v) {
    double m = kNaN;
    for (double x : v)
      if (std::isfinite(x) && !(x <= m)) m = x;
    return m;
  };
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.adapter.analyze.v1";
    j["adapter_path"] = adapter.path;
    j["base_model"] = base_path.empty() ? OrderedJson(nullptr) : OrderedJson(base_path);
    j["base_model_name_or_path"] = adapter.base_model_name_or_path;
    j["lora_rank"] = adapter.r;
    j["lora_alpha"] = adapter.lora_alpha;
    j["use_rslora"] = adapter.use_rslora;
    j["lora_scale"] = config_scale;
    j["n_modules"] = static_cast<int64_t>(mods.size());
    j["target_modules"] = std::vector<std::string>(projs.begin(), projs.end());
    j["layers"] = std::vector<int64_t>(layers.begin(), layers.end());
    j["trainable_parameters"] = total_lora_params(adapter);
    j["other_tensors"] = adapter.other_tensors;
    OrderedJson s;
    s["mean_delta_frobenius"] = mean_finite(dfro);
    s["max_delta_spectral"] = max_finite(dspec);
    if (base) {
      s["mean_spectral_ratio"] = mean_finite(sr);
      s["max_spectral_ratio"] = max_finite(sr);
      s["mean_relative_change"] = mean_finite(rel);
      s["mean_weyl_utilization"] = mean_finite(wu);
      s["mean_amplification_cv"] = mean_finite(cv);
    }
    j["summary"] = s;
    OrderedJson arr = OrderedJson::array();
    for (const auto& g : mods) {
      OrderedJson m = module_json(g);
      if (g.has_base) {
        m["weyl_utilization"] = g.weyl_utilization;
        m["amplification_cv"] = g.amplification_cv;
        m["condition_ratio"] = g.condition_ratio;
      }
      arr.push_back(m);
    }
    j["modules"] = arr;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("ADAPTER  %s\n\n", adapter.path.c_str());
  std::printf("base model       %s\n", base_path.empty() ? "none (update-only measures)" : base_path.c_str());
  std::printf("rank / alpha     r = %lld, lora_alpha = %s%s → scale %s\n", static_cast<long long>(adapter.r),
              format_number(adapter.lora_alpha).c_str(), adapter.use_rslora ? " (rsLoRA: α/√r)" : " (α/r)",
              fmt_sig(config_scale, 6).c_str());
  std::string pl;
  for (const auto& p : projs) pl += (pl.empty() ? "" : ", ") + p;
  std::printf("modules          %zu (%s) over %zu layers, %s trainable parameters\n", mods.size(), pl.c_str(),
              layers.size(), format_count(static_cast<uint64_t>(total_lora_params(adapter))).c_str());
  if (base) {
    std::printf("‖ΔW‖₂/σ₁(W)      mean %s, max %s\n", fmt_sig(mean_finite(sr), 4).c_str(), fmt_sig(max_finite(sr), 4).c_str());
    std::printf("Weyl utilization mean %s    amplification CV mean %s\n", fmt_sig(mean_finite(wu), 4).c_str(),
                fmt_sig(mean_finite(cv), 4).c_str());
  }
  std::printf("\n");
  std::vector<std::string> head = {"module", "r", "α", "scale", "‖A‖_F", "‖B‖_F", "‖ΔW‖_F", "‖ΔW‖₂"};
  if (base) head.insert(head.end(), {"‖ΔW‖₂/σ₁", "Weyl η", "ampl. CV", "κ ratio"});
  TextTable t(head);
  for (const auto& g : mods) {
    std::vector<std::string> row = {g.mod.module,           std::to_string(g.mod.r),  format_number(g.mod.alpha),
                                    fmt_sig(g.mod.scale, 4), fmt_sig(g.a_frobenius, 4), fmt_sig(g.b_frobenius, 4),
                                    fmt_sig(g.delta_frobenius, 4), fmt_sig(g.delta_spectral, 4)};
    if (base)
      row.insert(row.end(), {fmt_sig(g.spectral_ratio, 4), fmt_fixed(g.weyl_utilization, 4),
                             fmt_fixed(g.amplification_cv, 4), fmt_sig(g.condition_ratio, 5)});
    t.add_row(row);
  }
  std::fputs(t.render().c_str(), stdout);
  return 0;
}

// --- spectral-trajectory (weights) -------------------------------------------------------------------

int cmd_analyze_spectral_trajectory(const std::vector<std::string>& argv) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  Args args("mc analyze spectral-trajectory MODEL [--plot FILE.svg] [--json]",
            "Per-layer spectral profile of the weights: for each module type (q_proj, k_proj, ..., down_proj)\n"
            "σ_max, Shannon effective rank (energy weights), stable rank and the WeightWatcher α against the\n"
            "decoder layer index, with each series' Spearman trend over depth (average ranks for ties).\n"
            "--plot draws the three profiles as an SVG chart.",
            {{"plot", 0, "FILE.svg", "write the per-layer profiles as an SVG chart"},
             {"force", 0, "", "replace an existing --plot file"},
             {"modules", 'm', "SUBSTR,...", "only module types whose tensor names contain one of these"},
             {"threads", 'j', "N", str("worker threads (default ", hw, ")")},
             {"json", 0, "", "print one JSON document (schema mc.analyze.spectral-trajectory.v1)"}},
            {"MODEL"}, "  mc analyze spectral-trajectory models/SmolLM2-135M-Instruct --plot spectra.svg");
  if (!args.parse(argv)) return 0;
  const auto plot_path = args.value("plot");
  if (plot_path && path_exists(*plot_path) && !args.flag("force"))
    throw Error("plot", *plot_path + ": exists (use --force to replace it)");
  CapacityOptions opt;
  opt.threads = static_cast<int>(args.int_value("threads", hw, 1));
  opt.include = {"layers."};
  std::vector<std::string> mod_filter;
  if (auto m = args.value("modules")) {
    size_t st = 0;
    while (st <= m->size()) {
      size_t c = m->find(',', st);
      if (c == std::string::npos) c = m->size();
      if (c > st) mod_filter.push_back(m->substr(st, c - st));
      st = c + 1;
    }
  }
  if (isatty(fileno(stderr)))
    opt.progress = [](size_t done, size_t total, const std::string& name) {
      std::fprintf(stderr, "\r\033[Kmc: spectra [%zu/%zu] %s", done, total, name.c_str());
      if (done == total) std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    };
  CapacityReport report = capacity_analyze(args.positionals()[0], opt);
  std::vector<ModuleTrajectory> traj = spectral_trajectory(report);
  if (!mod_filter.empty()) {
    traj.erase(std::remove_if(traj.begin(), traj.end(),
                              [&](const ModuleTrajectory& t) {
                                for (const auto& f : mod_filter)
                                  if (t.module.find(f) != std::string::npos) return false;
                                return true;
                              }),
               traj.end());
    if (traj.empty()) throw Error("cli", "--modules matches no module type of " + report.model_path);
  }
  if (traj.empty()) throw Error("capacity", report.model_path + ": no decoder-layer matrices (names with .layers.<i>.)");

  if (plot_path) {
    Plot p;
    p.title = "Spectral trajectory — " + report.model_path;
    p.x_label = "decoder layer";
    PlotPanel ps{"σ_max", {}, false}, pe{"effective rank (Shannon)", {}, false}, pa{"WeightWatcher α", {}, false};
    for (const auto& t : traj) {
      std::vector<double> x(t.layers.begin(), t.layers.end());
      ps.series.push_back({t.module, x, t.sigma_max});
      pe.series.push_back({t.module, x, t.effective_rank});
      pa.series.push_back({t.module, x, t.alpha});
    }
    p.panels = {ps, pe, pa};
    svg_write(*plot_path, p, args.flag("force"));
  }
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.spectral-trajectory.v1";
    j["model_path"] = report.model_path;
    j["model_type"] = report.model_type;
    j["num_layers"] = report.num_layers;
    OrderedJson arr = OrderedJson::array();
    for (const auto& t : traj) {
      OrderedJson m;
      m["module"] = t.module;
      m["layers"] = t.layers;
      m["sigma_max"] = t.sigma_max;
      m["effective_rank"] = t.effective_rank;
      m["stable_rank"] = t.stable_rank;
      m["alpha"] = t.alpha;
      m["trend"] = {{"sigma_max", t.sigma_max_trend},
                    {"effective_rank", t.effective_rank_trend},
                    {"stable_rank", t.stable_rank_trend},
                    {"alpha", t.alpha_trend}};
      arr.push_back(m);
    }
    j["modules"] = arr;
    if (plot_path) j["plot"] = *plot_path;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("SPECTRAL TRAJECTORY  %s", report.model_path.c_str());
  if (!report.model_type.empty())
    std::printf("  (%s, %lld layers)", report.model_type.c_str(), static_cast<long long>(report.num_layers));
  std::printf("\n");
  std::set<int64_t> all_layers;
  for (const auto& t : traj) all_layers.insert(t.layers.begin(), t.layers.end());
  struct Metric {
    const char* title;
    const std::vector<double> ModuleTrajectory::*values;
    double ModuleTrajectory::*trend;
    int decimals;
  };
  const Metric metrics[] = {{"σ_max", &ModuleTrajectory::sigma_max, &ModuleTrajectory::sigma_max_trend, 3},
                            {"effective rank (Shannon, energy weights)", &ModuleTrajectory::effective_rank,
                             &ModuleTrajectory::effective_rank_trend, 1},
                            {"stable rank", &ModuleTrajectory::stable_rank, &ModuleTrajectory::stable_rank_trend, 2},
                            {"WeightWatcher α", &ModuleTrajectory::alpha, &ModuleTrajectory::alpha_trend, 2}};
  for (const auto& mt : metrics) {
    std::printf("\n%s\n", mt.title);
    std::vector<std::string> head = {"layer"};
    for (const auto& t : traj) head.push_back(t.module);
    TextTable tab(head, {});
    for (int64_t l : all_layers) {
      std::vector<std::string> row = {std::to_string(l)};
      for (const auto& t : traj) {
        auto it = std::find(t.layers.begin(), t.layers.end(), l);
        row.push_back(it == t.layers.end() ? "" : fmt_fixed((t.*mt.values)[static_cast<size_t>(it - t.layers.begin())], mt.decimals));
      }
      tab.add_row(row);
    }
    std::vector<std::string> trend = {"trend ρ"};
    for (const auto& t : traj) trend.push_back(fmt_fixed(t.*mt.trend, 2));
    tab.add_row(trend);
    std::fputs(tab.render("  ").c_str(), stdout);
  }
  std::printf("\ntrend ρ = Spearman correlation with the layer index (+1: rises with depth).\n");
  if (plot_path) std::printf("plot written to %s\n", plot_path->c_str());
  return 0;
}

// --- activation profiles ----------------------------------------------------------------------------

namespace {

std::vector<std::string> probe_texts(const Args& args, const std::vector<std::string>& defaults) {
  std::vector<std::string> p = args.value("prompts") ? probes_load(*args.value("prompts")) : defaults;
  if (auto n = args.value("samples")) {
    const int64_t k = args.int_value("samples", 0, 1);
    if (static_cast<size_t>(k) < p.size()) p.resize(static_cast<size_t>(k));
  }
  return p;
}

void check_plot_target(const Args& args) {
  if (auto p = args.value("plot"); p && path_exists(*p) && !args.flag("force"))
    throw Error("plot", *p + ": exists (use --force to replace it)");
}

}  // namespace

int cmd_analyze_dimension_profile(const std::vector<std::string>& argv) {
  Args args("mc analyze dimension-profile MODEL [--prompts FILE] [--layers LIST] [--ci] [--plot FILE.svg] [--json]",
            "Intrinsic dimension of the representation at every layer: each probe text's hidden states after a\n"
            "decoder block are mean-pooled over its tokens, and TwoNN (Facco et al. 2017, scikit-dimension's fit)\n"
            "runs on the P pooled vectors (P >= 10, else NaN). Reports the minimum ('highway': the first minimum\n"
            "layer and its neighbours below twice the minimum), compression min ID / hidden size and the final /\n"
            "min recovery ratio. With ~20 probes the per-layer estimate is noisy: use --ci for bootstrap intervals.",
            {{"prompts", 0, "FILE", "probe texts, one per line (default: 24 built-in sentences)"},
             {"samples", 0, "N", "use only the first N probes"},
             {"tokenizer", 0, "FILE", "tokenizer.json (default MODEL/tokenizer.json)"},
             {"layers", 0, "LIST", "layers, e.g. 0,4,8 or 2-5 (default all)"},
             {"ci", 0, "", "95% bootstrap interval per layer (200 resamples, seed 42)"},
             {"plot", 0, "FILE.svg", "draw the profile as an SVG bar chart"},
             {"force", 0, "", "replace an existing --plot file"},
             {"json", 0, "", "print one JSON document (schema mc.analyze.dimension-profile.v1)"}},
            {"MODEL"}, "  mc analyze dimension-profile models/SmolLM2-135M-Instruct --ci --plot id.svg");
  if (!args.parse(argv)) return 0;
  check_plot_target(args);
  const std::vector<std::string> probes = probe_texts(args, default_geometry_probes());
  ProbeModel pm = probe_model_load(args.positionals()[0], args.value_or("tokenizer", ""));
  const std::vector<int64_t> layers = parse_layer_list(args.value_or("layers", "all"), pm.model.config().num_hidden_layers);
  ProbePass pass;
  probe_pass(pm, probes, pass);
  const DimensionProfile dp = dimension_profile(pass, layers, args.flag("ci"));
  if (auto plot = args.value("plot")) {
    PlotSeries s{"TwoNN ID", {}, {}};
    for (const auto& l : dp.layers) {
      s.x.push_back(static_cast<double>(l.layer));
      s.y.push_back(l.intrinsic_dimension);
    }
    Plot p{"Intrinsic dimension by layer — " + pm.path, "decoder layer", {{"intrinsic dimension (TwoNN)", {s}, true}}};
    svg_write(*plot, p, args.flag("force"));
  }
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.dimension-profile.v1";
    j["model_path"] = pm.path;
    j["num_layers"] = dp.num_layers;
    j["hidden_dim"] = dp.hidden;
    j["probe_count"] = dp.probe_count;
    j["mean_intrinsic_dim"] = dp.mean_id;
    j["min_intrinsic_dim"] = dp.min_id;
    j["max_intrinsic_dim"] = dp.max_id;
    j["highway_layers"] = dp.highway_layers;
    j["compression_ratio"] = dp.compression_ratio;
    j["final_intrinsic_dim"] = dp.final_id;
    j["recovery_ratio"] = dp.recovery_ratio;
    OrderedJson arr = OrderedJson::array();
    for (const auto& l : dp.layers) {
      OrderedJson e;
      e["layer"] = l.layer;
      e["intrinsic_dimension"] = l.intrinsic_dimension;
      e["sample_count"] = l.sample_count;
      e["usable_count"] = l.usable_count;
      if (args.flag("ci")) e["ci95"] = {l.ci_lo, l.ci_hi};
      if (!l.error.empty()) e["error"] = l.error;
      arr.push_back(e);
    }
    j["layer_results"] = arr;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("DIMENSION PROFILE  %s\n\n", pm.path.c_str());
  std::printf("probes        %lld (mean-pooled), hidden size %lld, %zu layers\n", static_cast<long long>(dp.probe_count),
              static_cast<long long>(dp.hidden), dp.layers.size());
  std::printf("intrinsic dim mean %s, min %s, max %s\n", fmt_fixed(dp.mean_id, 2).c_str(), fmt_fixed(dp.min_id, 2).c_str(),
              fmt_fixed(dp.max_id, 2).c_str());
  std::printf("compression   %lldD -> %sD (%s%%)\n", static_cast<long long>(dp.hidden), fmt_fixed(dp.min_id, 2).c_str(),
              fmt_fixed(100.0 * dp.compression_ratio, 2).c_str());
  std::printf("recovery      final %s / min %s = %s\n\n", fmt_fixed(dp.final_id, 2).c_str(), fmt_fixed(dp.min_id, 2).c_str(),
              fmt_fixed(dp.recovery_ratio, 2).c_str());
  const double scale = std::isfinite(dp.max_id) ? dp.max_id : 1.0;
  std::vector<std::string> head = {"layer", "ID", ""};
  if (args.flag("ci")) head.push_back("95% CI");
  head.push_back("");
  TextTable t(head, {2, head.size() - 1});
  for (const auto& l : dp.layers) {
    const bool hw = std::find(dp.highway_layers.begin(), dp.highway_layers.end(), l.layer) != dp.highway_layers.end();
    std::vector<std::string> row = {std::to_string(l.layer), fmt_fixed(l.intrinsic_dimension, 2),
                                    ascii_bar(l.intrinsic_dimension, scale, 30)};
    if (args.flag("ci")) row.push_back("[" + fmt_fixed(l.ci_lo, 1) + ", " + fmt_fixed(l.ci_hi, 1) + "]");
    row.push_back(!l.error.empty() ? l.error : hw ? "< HIGHWAY" : "");
    t.add_row(row);
  }
  std::fputs(t.render().c_str(), stdout);
  if (auto plot = args.value("plot")) std::printf("plot written to %s\n", plot->c_str());
  return 0;
}

int cmd_analyze_entropy_trajectory(const std::vector<std::string>& argv) {
  Args args("mc analyze entropy-trajectory MODEL [--prompts FILE] [--layers LIST] [--plot FILE.svg] [--json]",
            "Logit-lens entropy by layer (the 'entropy lens', Ali et al. 2025, arXiv:2502.16570): the last token's\n"
            "hidden state after each decoder block goes through the final norm (unless --no-final-norm) and the\n"
            "unembedding, and the entropy of the softmax is averaged over the probes. Trajectory features:\n"
            "OLS slope over the layer index, peak position, Spearman monotonicity, early/late ratio.",
            {{"prompts", 0, "FILE", "probe texts, one per line (default: 6 built-in prompts)"},
             {"samples", 0, "N", "use only the first N probes"},
             {"tokenizer", 0, "FILE", "tokenizer.json (default MODEL/tokenizer.json)"},
             {"layers", 0, "LIST", "layers, e.g. 0,4,8 or 2-5 (default all)"},
             {"no-final-norm", 0, "", "apply the unembedding to the raw residual stream (upstream's variant)"},
             {"plot", 0, "FILE.svg", "draw the trajectory as an SVG chart"},
             {"force", 0, "", "replace an existing --plot file"},
             {"json", 0, "", "print one JSON document (schema mc.analyze.entropy-trajectory.v1)"}},
            {"MODEL"}, "  mc analyze entropy-trajectory models/SmolLM2-135M-Instruct --layers 0-29");
  if (!args.parse(argv)) return 0;
  check_plot_target(args);
  const std::vector<std::string> probes = probe_texts(args, default_entropy_probes());
  ProbeModel pm = probe_model_load(args.positionals()[0], args.value_or("tokenizer", ""));
  const std::vector<int64_t> layers = parse_layer_list(args.value_or("layers", "all"), pm.model.config().num_hidden_layers);
  ProbePass pass;
  probe_pass(pm, probes, pass);
  const EntropyTrajectory et = entropy_trajectory(pm, pass, layers, !args.flag("no-final-norm"));
  if (auto plot = args.value("plot")) {
    PlotSeries s{"mean entropy", std::vector<double>(et.layers.begin(), et.layers.end()), et.entropy};
    Plot p{"Entropy lens — " + pm.path, "decoder layer", {{"entropy (nats)", {s}, false}}};
    svg_write(*plot, p, args.flag("force"));
  }
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.entropy-trajectory.v1";
    j["model_path"] = pm.path;
    j["layer_indices"] = et.layers;
    j["layer_entropies"] = et.entropy;
    j["normalized_trajectory"] = et.normalized;
    j["per_probe_entropies"] = et.per_probe;
    j["slope"] = et.slope;
    j["peak_layer_fraction"] = et.peak_layer_fraction;
    j["monotonicity"] = et.monotonicity;
    j["early_late_ratio"] = et.early_late_ratio;
    j["vocab_size"] = et.vocab_size;
    j["max_possible_entropy"] = et.max_entropy;
    j["final_norm_applied"] = et.final_norm;
    j["probe_count"] = static_cast<int64_t>(probes.size());
    j["probe_texts"] = probes;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  std::printf("ENTROPY TRAJECTORY  %s\n\n", pm.path.c_str());
  std::printf("probes          %zu, vocabulary %lld (max entropy ln V = %s nats), final norm %s\n", probes.size(),
              static_cast<long long>(et.vocab_size), fmt_fixed(et.max_entropy, 3).c_str(), et.final_norm ? "applied" : "not applied");
  std::printf("slope           %s nats/layer\n", fmt_sig(et.slope, 4).c_str());
  std::printf("peak            at %s of the depth\n", fmt_fixed(et.peak_layer_fraction, 3).c_str());
  std::printf("monotonicity    %s (Spearman)\n", fmt_fixed(et.monotonicity, 3).c_str());
  std::printf("early/late      %s\n\n", fmt_fixed(et.early_late_ratio, 3).c_str());
  TextTable t({"layer", "entropy", "% of max", ""}, {3});
  for (size_t i = 0; i < et.layers.size(); ++i)
    t.add_row({std::to_string(et.layers[i]), fmt_fixed(et.entropy[i], 3), fmt_fixed(100.0 * et.normalized[i], 1),
               ascii_bar(et.normalized[i], 1.0, 30)});
  std::fputs(t.render().c_str(), stdout);
  if (auto plot = args.value("plot")) std::printf("plot written to %s\n", plot->c_str());
  return 0;
}

int cmd_analyze_expansion_ratio(const std::vector<std::string>& argv) {
  Args args("mc analyze expansion-ratio MODEL (--prompt TEXT | --prompts FILE) [--json]",
            "How far a prompt's token trajectory expands inside the model: at every layer TwoNN runs on the\n"
            "prompt's T token states (T >= 4, else 'insufficient_tokens'); expansion ratio = peak ID / final-layer\n"
            "ID. TwoNN on the tokens of one short prompt is very noisy; compare prompts of similar length.",
            {{"prompt", 'p', "TEXT", "one prompt"},
             {"prompts", 0, "FILE", "prompts, one per line"},
             {"tokenizer", 0, "FILE", "tokenizer.json (default MODEL/tokenizer.json)"},
             {"quiet", 'q', "", "print only the ratios, one per line ('NaN' when undefined)"},
             {"json", 0, "", "print one JSON document (schema mc.analyze.expansion-ratio.v1)"}},
            {"MODEL"}, "  mc analyze expansion-ratio models/SmolLM2-135M-Instruct -p \"Explain why the sky is blue.\"");
  if (!args.parse(argv)) return 0;
  std::vector<std::string> prompts;
  if (auto p = args.value("prompt")) prompts.push_back(*p);
  if (auto f = args.value("prompts")) {
    auto more = probes_load(*f);
    prompts.insert(prompts.end(), more.begin(), more.end());
  }
  if (prompts.empty()) throw Error("cli", "expansion-ratio needs --prompt TEXT or --prompts FILE");
  ProbeModel pm = probe_model_load(args.positionals()[0], args.value_or("tokenizer", ""));
  const std::vector<ExpansionResult> rs = expansion_ratio(pm, prompts);
  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.analyze.expansion-ratio.v1";
    j["model_path"] = pm.path;
    j["num_layers"] = pm.model.config().num_hidden_layers;
    OrderedJson arr = OrderedJson::array();
    for (const auto& r : rs) {
      OrderedJson e;
      e["prompt"] = r.prompt.size() > 50 ? r.prompt.substr(0, 50) + "..." : r.prompt;
      e["full_prompt"] = r.prompt;
      e["token_count"] = r.token_count;
      e["classification"] = r.classification;
      e["expansion_ratio"] = r.expansion_ratio;
      e["peak_layer"] = r.peak_layer;
      e["peak_dim"] = r.peak_dim;
      e["final_dim"] = r.final_dim;
      OrderedJson dims = OrderedJson::array();
      for (size_t l = 0; l < r.layer_dims.size(); ++l)
        dims.push_back({{"layer", static_cast<int64_t>(l)}, {"intrinsic_dimension", r.layer_dims[l]}, {"token_count", r.token_count}});
      e["layer_dims"] = dims;
      arr.push_back(e);
    }
    j["results"] = arr;
    std::printf("%s\n", json_dump(j).c_str());
    return 0;
  }
  if (args.flag("quiet")) {
    for (const auto& r : rs) std::printf("%s\n", std::isfinite(r.expansion_ratio) ? fmt_sig(r.expansion_ratio, 6).c_str() : "NaN");
    return 0;
  }
  std::printf("EXPANSION RATIO  %s\n\n", pm.path.c_str());
  TextTable t({"prompt", "tokens", "peak layer", "peak ID", "final ID", "ratio"});
  for (const auto& r : rs)
    t.add_row({r.prompt.size() > 50 ? r.prompt.substr(0, 50) + "..." : r.prompt, std::to_string(r.token_count),
               r.peak_layer < 0 ? "-" : std::to_string(r.peak_layer), fmt_fixed(r.peak_dim, 2), fmt_fixed(r.final_dim, 2),
               r.classification == "ok" ? fmt_fixed(r.expansion_ratio, 3) : r.classification});
  std::fputs(t.render().c_str(), stdout);
  return 0;
}

}  // namespace mc::cli
