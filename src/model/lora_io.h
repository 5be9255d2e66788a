// PEFT adapter directories (spec/ecosystem.md §4.6; DESIGN.md "Adapters": our native format) to and from
// the engine's LoraSet. Reading goes through model/capacity_adapter.h's peft_adapter_load (config
// validation, rank_pattern / alpha_pattern resolution) and then maps every module onto the model's
// layout. Writing reproduces what PEFT 0.21's PeftModel.save_pretrained writes for the same adapter:
// adapter_model.safetensors with keys base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight
// (out, r), metadata {"format": "pt"}, and adapter_config.json as json.dumps(indent=2, sort_keys=True),
// byte for byte (tests/golden/lora_peft_golden_test.cpp; tools/gen_lora_goldens.py). PEFT's README.md
// model card is not written.
//
// How lora_save_peft encodes per-module ranks and scales (PEFT has one r and one lora_alpha plus
// patterns): a module's alpha is scale·r (use_rslora is written false), so PEFT's scaling = alpha / r
// gives back the module's fp32 scale exactly. The config's r and lora_alpha are the most common rank
// and alpha (ties: the value met first in module order); every module whose rank or alpha differs gets
// a rank_pattern / alpha_pattern entry keyed by its full module path. target_modules lists leaf names
// ("q_proj", ...) when, with options.arch given, they select exactly the adapted modules; otherwise
// (a partial set, e.g. LFM2's conv out_proj without the attention out_proj) the full module paths.
// lora_dropout is the most common module dropout (PEFT has no per-module dropout; it only matters for
// training). options.force replaces the whole directory, so files mc writes beside the adapter (e.g.
// mc_manifest.json) go through options.extra_files to be part of the same all-or-nothing write.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "model/arch/arch.h"
#include "model/config.h"
#include "model/lora.h"
#include "tensor/dtype.h"

namespace mc {

/// Loads a PEFT LoRA adapter directory for a model of layout `arch` and config `c`. Tensors are converted
/// to fp32 (F32, BF16, F16 and F64 files are accepted); each module's scale is PEFT's (alpha / r or
/// alpha / √r, after rank_pattern / alpha_pattern); dropout is the config's lora_dropout. Modules are
/// in layer then site order and the set is indexed for c.num_hidden_layers layers.
/// Throws mc::Error("[adapter] ...") for what peft_adapter_load rejects, and mc::Error("[lora] <dir>: ...")
/// for a module that is not an adaptable linear of this model, a shape that disagrees with the model's
/// weight, tensors the engine cannot apply (biases, modules_to_save, trainable tokens) and PEFT variants
/// whose forward is not y = Wx + s·B(A·drop(x)) (aLoRA, QALoRA, KaSA, MonteCLoRA, BD-LoRA, Arrow,
/// layer_replication, lora_bias).
LoraSet lora_load_peft(const std::string& dir, const ArchSpec& arch, const ModelConfig& c);

struct LoraSaveOptions {
  std::string     base_model_name_or_path;  // written as null when empty
  Dtype           dtype = Dtype::F32;       // tensor dtype in the file: F32, BF16 or F16 (rounded to nearest even)
  const ArchSpec* arch = nullptr;           // the model's layout; lets target_modules use leaf names
  bool            force = false;            // replace an existing directory
  /// Further files written into the directory with the adapter, all-or-nothing (e.g. mc_manifest.json):
  /// (file name, content). Names are plain file names.
  std::vector<std::pair<std::string, std::string>> extra_files;
};

/// Writes `set` as a PEFT adapter directory `dir` (see the file comment). The directory is built under
/// a temporary name and renamed into place, so a failure never leaves a partial adapter. An existing
/// `dir` is refused unless options.force (then it is replaced as a whole) or it is an empty directory.
/// Throws mc::Error("[lora] ...") for an empty set, modules with inconsistent shapes or a non-finite or
/// non-positive scale, an unsupported dtype, or a bad extra file name.
void lora_save_peft(const std::string& dir, const LoraSet& set, const LoraSaveOptions& options = {});

/// The adapter_config.json text lora_save_peft writes for `set` (exposed for tests).
std::string lora_peft_config_json(const LoraSet& set, const LoraSaveOptions& options = {});

}  // namespace mc
