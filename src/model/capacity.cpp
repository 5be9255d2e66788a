// Spectral capacity of a checkpoint's weight matrices: matrix discovery, a small worker pool over the
// matrices, and the summaries. The measures themselves come from src/geometry.
#include "model/capacity.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "model/config.h"
#include "model/weights.h"

namespace mc {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Sets OpenBLAS to one thread for the lifetime of the guard when we run our own workers, and puts the
/// previous count back afterwards.
class BlasThreadsGuard {
 public:
  explicit BlasThreadsGuard(bool single) : saved_(single ? gemm_threads() : 0) {
    if (single) gemm_set_threads(1);
  }
  ~BlasThreadsGuard() {
    if (saved_ > 0) gemm_set_threads(saved_);
  }
  BlasThreadsGuard(const BlasThreadsGuard&) = delete;
  BlasThreadsGuard& operator=(const BlasThreadsGuard&) = delete;

 private:
  int saved_;
};

bool passes_filters(const std::string& name, int64_t m, int64_t n, const CapacityOptions& o) {
  if (!o.include.empty()) {
    bool any = false;
    for (const auto& s : o.include) any = any || name.find(s) != std::string::npos;
    if (!any) return false;
  }
  const int64_t d = std::min(m, n);
  if (d < o.min_dim) return false;
  if (o.max_dim > 0 && d > o.max_dim) return false;
  return true;
}

std::string group_of(const std::string& name) {
  try {
    return std::string(weight_group_name(weight_group_of(name)));
  } catch (const Error&) {
    return "other";
  }
}

}  // namespace

std::string capacity_module_of(const std::string& name) {
  std::string base = name;
  const std::string suffix = ".weight";
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0)
    base.resize(base.size() - suffix.size());
  // Inside a decoder layer: everything after "layers.<i>." ("self_attn.q_proj", "conv.out_proj").
  const int64_t il = capacity_layer_of(base);
  if (il >= 0) {
    const std::string key = "layers." + std::to_string(il) + ".";
    const size_t pos = base.find(key);
    if (pos != std::string::npos && pos + key.size() < base.size()) return base.substr(pos + key.size());
  }
  auto dot = base.rfind('.');
  return dot == std::string::npos ? base : base.substr(dot + 1);
}

int64_t capacity_layer_of(const std::string& name) {
  const std::string key = "layers.";
  size_t pos = 0;
  while ((pos = name.find(key, pos)) != std::string::npos) {
    if (pos == 0 || name[pos - 1] == '.') {
      size_t i = pos + key.size(), j = i;
      while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
      if (j > i && j - i <= 9 && (j == name.size() || name[j] == '.')) return std::stoll(name.substr(i, j - i));
    }
    pos += key.size();
  }
  return -1;
}

double median_finite(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t k = v.size() / 2;
  return v.size() % 2 ? v[k] : 0.5 * (v[k - 1] + v[k]);
}

MatrixCapacity matrix_capacity_from_spectrum(std::vector<double> s, int64_t m, int64_t n, bool keep_singular_values) {
  MatrixCapacity c;
  c.m = m;
  c.n = n;
  c.cap = geometry::capacity_metrics(s, m, n);
  c.geo = geometry::layer_geometry(s, m, n);
  c.numerical_rank = geometry::numerical_rank(s, m, n, geometry::kEpsF32);
  c.condition_number = geometry::condition_number(s, m, n, geometry::kEpsF32);
  c.alpha = geometry::esd_alpha(s);
  if (keep_singular_values) c.singular_values = std::move(s);
  return c;
}

MatrixCapacity matrix_capacity(const float* w, int64_t m, int64_t n, bool keep_singular_values,
                               geometry::SvdPrecision precision) {
  // σ(W) = σ(Wᵀ). LAPACK reads our row-major (m, n) buffer as the column-major (n, m) matrix, and
  // dgesdd's path for a wide matrix (LQ first) runs ~2.7× slower than its tall path (QR first) with
  // OpenBLAS here (measured on the 49152 × 576 embedding: 4.9 s vs 1.8 s, numpy shows the same). So a
  // tall W is transposed first: LAPACK then sees a tall matrix either way.
  if (m > n) {
    std::vector<float> wt(static_cast<size_t>(m * n));  // (n, m)
    constexpr int64_t kBlock = 64;                        // cache-blocked transpose
    for (int64_t i0 = 0; i0 < m; i0 += kBlock)
      for (int64_t j0 = 0; j0 < n; j0 += kBlock)
        for (int64_t i = i0; i < std::min(m, i0 + kBlock); ++i)
          for (int64_t j = j0; j < std::min(n, j0 + kBlock); ++j) wt[static_cast<size_t>(j * m + i)] = w[i * n + j];
    geometry::MatrixViewF view(wt.data(), n, m);
    return matrix_capacity_from_spectrum(geometry::singular_values(view, precision), m, n, keep_singular_values);
  }
  geometry::MatrixViewF view(w, m, n);
  return matrix_capacity_from_spectrum(geometry::singular_values(view, precision), m, n, keep_singular_values);
}

CapacityReport capacity_analyze(const std::string& path, const CapacityOptions& options) {
  if (!path_exists(path)) throw Error("capacity", path + ": no such file or directory");
  CapacityReport report;
  report.model_path = path;

  // Layer indices and groups from the architecture's layout when there is a config; names otherwise.
  std::map<std::string, const WeightSpec*> spec_of;
  std::vector<WeightSpec> specs;
  if (is_directory(path) && path_exists(path + "/config.json")) {
    ModelConfig cfg = config_load(path);
    report.model_type = cfg.model_type;
    report.num_layers = cfg.num_hidden_layers;
    specs = expected_weights(cfg);
    for (const auto& s : specs) spec_of[s.name] = &s;
  }
  SafetensorsModel st = SafetensorsModel::open(path);

  struct Job {
    std::string name;
    int64_t m, n;
  };
  std::vector<Job> jobs;
  for (const auto& [name, e] : st.tensors()) {
    const auto& shape = e.info->shape;
    report.summary.total_parameters += e.info->numel();
    const bool is_float = e.info->dtype == Dtype::F32 || e.info->dtype == Dtype::F16 ||
                          e.info->dtype == Dtype::BF16 || e.info->dtype == Dtype::F64;
    if (shape.size() != 2 || !is_float || shape[0] == 0 || shape[1] == 0 ||
        !passes_filters(name, shape[0], shape[1], options)) {
      report.summary.skipped_tensors++;
      continue;
    }
    jobs.push_back({name, shape[0], shape[1]});
  }
  if (jobs.empty())
    throw Error("capacity", path + ": no 2-D floating-point weight matrix " +
                                (options.include.empty() && options.min_dim == 0 && options.max_dim == 0
                                     ? std::string("in the checkpoint")
                                     : std::string("passes the filters")));

  report.matrices.resize(jobs.size());
  const int threads = std::max(1, std::min<int>(options.threads, static_cast<int>(jobs.size())));
  BlasThreadsGuard blas_guard(threads > 1);
  std::atomic<size_t> next{0};
  std::mutex mu;
  size_t done = 0;
  std::exception_ptr failure;
  std::string failed_name;

  auto worker = [&]() {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= jobs.size()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (failure) return;
      }
      const Job& job = jobs[i];
      try {
        std::vector<float> w = st.to_f32(job.name);  // (m, n)
        MatrixCapacity c = matrix_capacity(w.data(), job.m, job.n, options.keep_singular_values, options.precision);
        const auto* entry = st.find(job.name);
        c.name = job.name;
        c.module = capacity_module_of(job.name);
        c.dtype = std::string(dtype_name(entry->info->dtype));
        auto it = spec_of.find(job.name);
        if (it != spec_of.end()) {
          c.layer = it->second->layer;
          c.group = std::string(weight_group_name(it->second->group));
        } else {
          c.layer = capacity_layer_of(job.name);
          c.group = group_of(job.name);
        }
        report.matrices[i] = std::move(c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failure) {
          failure = std::current_exception();
          failed_name = job.name;
        }
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (options.progress) options.progress(done, jobs.size(), job.name);
    }
  };
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const Error& e) {
      throw Error(e.component(), str(failed_name, ": ", std::string(e.what()).substr(e.component().size() + 3)),
                  e.code());
    }
  }

  // Summary.
  CapacitySummary& s = report.summary;
  std::vector<double> smax, srank, erank, pr, alpha;
  std::map<int64_t, int64_t> dim_count;
  double util = 0.0;
  for (const auto& c : report.matrices) {
    s.analyzed_parameters += static_cast<uint64_t>(c.m * c.n);
    smax.push_back(c.cap.spectral_norm);
    srank.push_back(c.cap.stable_rank);
    erank.push_back(c.geo.erank);
    pr.push_back(c.cap.effective_rank);
    if (c.alpha.ok) {
      alpha.push_back(c.alpha.alpha);
      s.alpha_fitted++;
    }
    util += c.cap.capacity_utilization;
    s.total_tail_dims += c.geo.tail_dims;
    s.targetable_matrices += c.geo.is_targetable ? 1 : 0;
    dim_count[std::min(c.m, c.n)]++;
  }
  s.analyzed_matrices = static_cast<int64_t>(report.matrices.size());
  s.median_sigma_max = median_finite(smax);
  s.median_stable_rank = median_finite(srank);
  s.median_effective_rank = median_finite(erank);
  s.median_participation_ratio = median_finite(pr);
  s.median_alpha = median_finite(alpha);
  s.mean_capacity_utilization = util / static_cast<double>(report.matrices.size());
  int64_t best = -1;
  for (const auto& [d, cnt] : dim_count)  // ascending d, so ">=" lets the larger d win a tie
    if (best < 0 || cnt >= dim_count[best]) best = d;
  s.reference_rank_dimension = best;
  return report;
}

// --- spectral trajectory ------------------------------------------------------------------------------

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  MC_CHECK(x.size() == y.size(), "spearman: sizes differ (", x.size(), " vs ", y.size(), ")");
  std::vector<double> a, b;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      a.push_back(x[i]);
      b.push_back(y[i]);
    }
  if (a.size() < 2) return kNaN;
  auto ranks = [](const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size();) {
      size_t j = i;
      while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
      const double avg = 0.5 * static_cast<double>(i + j) + 1.0;  // 1-based average rank of the tie block
      for (size_t t = i; t <= j; ++t) r[idx[t]] = avg;
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(ra.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa <= 0.0 || sbb <= 0.0) return kNaN;
  return sab / std::sqrt(saa * sbb);
}

std::vector<ModuleTrajectory> spectral_trajectory(const CapacityReport& report) {
  std::vector<const MatrixCapacity*> in_layers;
  for (const auto& c : report.matrices)
    if (c.layer >= 0) in_layers.push_back(&c);
  std::stable_sort(in_layers.begin(), in_layers.end(),
                   [](const MatrixCapacity* a, const MatrixCapacity* b) { return a->layer < b->layer; });
  // Module order: first appearance within the lowest layer that holds each module, in the
  // architecture's layout order (expected_weights order is lost after name sorting, so we use a fixed
  // preference list for the common projections and name order for the rest).
  static const std::vector<std::string> kPreferred = {
      "self_attn.q_proj",  "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "self_attn.out_proj",
      "conv.in_proj",      "conv.out_proj",    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
      "feed_forward.w1",   "feed_forward.w3",  "feed_forward.w2"};
  std::vector<std::string> modules;
  for (const auto* c : in_layers)
    if (std::find(modules.begin(), modules.end(), c->module) == modules.end()) modules.push_back(c->module);
  auto pref = [&](const std::string& m) {
    auto it = std::find(kPreferred.begin(), kPreferred.end(), m);
    return it == kPreferred.end() ? kPreferred.size() : static_cast<size_t>(it - kPreferred.begin());
  };
  std::stable_sort(modules.begin(), modules.end(), [&](const std::string& a, const std::string& b) {
    return pref(a) != pref(b) ? pref(a) < pref(b) : a < b;
  });

  std::vector<ModuleTrajectory> out;
  for (const auto& mod : modules) {
    ModuleTrajectory t;
    t.module = mod;
    for (const auto* c : in_layers) {
      if (c->module != mod) continue;
      t.layers.push_back(c->layer);
      t.sigma_max.push_back(c->cap.spectral_norm);
      t.effective_rank.push_back(c->geo.erank);
      t.stable_rank.push_back(c->cap.stable_rank);
      t.alpha.push_back(c->alpha.ok ? c->alpha.alpha : kNaN);
    }
    std::vector<double> li(t.layers.begin(), t.layers.end());
    t.sigma_max_trend = spearman(li, t.sigma_max);
    t.effective_rank_trend = spearman(li, t.effective_rank);
    t.stable_rank_trend = spearman(li, t.stable_rank);
    t.alpha_trend = spearman(li, t.alpha);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace mc
