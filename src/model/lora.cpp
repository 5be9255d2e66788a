// LoRA sites, module resolution against the engine's layer layout, target selection (PEFT's rules for a
// list of names) and the in-memory adapter set. See model/lora.h; file I/O is model/lora_io.h.
#include "model/lora.h"

#include <algorithm>

#include "core/error.h"

namespace mc {

namespace {

constexpr int kSites = static_cast<int>(LoraSite::Count);

/// The HF path of `site` in layer spec `s` (empty when the layer has no such linear).
const std::string& site_path(const LayerSpec& s, LoraSite site) {
  static const std::string none;
  switch (site) {
    case LoraSite::Q: return s.q_proj;
    case LoraSite::K: return s.k_proj;
    case LoraSite::V: return s.v_proj;
    case LoraSite::O: return s.o_proj;
    case LoraSite::ConvIn: return s.conv_in;
    case LoraSite::ConvOut: return s.conv_out;
    case LoraSite::Gate: return s.gate;
    case LoraSite::Up: return s.up;
    case LoraSite::Down: return s.down;
    case LoraSite::Count: break;
  }
  return none;
}

/// (out, in) of the weight at `site` for config c.
void site_shape(const ModelConfig& c, LoraSite site, int64_t& out, int64_t& in) {
  const int64_t D = c.hidden_size, F = c.ffn_dim;
  switch (site) {
    case LoraSite::Q: out = c.q_dim(); in = D; return;
    case LoraSite::K:
    case LoraSite::V: out = c.kv_dim(); in = D; return;
    case LoraSite::O: out = D; in = c.q_dim(); return;
    case LoraSite::ConvIn: out = 3 * D; in = D; return;
    case LoraSite::ConvOut: out = D; in = D; return;
    case LoraSite::Gate:
    case LoraSite::Up: out = F; in = D; return;
    case LoraSite::Down: out = D; in = F; return;
    case LoraSite::Count: break;
  }
  out = in = 0;
}

std::string leaf_of(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

/// PEFT's match of one entry of a target_modules list: the module name equals it or ends with "." + it.
bool target_matches(const std::string& module, const std::string& target) {
  if (module == target) return true;
  return module.size() > target.size() && module[module.size() - target.size() - 1] == '.' &&
         module.compare(module.size() - target.size(), target.size(), target) == 0;
}

}  // namespace

const char* lora_site_name(LoraSite s) {
  switch (s) {
    case LoraSite::Q: return "q_proj";
    case LoraSite::K: return "k_proj";
    case LoraSite::V: return "v_proj";
    case LoraSite::O: return "o_proj";
    case LoraSite::ConvIn: return "in_proj";
    case LoraSite::ConvOut: return "out_proj";
    case LoraSite::Gate: return "gate_proj";
    case LoraSite::Up: return "up_proj";
    case LoraSite::Down: return "down_proj";
    case LoraSite::Count: break;
  }
  return "?";
}

const LoraWeights* LoraSet::find(int64_t layer, LoraSite site) const {
  const int64_t i = layer * kSites + static_cast<int64_t>(site);
  if (layer < 0 || site >= LoraSite::Count || i >= static_cast<int64_t>(index.size())) return nullptr;
  const int k = index[static_cast<size_t>(i)];
  return k < 0 ? nullptr : &modules[static_cast<size_t>(k)];
}

LoraWeights* LoraSet::find(int64_t layer, LoraSite site) {
  return const_cast<LoraWeights*>(static_cast<const LoraSet*>(this)->find(layer, site));
}

void LoraSet::reindex(int64_t n_layers) {
  index.assign(static_cast<size_t>(n_layers * kSites), -1);
  for (size_t k = 0; k < modules.size(); ++k) {
    const LoraWeights& m = modules[k];
    MC_CHECK(m.layer >= 0 && m.layer < n_layers, "LoRA module ", m.module, " has layer ", m.layer, " of ", n_layers);
    MC_CHECK(m.site < LoraSite::Count, "LoRA module ", m.module, " has no valid site");
    int& slot = index[static_cast<size_t>(m.layer * kSites + static_cast<int64_t>(m.site))];
    MC_CHECK(slot < 0, "two LoRA modules at layer ", m.layer, " site ", lora_site_name(m.site), ": ",
             modules[static_cast<size_t>(std::max(slot, 0))].module, " and ", m.module);
    slot = static_cast<int>(k);
  }
}

int64_t LoraSet::n_params() const {
  int64_t n = 0;
  for (const auto& m : modules) n += m.r * (m.in + m.out);
  return n;
}

bool lora_resolve(const ArchSpec& arch, const ModelConfig& c, const std::string& module, int64_t& layer,
                  LoraSite& site, int64_t& out, int64_t& in) {
  if (module.empty()) return false;
  for (size_t il = 0; il < arch.layers.size(); ++il)
    for (int s = 0; s < kSites; ++s) {
      const std::string& p = site_path(arch.layers[il], static_cast<LoraSite>(s));
      if (p.empty() || p != module) continue;
      layer = static_cast<int64_t>(il);
      site = static_cast<LoraSite>(s);
      site_shape(c, site, out, in);
      return true;
    }
  return false;
}

std::vector<std::string> lora_target_modules(const ArchSpec& arch, const ModelConfig& c,
                                             const std::vector<std::string>& targets) {
  if (targets.empty()) throw Error("lora", "no target modules given");
  const bool all_linear = targets.size() == 1 && targets[0] == "all-linear";
  std::vector<std::string> modules, leaves;
  std::vector<bool> used(targets.size(), false);
  for (const auto& layer : arch.layers)
    for (int s = 0; s < kSites; ++s) {
      const std::string& p = site_path(layer, static_cast<LoraSite>(s));
      if (p.empty()) continue;
      const std::string leaf = leaf_of(p);
      if (std::find(leaves.begin(), leaves.end(), leaf) == leaves.end()) leaves.push_back(leaf);
      bool hit = all_linear;
      for (size_t t = 0; t < targets.size(); ++t)
        if (!all_linear && target_matches(p, targets[t])) {
          used[t] = true;
          hit = true;
        }
      if (hit) modules.push_back(p);
    }
  for (size_t t = 0; t < targets.size() && !all_linear; ++t) {
    if (used[t]) continue;
    std::string list;
    for (const auto& l : leaves) list += (list.empty() ? "" : ", ") + l;
    throw Error("lora", str("target module '", targets[t], "' matches no linear module of ", c.model_type,
                            " (available: ", list, ")"));
  }
  return modules;
}

void LoraGrads::init(const LoraSet& set) {
  dA.clear();
  dB.clear();
  dA.reserve(set.modules.size());
  dB.reserve(set.modules.size());
  for (const auto& m : set.modules) {
    dA.emplace_back(Shape{m.r, m.in});
    dB.emplace_back(Shape{m.out, m.r});
  }
}

void LoraGrads::zero() {
  for (auto& t : dA) t.fill(0.0f);
  for (auto& t : dB) t.fill(0.0f);
}

}  // namespace mc
