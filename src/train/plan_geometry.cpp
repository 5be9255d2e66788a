// Candidate discovery, per-matrix spectra, the worker pool and the cache round trip of plan_geometry.h.
#include "train/plan_geometry.h"

#include "tensor/dtype.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "kernels/gemm.h"
#include "model/transformer.h"
#include "tensor/dtype.h"
#include "train/plan_geometry_cache.h"

namespace mc::train {

namespace {

/// Cache-blocked transpose tile (elements per side): 64×64 floats = 16 KiB, two tiles fit in L1.
constexpr int64_t kTransposeBlock = 64;

/// OpenBLAS at one thread while our own workers run (restored afterwards), as in model/capacity.cpp.
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

}  // namespace

const char* proj_role_name(ProjRole r) {
  switch (r) {
    case ProjRole::Q: return "q";
    case ProjRole::K: return "k";
    case ProjRole::V: return "v";
    case ProjRole::O: return "o";
    case ProjRole::ConvIn: return "conv_in";
    case ProjRole::ConvOut: return "conv_out";
    case ProjRole::Gate: return "gate";
    case ProjRole::Up: return "up";
    case ProjRole::Down: return "down";
  }
  return "?";
}

const char* cache_status_name(CacheStatus s) {
  switch (s) {
    case CacheStatus::Disabled: return "disabled";
    case CacheStatus::Hit: return "hit";
    case CacheStatus::Miss: return "miss";
    case CacheStatus::Invalid: return "invalid";
  }
  return "?";
}

std::vector<GeometryCandidate> geometry_candidates(const Model& model) {
  std::map<std::string, const NamedWeight*> by_name;
  const std::vector<NamedWeight> weights = model.weights();
  for (const auto& w : weights) by_name[w.name] = &w;

  std::vector<GeometryCandidate> out;
  const auto& layers = model.arch().layers;
  for (size_t il = 0; il < layers.size(); ++il) {
    const LayerSpec& s = layers[il];
    const std::pair<const std::string*, ProjRole> sites[] = {
        {&s.q_proj, ProjRole::Q},        {&s.k_proj, ProjRole::K},          {&s.v_proj, ProjRole::V},
        {&s.o_proj, ProjRole::O},        {&s.conv_in, ProjRole::ConvIn},    {&s.conv_out, ProjRole::ConvOut},
        {&s.gate, ProjRole::Gate},       {&s.up, ProjRole::Up},             {&s.down, ProjRole::Down}};
    for (const auto& [path, role] : sites) {
      if (path->empty()) continue;
      auto it = by_name.find(*path + ".weight");
      if (it == by_name.end()) continue;  // absent in this layer
      const NamedWeight& w = *it->second;
      if (w.shape.ndim != 2) continue;
      out.push_back({w.name, *path, static_cast<int64_t>(il), role, w.data, w.shape[0], w.shape[1], w.bf16});
    }
  }
  return out;
}

uint64_t geometry_matrix_seed(const std::string& name) {
  Sha256 h;
  h.update(name);
  const auto d = h.digest();
  return (uint64_t{d[0]} << 24) | (uint64_t{d[1]} << 16) | (uint64_t{d[2]} << 8) | uint64_t{d[3]};
}

ModuleGeometry module_geometry(const GeometryCandidate& c, int64_t exact_max_dim) {
  geometry::SpectrumOptions so;
  so.exact_max_dim = exact_max_dim;
  so.seed = geometry_matrix_seed(c.name);
  // σ(W) = σ(Wᵀ): LAPACK reads our row-major (m, n) buffer as the column-major (n, m) matrix, and
  // gesdd is ~2.7× faster on tall than on wide input (measured in model/capacity.cpp), so a tall W is
  // transposed first. Shapes in the geometry stay (m, n).
  std::vector<float> widened;  // bf16 weights widened exactly: the spectrum of the values the model uses
  const float* data = c.data;
  if (!data) {
    widened.resize(static_cast<size_t>(c.m * c.n));
    convert_to_f32(Dtype::BF16, c.bf16, widened.data(), widened.size());
    data = widened.data();
  }
  geometry::SpectrumEstimate e;
  if (c.m > c.n) {
    std::vector<float> wt(static_cast<size_t>(c.m * c.n));  // (n, m)
    for (int64_t i0 = 0; i0 < c.m; i0 += kTransposeBlock)
      for (int64_t j0 = 0; j0 < c.n; j0 += kTransposeBlock)
        for (int64_t i = i0; i < std::min(c.m, i0 + kTransposeBlock); ++i)
          for (int64_t j = j0; j < std::min(c.n, j0 + kTransposeBlock); ++j)
            wt[static_cast<size_t>(j * c.m + i)] = data[i * c.n + j];
    e = geometry::spectrum_estimate(geometry::MatrixViewF(wt.data(), c.n, c.m), so);
  } else {
    e = geometry::spectrum_estimate(geometry::MatrixViewF(data, c.m, c.n), so);
  }
  ModuleGeometry g;
  g.name = c.name;
  g.module = c.module;
  g.layer = c.layer;
  g.role = c.role;
  g.geo = geometry::layer_geometry(e.s, c.m, c.n, e.exact ? -1.0 : e.frobenius_sq);
  g.exact = e.exact;
  g.rounds = e.rounds;
  g.tail_energy_fraction = e.tail_energy_fraction;
  return g;
}

std::string default_geometry_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/mc/geometry";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/mc/geometry";
  return "";
}

namespace {

std::vector<ModuleGeometry> compute_all(const std::vector<GeometryCandidate>& cands, const GeometryOptions& o) {
  std::vector<ModuleGeometry> out(cands.size());
  const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(cands.size())));
  BlasThreadsGuard guard(threads > 1);
  std::atomic<size_t> next{0};
  std::mutex mu;
  size_t done = 0;
  std::exception_ptr failure;
  std::string failed_name;
  auto worker = [&]() {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= cands.size()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (failure) return;
      }
      try {
        out[i] = module_geometry(cands[i], o.exact_max_dim);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failure) {
          failure = std::current_exception();
          failed_name = cands[i].name;
        }
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (o.progress) o.progress(done, cands.size(), cands[i].name);
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
      throw Error("plan", failed_name + ": " + e.what(), e.code());
    }
  }
  return out;
}

}  // namespace

ModelGeometry model_geometry(const Model& model, const std::string& model_hash, const GeometryOptions& options) {
  const std::vector<GeometryCandidate> cands = geometry_candidates(model);
  if (cands.empty())
    throw Error("plan", "the model has no 2-D projection an adapter could target (q/k/v/o, conv, gate/up/down)");

  ModelGeometry mg;
  mg.model_hash = model_hash;
  std::string dir;
  if (options.cache.enabled) dir = options.cache.dir.empty() ? default_geometry_cache_dir() : options.cache.dir;
  if (dir.empty() || model_hash.empty()) {
    mg.cache_status = CacheStatus::Disabled;
    mg.modules = compute_all(cands, options);
    return mg;
  }

  mg.cache_path = geometry_cache_path(dir, model_hash);
  std::string why;
  if (auto cached = geometry_cache_read(mg.cache_path, model_hash, options.exact_max_dim, cands, &why)) {
    mg.cache_status = CacheStatus::Hit;
    mg.modules = std::move(*cached);
    return mg;
  }
  if (why == "absent") {
    mg.cache_status = CacheStatus::Miss;
  } else {
    mg.cache_status = CacheStatus::Invalid;
    mg.cache_note = why;
    log_warn("[plan] geometry cache " + mg.cache_path + " rejected (" + why + "); recomputing");
  }
  mg.modules = compute_all(cands, options);
  if (options.cache.read_only) return mg;
  try {
    geometry_cache_write(mg.cache_path, model_hash, options.exact_max_dim, mg.modules);
  } catch (const Error& e) {
    mg.cache_note = e.what();
    log_warn(std::string("[plan] could not write the geometry cache: ") + e.what());
  }
  return mg;
}

}  // namespace mc::train
