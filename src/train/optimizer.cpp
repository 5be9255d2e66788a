#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace mc::train {

const char* optimizer_name(OptimizerKind k) { return k == OptimizerKind::AdamW ? "adamw" : "sgd"; }

OptimizerKind optimizer_from_name(const std::string& name) {
  if (name == "adamw") return OptimizerKind::AdamW;
  if (name == "sgd") return OptimizerKind::Sgd;
  throw Error("train", str("unknown optimizer '", name, "' (choose adamw or sgd)"));
}

Optimizer::Optimizer(const OptimizerConfig& cfg, const std::vector<ParamRef>& params) : cfg_(cfg) {
  for (const ParamRef& p : params) {
    m_.emplace_back(Shape{p.n});
    if (cfg.kind == OptimizerKind::AdamW) v_.emplace_back(Shape{p.n});
  }
}

void Optimizer::step(const std::vector<ParamRef>& params, double lr) {
  MC_CHECK(params.size() == m_.size(), "optimizer built for ", m_.size(), " tensors, stepped with ", params.size());
  ++t_;
  if (cfg_.kind == OptimizerKind::AdamW) {
    // torch computes these scalars in Python floats (double), then uses them on fp32 tensors
    const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
    const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
    const float step_size = static_cast<float>(lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float decay = static_cast<float>(1.0 - lr * cfg_.weight_decay);
    const float w1 = static_cast<float>(1.0 - cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
    const float w2 = static_cast<float>(1.0 - cfg_.beta2), eps = static_cast<float>(cfg_.eps);
    for (size_t i = 0; i < params.size(); ++i) {
      float* p = params[i].p;
      const float* g = params[i].g;
      float* m = m_[i].data();
      float* v = v_[i].data();
      for (int64_t j = 0; j < params[i].n; ++j) {
        if (cfg_.weight_decay != 0.0) p[j] *= decay;
        m[j] += w1 * (g[j] - m[j]);  // torch lerp_ with weight < 0.5
        v[j] = v[j] * b2 + w2 * g[j] * g[j];
        const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
        p[j] -= step_size * (m[j] / denom);
      }
    }
    return;
  }
  const float lr_f = static_cast<float>(lr), wd = static_cast<float>(cfg_.weight_decay);
  const float mu = static_cast<float>(cfg_.momentum);
  for (size_t i = 0; i < params.size(); ++i) {
    float* p = params[i].p;
    const float* g = params[i].g;
    float* b = m_[i].data();
    for (int64_t j = 0; j < params[i].n; ++j) {
      float d = g[j] + wd * p[j];
      if (mu != 0.0f) {
        b[j] = t_ == 1 ? d : mu * b[j] + d;
        d = b[j];
      }
      p[j] -= lr_f * d;
    }
  }
}

double global_grad_norm(const std::vector<ParamRef>& params) {
  double total = 0.0;
  for (const ParamRef& p : params) {
    double s = 0.0;
    for (int64_t j = 0; j < p.n; ++j) s += static_cast<double>(p.g[j]) * p.g[j];
    total += s;
  }
  return std::sqrt(total);
}

double clip_grad_norm(std::vector<Tensor*>& grads, double max_norm) {
  double total = 0.0;
  for (const Tensor* g : grads)
    for (int64_t j = 0; j < g->numel(); ++j) total += static_cast<double>((*g)[j]) * (*g)[j];
  const double norm = std::sqrt(total);
  if (max_norm > 0.0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = static_cast<float>(coef);
      for (Tensor* g : grads)
        for (int64_t j = 0; j < g->numel(); ++j) (*g)[j] *= c;
    }
  }
  return norm;
}

}  // namespace mc::train
