// JSON cache of candidate geometry: layout, validation and atomic write (plan_geometry_cache.h).
#include "train/plan_geometry_cache.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.h"
#include "core/fs.h"

namespace mc::train {

namespace {

/// Reasons are plain text; a thrown nlohmann/json error inside validation is one too.
struct Reject {
  std::string why;
};

[[noreturn]] void reject(const std::string& why) { throw Reject{why}; }

int64_t get_int(const Json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) reject(where + ": '" + key + "' missing or not an integer");
  return it->get<int64_t>();
}

double get_finite(const Json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) reject(where + ": '" + key + "' missing or not a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) reject(where + ": '" + key + "' is not finite");
  return v;
}

bool get_bool(const Json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_boolean()) reject(where + ": '" + key + "' missing or not a boolean");
  return it->get<bool>();
}

std::string get_string(const Json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) reject(where + ": '" + key + "' missing or not a string");
  return it->get<std::string>();
}

ModuleGeometry module_from_json(const Json& j, const GeometryCandidate& want, size_t index) {
  const std::string where = "modules[" + std::to_string(index) + "]";
  if (!j.is_object()) reject(where + " is not an object");
  ModuleGeometry g;
  g.name = get_string(j, "name", where);
  if (g.name != want.name) reject(where + ": name '" + g.name + "' but the model's candidate is '" + want.name + "'");
  g.module = want.module;
  g.layer = want.layer;
  g.role = want.role;
  geometry::LayerGeometry& o = g.geo;
  o.m = get_int(j, "m", where);
  o.n = get_int(j, "n", where);
  if (o.m != want.m || o.n != want.n)
    reject(where + " (" + g.name + "): cached shape differs from the model's (" + std::to_string(want.m) + ", " +
           std::to_string(want.n) + ")");
  o.full_rank = get_int(j, "full_rank", where);
  o.n_svs = get_int(j, "n_svs", where);
  o.sigma_max = get_finite(j, "sigma_max", where);
  o.recommended_rank = get_int(j, "recommended_rank", where);
  {
    auto it = j.find("recommended_gap_ratio");
    if (it == j.end()) reject(where + ": 'recommended_gap_ratio' missing");
    if (it->is_null()) {
      o.recommended_gap_ratio = std::numeric_limits<double>::infinity();  // written as null (JSON has no inf)
    } else if (it->is_number() && std::isfinite(it->get<double>()) && it->get<double>() >= 0.0) {
      o.recommended_gap_ratio = it->get<double>();
    } else {
      reject(where + ": 'recommended_gap_ratio' is not a non-negative number or null");
    }
  }
  o.precision_rank = get_int(j, "precision_rank", where);
  o.erank = get_finite(j, "erank", where);
  o.k = get_int(j, "k", where);
  o.sigma_k = get_finite(j, "sigma_k", where);
  o.spectral_gap = get_finite(j, "spectral_gap", where);
  o.tail_dims = get_int(j, "tail_dims", where);
  o.decay_ratio = get_finite(j, "decay_ratio", where);
  o.is_targetable = o.tail_dims > 0;
  g.exact = get_bool(j, "exact", where);
  g.rounds = static_cast<int>(get_int(j, "rounds", where));
  g.tail_energy_fraction = get_finite(j, "tail_energy_fraction", where);

  // Internal consistency (training.md §2 definitions).
  const std::string w = where + " (" + g.name + ")";
  if (o.full_rank != std::min(o.m, o.n)) reject(w + ": full_rank != min(m, n)");
  if (o.n_svs < 1 || o.n_svs > o.full_rank) reject(w + ": n_svs out of [1, full_rank]");
  if (g.exact != (o.n_svs == o.full_rank)) reject(w + ": 'exact' disagrees with n_svs");
  if (o.k < 1 || o.k > std::max<int64_t>(1, o.n_svs - 1)) reject(w + ": k out of [1, max(1, n_svs - 1)]");
  if (o.tail_dims != std::max<int64_t>(0, o.full_rank - o.k)) reject(w + ": tail_dims != full_rank - k");
  if (o.sigma_max < 0.0 || o.sigma_k <= 0.0 || o.sigma_k > o.sigma_max * (1.0 + geometry::kEpsF32))
    if (!(o.sigma_max == 0.0 && o.sigma_k == geometry::kTinyF32)) reject(w + ": sigma values inconsistent");
  if (o.spectral_gap < 0.0) reject(w + ": negative spectral_gap");
  if (o.erank < 0.0 || o.erank > static_cast<double>(o.full_rank) * (1.0 + geometry::kSqrtEpsF32))
    reject(w + ": erank out of [0, full_rank]");
  if (o.decay_ratio <= 0.0 && o.sigma_max > 0.0) reject(w + ": decay_ratio not positive");
  if (o.precision_rank < 0 || o.precision_rank > o.n_svs) reject(w + ": precision_rank out of range");
  if (o.recommended_rank < 0 || o.recommended_rank > o.n_svs) reject(w + ": recommended_rank out of range");
  if (g.rounds < 0 || g.tail_energy_fraction < 0.0 || g.tail_energy_fraction > 1.0)
    reject(w + ": randomized-spectrum fields out of range");
  return g;
}

}  // namespace

std::string geometry_cache_path(const std::string& dir, const std::string& model_hash) {
  return dir + "/" + model_hash + ".json";
}

OrderedJson geometry_cache_to_json(const std::string& model_hash, int64_t exact_max_dim,
                                   const std::vector<ModuleGeometry>& modules) {
  OrderedJson doc;
  doc["schema"] = kGeometryCacheSchema;
  doc["version"] = kGeometryCacheVersion;
  doc["model_hash"] = model_hash;
  doc["exact_max_dim"] = exact_max_dim;
  OrderedJson arr = OrderedJson::array();
  for (const auto& g : modules) {
    const geometry::LayerGeometry& o = g.geo;
    OrderedJson j;
    j["name"] = g.name;
    j["m"] = o.m;
    j["n"] = o.n;
    j["full_rank"] = o.full_rank;
    j["n_svs"] = o.n_svs;
    j["sigma_max"] = o.sigma_max;
    j["recommended_rank"] = o.recommended_rank;
    j["recommended_gap_ratio"] = o.recommended_gap_ratio;  // +inf prints as null
    j["precision_rank"] = o.precision_rank;
    j["erank"] = o.erank;
    j["k"] = o.k;
    j["sigma_k"] = o.sigma_k;
    j["spectral_gap"] = o.spectral_gap;
    j["tail_dims"] = o.tail_dims;
    j["decay_ratio"] = o.decay_ratio;
    j["exact"] = g.exact;
    j["rounds"] = g.rounds;
    j["tail_energy_fraction"] = g.tail_energy_fraction;
    arr.push_back(std::move(j));
  }
  doc["modules"] = std::move(arr);
  return doc;
}

std::optional<std::vector<ModuleGeometry>> geometry_cache_from_json(const Json& doc, const std::string& model_hash,
                                                                    int64_t exact_max_dim,
                                                                    const std::vector<GeometryCandidate>& expected,
                                                                    std::string* why) {
  try {
    if (!doc.is_object()) reject("not a JSON object");
    if (get_string(doc, "schema", "cache") != kGeometryCacheSchema) reject("unknown schema");
    if (get_int(doc, "version", "cache") != kGeometryCacheVersion) reject("written by another cache version");
    if (get_string(doc, "model_hash", "cache") != model_hash) reject("written for another model hash");
    if (get_int(doc, "exact_max_dim", "cache") != exact_max_dim) reject("written with another exact-SVD threshold");
    auto it = doc.find("modules");
    if (it == doc.end() || !it->is_array()) reject("'modules' missing or not an array");
    if (it->size() != expected.size())
      reject("holds " + std::to_string(it->size()) + " modules, the model has " + std::to_string(expected.size()));
    std::vector<ModuleGeometry> out;
    out.reserve(expected.size());
    for (size_t i = 0; i < expected.size(); ++i) out.push_back(module_from_json((*it)[i], expected[i], i));
    return out;
  } catch (const Reject& r) {
    if (why) *why = r.why;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
  }
  return std::nullopt;
}

std::optional<std::vector<ModuleGeometry>> geometry_cache_read(const std::string& path, const std::string& model_hash,
                                                               int64_t exact_max_dim,
                                                               const std::vector<GeometryCandidate>& expected,
                                                               std::string* why) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (why) *why = "absent";
    return std::nullopt;
  }
  try {
    const Json doc = json_load(path, "plan");
    return geometry_cache_from_json(doc, model_hash, exact_max_dim, expected, why);
  } catch (const std::exception& e) {
    if (why) *why = e.what();
  }
  return std::nullopt;
}

void geometry_cache_write(const std::string& path, const std::string& model_hash, int64_t exact_max_dim,
                          const std::vector<ModuleGeometry>& modules) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("plan", dir.string() + ": cannot create the geometry cache directory (" + ec.message() + ")");
  write_file_atomic(path, json_dump(geometry_cache_to_json(model_hash, exact_max_dim, modules)) + "\n", "plan");
}

}  // namespace mc::train
