// Synthetic training run directories for the run_files / report / status / compare tests: the files a
// run writes (research.h layout) with small hand-written contents. Adapter and checkpoint tensors are
// placeholders: the readers under test only check that they exist.
#pragma once
#include <filesystem>
#include <string>

#include "core/json.h"
#include "test_util.h"

namespace mc::test {

inline void make_checkpoint(const std::string& run, int step, const std::string& state_json) {
  const std::string d = run + "/checkpoints/step-" + std::to_string(step);
  std::filesystem::create_directories(d);
  write_bytes(d + "/state.json", state_json);
  write_bytes(d + "/tensors.safetensors", "placeholder");
}

inline void make_adapter(const std::string& run) {
  write_bytes(run + "/adapter_model.safetensors", "placeholder");
  write_bytes(run + "/adapter_config.json", "{\"peft_type\": \"LORA\"}\n");
  write_bytes(run + "/mc_manifest.json", "{\"schema\": \"mc.manifest.v1\"}\n");
}

/// Research metrics: steps 1..4 (4 steps per epoch), evals at 2 and 4.
inline std::string research_metrics() {
  return "{\"step\":1,\"epoch\":0.25,\"loss\":2.5,\"lr\":0.0002,\"grad_norm\":1.5,\"tokens\":100,\"tokens_per_second\":50}\n"
         "{\"step\":2,\"epoch\":0.5,\"loss\":2.25,\"lr\":0.00015,\"grad_norm\":1.2,\"tokens\":100,\"tokens_per_second\":100}\n"
         "{\"step\":2,\"eval_loss\":2.4}\n"
         "{\"step\":3,\"epoch\":0.75,\"loss\":2.0,\"lr\":0.0001,\"grad_norm\":1.0,\"tokens\":100,\"tokens_per_second\":100}\n"
         "{\"step\":4,\"epoch\":1.0,\"loss\":1.75,\"lr\":0.00005,\"grad_norm\":0.9,\"tokens\":100,\"tokens_per_second\":100}\n"
         "{\"step\":4,\"eval_loss\":2.45}\n";
}

inline std::string research_result(const std::string& extra = "") {
  return "{\n  \"schema\": \"mc.train.run-research.v1\",\n  \"adapter_path\": \"runs/r\",\n"
         "  \"config\": {\"model\": \"m\", \"data\": \"d.jsonl\", \"lr\": 0.0002, \"eval_data\": \"e.jsonl\"},\n"
         "  \"steps\": 4,\n  \"initial_loss\": 2.5,\n  \"final_loss\": 1.75,\n  \"base_eval_loss\": 2.6,\n"
         "  \"eval_loss\": 2.45,\n  \"stop_reason\": \"max_steps\",\n  \"training_seconds\": 3.5,\n"
         "  \"tokens_per_second\": 114.3,\n  \"peak_rss_mib\": 812.5" + extra + "\n}\n";
}

/// A finished research run.
inline void make_complete_research_run(const std::string& run) {
  std::filesystem::create_directories(run);
  make_adapter(run);
  write_bytes(run + "/metrics.jsonl", research_metrics());
  write_bytes(run + "/training_result.json", research_result());
  make_checkpoint(run, 4, "{\"step\": 4, \"fingerprint\": {\"model\": \"m\", \"data\": \"d.jsonl\", \"lr\": 0.0002, \"max_steps\": 4}}");
}

/// A research run stopped after step 3 of 10: metrics to step 3, checkpoints at 2 and 3, no adapter.
inline void make_interrupted_research_run(const std::string& run) {
  std::filesystem::create_directories(run);
  std::string m = research_metrics();
  m = m.substr(0, m.find("{\"step\":4"));
  write_bytes(run + "/metrics.jsonl", m);
  const std::string fp = "\"fingerprint\": {\"model\": \"models/my model\", \"data\": \"d.jsonl\", \"lr\": 0.0002, \"max_steps\": 10}";
  make_checkpoint(run, 2, "{\"step\": 2, " + fp + "}");
  make_checkpoint(run, 3, "{\"step\": 3, " + fp + "}");
}

/// A finished derived run whose module names are `module_a` and `module_b`, with a failed gate.
inline void make_complete_derived_run(const std::string& run, const std::string& module_a = "model.layers.0.self_attn.q_proj",
                                      const std::string& module_b = "model.layers.0.self_attn.v_proj") {
  std::filesystem::create_directories(run);
  make_adapter(run);
  std::string m;
  for (int s = 1; s <= 4; ++s) {
    m += "{\"step\":" + std::to_string(s) + ",\"epoch\":" + std::to_string(s / 4.0) + ",\"loss\":" +
         std::to_string(3.0 - 0.25 * s) + ",\"grad_norm\":1.0,\"tokens\":64,\"tokens_per_second\":32," +
         "\"eta_step\":" + std::to_string(0.001 * s) + ",\"eta_ceiling\":0.01,\"eta_sps\":0.004,\"eta_weyl\":0.02," +
         "\"eta_margin\":" + (s == 2 ? std::string("null") : std::to_string(0.5 / s)) + ",\"batch_size\":" +
         std::to_string(s < 3 ? 4 : 8) + "}\n";
  }
  m += "{\"step\":4,\"eval_loss\":2.1}\n";
  m += "{\"epoch_end\":1,\"step\":4,\"saturation\":{" + OrderedJson(module_a).dump() + ":0.42," +
       OrderedJson(module_b).dump() + ":1.25,\"model.layers.1.mlp.down_proj\":null},\"remaining_budget\":0.3}\n";
  write_bytes(run + "/metrics.jsonl", m);
  write_bytes(run + "/training_result.json",
              "{\"schema\": \"mc.train.run.v1\", \"adapter_path\": \"runs/d\", \"steps\": 4, \"initial_loss\": 2.75,"
              " \"final_loss\": 2.0, \"eval_loss\": 2.1, \"base_eval_loss\": null, \"post_loss\": 2.05,"
              " \"baseline_loss\": 2.7, \"min_cka\": 0.91, \"mean_cka\": 0.96, \"spectral_bounds_ok\": false,"
              " \"max_spectral_ratio\": 1.25, \"stop_reason\": \"saturation\", \"training_seconds\": 8.0,"
              " \"tokens_per_second\": 32.0, \"peak_rss_mib\": 900, \"resolved_batch_size\": 8,"
              " \"target_modules\": [\"q_proj\", \"v_proj\"], \"model_hash\": \"abc\", \"data_hash\": \"def\","
              " \"pipeline_gate\": {\"passed\": false, \"failure_modes\": [\"spectral_bounds\"], \"checks\": ["
              "{\"name\": \"spectral_bounds\", \"status\": \"failed\", \"required\": true, \"value\": 1.25,"
              " \"threshold\": 1.0001, \"detail\": \"1 of 2 modules over the bound\"},"
              "{\"name\": \"cka_bound_bundle\", \"status\": \"passed\", \"required\": true, \"value\": 0.02,"
              " \"threshold\": null, \"detail\": \"\"}]},"
              " \"config\": {\"model\": \"m\", \"data\": \"d.jsonl\"}}\n");
}

}  // namespace mc::test
