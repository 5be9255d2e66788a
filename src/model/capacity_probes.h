// Activation-based layer profiles (`mc analyze dimension-profile / entropy-trajectory / expansion-ratio`
// and layer-by-layer `mc analyze cka` between two models): tokenize a probe set, run the engine's forward
// pass with hidden-state capture (model/transformer.h), and hand the per-layer activation matrices to
// the geometry estimators (TwoNN, CKA) — spec/surface.md §3.3, §4.4, §4.9, §5.1, §5.3, §5.4.
//
// Conventions (surface.md §3.3): layer l is the residual stream after decoder block l, l = 0..L−1 (the
// embedding output is not a layer; no final norm, except where entropy-trajectory applies it on purpose).
// Texts are encoded with add_special_tokens = true, as HF's tokenizer(text) does. A "mean-pooled" state
// is the mean over a text's tokens; a probe set of P texts gives a (P, D) matrix per layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "geometry/cka.h"
#include "geometry/matrix.h"
#include "io/tokenizer/tokenizer.h"
#include "model/transformer.h"

namespace mc {

/// TwoNN needs at least this many probes per layer for dimension-profile (surface.md §5.1; fewer give NaN).
inline constexpr int64_t kMinProbesForId = 10;
/// expansion-ratio needs at least this many tokens in a prompt (surface.md §5.4).
inline constexpr int64_t kMinTokensForExpansion = 4;

/// Built-in probe sets, our own text: 24 short, varied sentences for the geometry profiles, and 6
/// prompts that end where a continuation is expected for the entropy lens.
const std::vector<std::string>& default_geometry_probes();
const std::vector<std::string>& default_entropy_probes();

/// One probe per non-empty line (trailing '\r' and surrounding spaces removed). Throws mc::Error
/// ("[probes] <file>: ...") when the file is missing or holds no probe.
std::vector<std::string> probes_load(const std::string& path);

/// Layer selection: "all", or comma-separated indices and ranges ("0,4,8", "2-5", "0,10-12").
/// Throws mc::Error("[cli] ...") for a malformed list or an index outside 0..n_layers−1.
std::vector<int64_t> parse_layer_list(const std::string& spec, int64_t n_layers);

/// A model with its tokenizer.
struct ProbeModel {
  std::string path;
  Model model;
  Tokenizer tokenizer;
};
/// Loads MODEL (HF directory) and its tokenizer (`tokenizer_path`, or MODEL/tokenizer.json when empty).
ProbeModel probe_model_load(const std::string& model_dir, const std::string& tokenizer_path = "");

/// One forward pass over all texts as one ragged batch, with every layer's output captured.
struct ProbePass {
  TokenBatch batch;
  Activations acts;
  int64_t n_layers = 0, hidden = 0;
};
/// Throws mc::Error("[probes] ...") when a text encodes to no token.
void probe_pass(const ProbeModel& pm, const std::vector<std::string>& texts, ProbePass& out);

/// Mean over each text's tokens of layer l's output: (P, D) row-major, double.
geometry::MatrixD pooled_hidden(const ProbePass& pass, int64_t layer);

// --- dimension-profile ---------------------------------------------------------------------------------

struct LayerDimension {
  int64_t layer = 0;
  double  intrinsic_dimension = 0.0;  // TwoNN; NaN when not computable (see error)
  int64_t sample_count = 0;           // probes
  int64_t usable_count = 0;           // ratios in the fit
  double  ci_lo = 0.0, ci_hi = 0.0;   // bootstrap 95% interval when requested (NaN otherwise)
  std::string error;                  // why the estimate is NaN
};

struct DimensionProfile {
  int64_t num_layers = 0, hidden = 0, probe_count = 0;
  std::vector<LayerDimension> layers;
  double mean_id = 0.0, min_id = 0.0, max_id = 0.0;  // over layers with a finite ID (NaN when none)
  std::vector<int64_t> highway_layers;  // first argmin layer, extended over neighbours with ID < 2·min
  double compression_ratio = 0.0;       // min ID / hidden size
  double final_id = 0.0;                // ID of the last selected layer with a finite ID
  double recovery_ratio = 0.0;          // final / min
};

/// TwoNN (geometry::twonn, scikit-dimension's default fit) of the mean-pooled states at each layer.
DimensionProfile dimension_profile(const ProbePass& pass, const std::vector<int64_t>& layers, bool bootstrap_ci);

// --- entropy-trajectory ----------------------------------------------------------------------------

struct EntropyTrajectory {
  std::vector<int64_t> layers;
  std::vector<double> entropy;                 // per layer: mean over probes of H(softmax(z)), nats
  std::vector<double> normalized;              // entropy / ln V
  std::vector<std::vector<double>> per_probe;  // [layer][probe]
  int64_t vocab_size = 0;
  double  max_entropy = 0.0;                   // ln V
  bool    final_norm = true;
  // Trajectory features (surface.md §4.4), over the index i of the selected layers:
  double slope = 0.0;                // OLS slope of H against i
  double peak_layer_fraction = 0.0;  // argmax_i / (n − 1)
  double monotonicity = 0.0;         // Spearman ρ(i, H), average ranks for ties
  double early_late_ratio = 0.0;     // mean(H[0:⌊n/2⌋]) / mean(H[⌊n/2⌋:])
};

/// Logit lens (nostalgebraist 2020; entropy lens: Ali et al. 2025, arXiv:2502.16570): the last token's
/// state after each selected layer, through the final norm (when `final_norm`) and the unembedding
/// (lm_head, or the tied embedding), z = W_U·norm(h); H = log Σ exp z − Σ softmax(z)·z in double.
EntropyTrajectory entropy_trajectory(const ProbeModel& pm, const ProbePass& pass, const std::vector<int64_t>& layers,
                                     bool final_norm);

// --- expansion-ratio -------------------------------------------------------------------------------

struct ExpansionResult {
  std::string prompt;
  int64_t token_count = 0;
  std::vector<double> layer_dims;  // TwoNN over the prompt's token states per layer (NaN if it fails)
  int64_t peak_layer = -1;         // first layer with the largest finite ID
  double peak_dim = 0.0, final_dim = 0.0;
  double expansion_ratio = 0.0;    // peak / final (NaN when either is not positive)
  std::string classification;      // "ok" or "insufficient_tokens"
};

/// Per prompt: TwoNN of its T token states at every layer (surface.md §5.4), one forward per prompt.
std::vector<ExpansionResult> expansion_ratio(const ProbeModel& pm, const std::vector<std::string>& prompts);

// --- layer-by-layer CKA between two models ------------------------------------------------------------

struct LayerCka {
  std::vector<int64_t> layers_a, layers_b;
  geometry::MatrixD cka;  // (|layers_a|, |layers_b|)
  int64_t probe_count = 0;
  int64_t hidden_a = 0, hidden_b = 0;
};

/// CKA between the mean-pooled states of every selected layer of A and of B over the same texts.
LayerCka layer_cka(const ProbePass& a, const std::vector<int64_t>& layers_a, const ProbePass& b,
                   const std::vector<int64_t>& layers_b, const geometry::CkaOptions& options);

}  // namespace mc
