// `mc model capacity`: argument parsing and printing only; the analysis is model/capacity.h.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/format.h"
#include "cli/table.h"
#include "core/error.h"
#include "core/json.h"
#include "model/capacity.h"

namespace mc::cli {

int cmd_model_capacity(const std::vector<std::string>& argv);

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

/// Sort keys: name ascending; every other key descending (largest first), NaN last.
struct SortKey {
  const char* name;
  double (*get)(const MatrixCapacity&);
};
const std::vector<SortKey>& sort_keys() {
  static const std::vector<SortKey> keys = {
      {"name", nullptr},
      {"sigma_max", [](const MatrixCapacity& c) { return c.cap.spectral_norm; }},
      {"frobenius", [](const MatrixCapacity& c) { return c.cap.frobenius_norm; }},
      {"stable_rank", [](const MatrixCapacity& c) { return c.cap.stable_rank; }},
      {"effective_rank", [](const MatrixCapacity& c) { return c.geo.erank; }},
      {"participation_ratio", [](const MatrixCapacity& c) { return c.cap.effective_rank; }},
      {"numerical_rank", [](const MatrixCapacity& c) { return static_cast<double>(c.numerical_rank); }},
      {"structural_rank", [](const MatrixCapacity& c) { return static_cast<double>(c.geo.k); }},
      {"tail_dims", [](const MatrixCapacity& c) { return static_cast<double>(c.geo.tail_dims); }},
      {"recommended_rank", [](const MatrixCapacity& c) { return static_cast<double>(c.cap.recommended_rank); }},
      {"condition_number", [](const MatrixCapacity& c) { return c.condition_number; }},
      {"decay_ratio", [](const MatrixCapacity& c) { return c.geo.decay_ratio; }},
      {"alpha", [](const MatrixCapacity& c) { return c.alpha.ok ? c.alpha.alpha : std::nan(""); }},
      {"null_space_fraction", [](const MatrixCapacity& c) { return c.cap.null_space_fraction; }},
      {"capacity_utilization", [](const MatrixCapacity& c) { return c.cap.capacity_utilization; }},
      {"size", [](const MatrixCapacity& c) { return static_cast<double>(c.m) * static_cast<double>(c.n); }},
  };
  return keys;
}

std::string sort_key_list() {
  std::string s;
  for (const auto& k : sort_keys()) s += (s.empty() ? "" : "|") + std::string(k.name);
  return s;
}

void sort_matrices(std::vector<MatrixCapacity>& v, std::string key) {
  std::replace(key.begin(), key.end(), '-', '_');
  if (key == "k") key = "structural_rank";
  if (key == "erank") key = "effective_rank";
  for (const auto& k : sort_keys()) {
    if (key != k.name) continue;
    if (!k.get) {
      std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    } else {
      std::stable_sort(v.begin(), v.end(), [&](const auto& a, const auto& b) {
        const double x = k.get(a), y = k.get(b);
        if (std::isnan(x) != std::isnan(y)) return std::isnan(y);
        return x > y;
      });
    }
    return;
  }
  throw Error("cli", "--sort-by must be one of " + sort_key_list() + ", got '" + key + "'");
}

OrderedJson alpha_json(const geometry::PowerLawFit& f) {
  if (!f.ok) return nullptr;
  OrderedJson j;
  j["alpha"] = f.alpha;
  j["xmin"] = f.xmin;
  j["xmax"] = f.xmax;
  j["D"] = f.D;
  j["sigma"] = f.sigma;
  j["num_pl_spikes"] = f.num_pl_spikes;
  j["num_evals"] = f.num_evals;
  j["small_n"] = f.small_n;
  return j;
}

OrderedJson matrix_json(const MatrixCapacity& c, bool with_sv) {
  OrderedJson j;
  j["name"] = c.name;
  j["module"] = c.module;
  j["group"] = c.group;
  j["layer"] = c.layer;
  j["shape"] = {c.m, c.n};
  j["dtype"] = c.dtype;
  j["sigma_max"] = c.cap.spectral_norm;
  j["frobenius_norm"] = c.cap.frobenius_norm;
  j["nuclear_norm"] = c.cap.nuclear_norm;
  j["stable_rank"] = c.cap.stable_rank;
  j["effective_rank"] = c.geo.erank;
  j["participation_ratio"] = c.cap.effective_rank;
  j["numerical_rank"] = c.numerical_rank;
  j["numerical_rank_f32"] = c.cap.numerical_rank_f32;
  j["numerical_rank_f16"] = c.cap.numerical_rank_f16;
  j["null_space_dim_f32"] = c.cap.null_space_dim_f32;
  j["null_space_fraction"] = c.cap.null_space_fraction;
  j["capacity_utilization"] = c.cap.capacity_utilization;
  j["structural_rank"] = c.geo.k;
  j["sigma_k"] = c.geo.sigma_k;
  j["spectral_gap"] = c.geo.spectral_gap;
  j["tail_dims"] = c.geo.tail_dims;
  j["decay_ratio"] = c.geo.decay_ratio;
  j["targetable"] = c.geo.is_targetable;
  j["recommended_rank"] = c.cap.recommended_rank;
  j["recommended_gap_ratio"] = c.cap.spectral_gap_at_rank;
  j["condition_number"] = c.condition_number;
  j["alpha"] = alpha_json(c.alpha);
  if (with_sv) j["singular_values"] = c.singular_values;
  return j;
}

OrderedJson summary_json(const CapacitySummary& s) {
  OrderedJson j;
  j["total_parameters"] = s.total_parameters;
  j["analyzed_parameters"] = s.analyzed_parameters;
  j["analyzed_matrices"] = s.analyzed_matrices;
  j["skipped_tensors"] = s.skipped_tensors;
  j["median_sigma_max"] = s.median_sigma_max;
  j["median_stable_rank"] = s.median_stable_rank;
  j["median_effective_rank"] = s.median_effective_rank;
  j["median_participation_ratio"] = s.median_participation_ratio;
  j["median_alpha"] = s.median_alpha;
  j["alpha_fitted"] = s.alpha_fitted;
  j["mean_capacity_utilization"] = s.mean_capacity_utilization;
  j["total_tail_dims"] = s.total_tail_dims;
  j["targetable_matrices"] = s.targetable_matrices;
  j["reference_rank_dimension"] = s.reference_rank_dimension;
  return j;
}

void print_text(const CapacityReport& r, const std::vector<MatrixCapacity>& rows, double seconds) {
  const CapacitySummary& s = r.summary;
  std::printf("MODEL CAPACITY  %s", r.model_path.c_str());
  if (!r.model_type.empty()) std::printf("  (%s, %lld layers)", r.model_type.c_str(), static_cast<long long>(r.num_layers));
  std::printf("\n\n");
  std::printf("matrices           %lld analysed, %lld tensors skipped (not 2-D or filtered out)\n",
              static_cast<long long>(s.analyzed_matrices), static_cast<long long>(s.skipped_tensors));
  std::printf("parameters         %s of %s analysed\n", format_count(s.analyzed_parameters).c_str(),
              format_count(s.total_parameters).c_str());
  std::printf("median σ_max       %s\n", fmt_sig(s.median_sigma_max, 5).c_str());
  std::printf("median stable rank %s\n", fmt_sig(s.median_stable_rank, 5).c_str());
  std::printf("median eff. rank   %s  (Shannon, energy weights; participation ratio %s)\n",
              fmt_sig(s.median_effective_rank, 5).c_str(), fmt_sig(s.median_participation_ratio, 5).c_str());
  std::printf("median α           %s  (%lld of %lld matrices fitted; WeightWatcher 0.7.7 definition)\n",
              fmt_sig(s.median_alpha, 4).c_str(), static_cast<long long>(s.alpha_fitted),
              static_cast<long long>(s.analyzed_matrices));
  std::printf("tail dims          %lld in total, %lld of %lld matrices targetable (tail_dims > 0)\n",
              static_cast<long long>(s.total_tail_dims), static_cast<long long>(s.targetable_matrices),
              static_cast<long long>(s.analyzed_matrices));
  std::printf("reference rank dim %lld  (most common min(m, n))\n", static_cast<long long>(s.reference_rank_dimension));
  std::printf("time               %.2f s\n\n", seconds);

  TextTable t({"matrix", "shape", "σ_max", "‖W‖_F", "stable", "erank", "num.rank", "k", "tail", "knee", "gap×",
               "cond", "α"});
  for (const auto& c : rows) {
    t.add_row({c.name, str(c.m, "×", c.n), fmt_sig(c.cap.spectral_norm, 4), fmt_sig(c.cap.frobenius_norm, 4),
               fmt_fixed(c.cap.stable_rank, 2), fmt_fixed(c.geo.erank, 1), std::to_string(c.numerical_rank),
               std::to_string(c.geo.k), std::to_string(c.geo.tail_dims), std::to_string(c.cap.recommended_rank),
               fmt_sig(c.cap.spectral_gap_at_rank, 3), fmt_sig(c.condition_number, 4),
               c.alpha.ok ? fmt_fixed(c.alpha.alpha, 2) : "-"});
  }
  std::fputs(t.render().c_str(), stdout);
  if (rows.size() < static_cast<size_t>(s.analyzed_matrices))
    std::printf("(%zu of %lld matrices shown; --top to change)\n", rows.size(),
                static_cast<long long>(s.analyzed_matrices));
  std::printf("\nerank = exp(Shannon entropy of σ²/Σσ²); k = structural rank max(1, min(⌊erank⌋, d−1)); tail = "
              "min(m,n) − k;\nknee = argmax σ_i/σ_{i+1} (gap× = that ratio); num.rank = #{σ > σ₁·max(m,n)·ε_f32}; "
              "cond = σ₁/σ_num.rank.\n");
}

}  // namespace

int cmd_model_capacity(const std::vector<std::string>& argv) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  Args args("mc model capacity MODEL [--sort-by KEY] [--top N] [-m SUBSTR,...] [--json] [--threads N]",
            "Spectral capacity of every 2-D weight matrix of a Hugging Face model directory (or .safetensors\n"
            "file): σ_max, Frobenius and nuclear norms, stable rank, Shannon effective rank, participation ratio,\n"
            "numerical ranks, structural rank k and tail_dims (spec/training.md §2), the relative-gap knee\n"
            "(recommended rank), condition number and the WeightWatcher power-law exponent α of the ESD. The\n"
            "summary gives medians and totals over the analysed matrices. Full SVD in double precision.",
            {{"sort-by", 0, "KEY", "row order: " + sort_key_list() + " (default name; others largest first)"},
             {"top", 'n', "N", "show only the first N rows after sorting (summary still covers all)"},
             {"modules", 'm', "SUBSTR,...", "analyse only tensors whose name contains one of these substrings"},
             {"min-dim", 0, "D", "analyse only matrices with min(m, n) >= D"},
             {"max-dim", 0, "D", "analyse only matrices with min(m, n) <= D"},
             {"precision", 0, "P", "SVD precision: double (default; matches numpy float64) or single (faster)"},
             {"singular-values", 0, "", "include every matrix's singular values in --json output"},
             {"threads", 'j', "N", str("worker threads, one matrix each (default ", hw, ")")},
             {"json", 0, "", "print one JSON document (schema mc.model.capacity.v1)"}},
            {"MODEL"},
            "  mc model capacity models/SmolLM2-135M-Instruct --sort-by alpha --top 20\n"
            "  mc model capacity models/SmolLM2-135M-Instruct -m q_proj,v_proj --json");
  if (!args.parse(argv)) return 0;
  CapacityOptions opt;
  if (auto m = args.value("modules")) {
    opt.include = split_list(*m);
    if (opt.include.empty()) throw Error("cli", "--modules needs at least one substring");
  }
  opt.min_dim = args.int_value("min-dim", 0, 0);
  opt.max_dim = args.int_value("max-dim", 0, 0);
  opt.threads = static_cast<int>(args.int_value("threads", hw, 1));
  opt.keep_singular_values = args.flag("singular-values");
  const std::string prec = args.value_or("precision", "double");
  if (prec == "double") {
    opt.precision = geometry::SvdPrecision::Double;
  } else if (prec == "single") {
    opt.precision = geometry::SvdPrecision::Single;
  } else {
    throw Error("cli", "--precision must be double or single, got '" + prec + "'");
  }
  const std::string sort_by = args.value_or("sort-by", "name");
  const int64_t top = args.int_value("top", -1, 1);
  {
    std::vector<MatrixCapacity> probe;  // validate --sort-by before the (long) analysis
    sort_matrices(probe, sort_by);
  }
  const bool tty = isatty(fileno(stderr)) != 0;
  if (tty)
    opt.progress = [](size_t done, size_t total, const std::string& name) {
      std::fprintf(stderr, "\r\033[Kmc: capacity [%zu/%zu] %s", done, total, name.c_str());
      if (done == total) std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    };

  const auto t0 = std::chrono::steady_clock::now();
  CapacityReport report = capacity_analyze(args.positionals()[0], opt);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<MatrixCapacity> rows = report.matrices;
  sort_matrices(rows, sort_by);
  if (top > 0 && static_cast<size_t>(top) < rows.size()) rows.resize(static_cast<size_t>(top));

  if (args.flag("json")) {
    OrderedJson j;
    j["schema"] = "mc.model.capacity.v1";
    j["model_path"] = report.model_path;
    j["model_type"] = report.model_type;
    j["num_layers"] = report.num_layers;
    j["sort_by"] = sort_by;
    j["svd_precision"] = prec;
    j["seconds"] = seconds;
    j["summary"] = summary_json(report.summary);
    OrderedJson arr = OrderedJson::array();
    for (const auto& c : rows) arr.push_back(matrix_json(c, opt.keep_singular_values));
    j["matrices"] = arr;
    std::printf("%s\n", json_dump(j).c_str());
  } else {
    print_text(report, rows, seconds);
  }
  return 0;
}

}  // namespace mc::cli
