// PEFT adapters against HF PEFT 0.21.2 (goldens from tools/gen_lora_goldens.py, tests/data/lora/):
//  * PEFT -> mc: adapters PEFT saved for every fixture (rank_pattern / alpha_pattern, use_rslora, bf16
//    and fp16 tensors, dropout) load with the modules, shapes, ranks and scales PEFT itself uses
//    (LoraLayer.scaling, recorded by the generator) and the stored values;
//  * mc -> PEFT: lora_save_peft, fed the generator's tensors and scales, writes adapter_config.json and
//    adapter_model.safetensors byte for byte as PEFT's save_pretrained wrote them (leaf-name and
//    full-path target_modules, patterns, F32 and BF16);
//  * the training goldens' module list is lora_target_modules' order.
// Logits with the adapters applied are tests/golden/lora_forward_golden_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "io/safetensors.h"
#include "model/arch/arch.h"
#include "model/config.h"
#include "model/lora.h"
#include "model/lora_io.h"
#include "test_util.h"

namespace mc {
namespace {

const char* const kTypes[] = {"llama", "mistral", "qwen2", "qwen3", "lfm2"};
const char* const kMcTypes[] = {"llama", "lfm2"};

Json golden_meta(const SafetensorsFile& f) {
  auto it = f.metadata().find("mc_golden");
  if (it == f.metadata().end()) {
    ADD_FAILURE() << f.path() << ": no mc_golden metadata";
    return Json::object();
  }
  return Json::parse(it->second);
}

class PeftToMc : public ::testing::TestWithParam<const char*> {};

TEST_P(PeftToMc, LoadsAsPeftDoes) {
  const std::string type = GetParam();
  const ModelConfig c = config_load(test::data_path("hf/" + type));
  const ArchSpec arch = arch_spec(c);
  const std::string dir = test::data_path("lora/peft_" + type);
  const LoraSet set = lora_load_peft(dir, arch, c);
  const Json meta = golden_meta(SafetensorsFile::open(test::data_path("lora/peft_" + type + "_logits.safetensors")));
  const Json& mods = meta["modules"];  // module order, from PEFT's LoraLayers
  ASSERT_EQ(set.modules.size(), mods.size());
  EXPECT_EQ(set.index.size(), static_cast<size_t>(c.num_hidden_layers) * static_cast<size_t>(LoraSite::Count));
  const SafetensorsFile st = SafetensorsFile::open(dir + "/adapter_model.safetensors");
  int64_t n_params = 0;
  for (size_t i = 0; i < set.modules.size(); ++i) {
    const LoraWeights& m = set.modules[i];
    const Json& e = mods[i];
    SCOPED_TRACE(m.module);
    EXPECT_EQ(m.module, e["module"].get<std::string>());
    EXPECT_EQ(m.r, e["r"].get<int64_t>());
    EXPECT_EQ(m.in, e["in"].get<int64_t>());
    EXPECT_EQ(m.out, e["out"].get<int64_t>());
    // PEFT multiplies fp32 activations by its Python-float scaling, i.e. by float(scaling).
    EXPECT_EQ(m.scale, static_cast<float>(e["scaling"].get<double>()));
    EXPECT_EQ(m.dropout, static_cast<float>(e["dropout"].get<double>()));
    EXPECT_EQ(set.find(m.layer, m.site), &m);
    EXPECT_EQ(m.module.rfind("model.layers." + std::to_string(m.layer) + ".", 0), 0u);
    n_params += m.r * (m.in + m.out);
    const std::vector<float> a = st.to_f32(*st.find("base_model.model." + m.module + ".lora_A.weight"));
    const std::vector<float> b = st.to_f32(*st.find("base_model.model." + m.module + ".lora_B.weight"));
    ASSERT_EQ(static_cast<int64_t>(a.size()), m.A.numel());
    ASSERT_EQ(static_cast<int64_t>(b.size()), m.B.numel());
    for (size_t k = 0; k < a.size(); ++k) ASSERT_EQ(m.A[static_cast<int64_t>(k)], a[k]);
    for (size_t k = 0; k < b.size(); ++k) ASSERT_EQ(m.B[static_cast<int64_t>(k)], b[k]);
  }
  EXPECT_EQ(set.n_params(), n_params);
  // The variants the generator chose are really there.
  const std::string dtype = meta["dtype"];
  for (const auto& t : st.tensors())
    EXPECT_EQ(std::string(dtype_name(t.dtype)), dtype == "float32" ? "F32" : dtype == "bfloat16" ? "BF16" : "F16");
  if (type == "llama") {
    EXPECT_EQ(set.find(1, LoraSite::Q)->r, 2);
    EXPECT_EQ(set.find(0, LoraSite::Down)->r, 6);
    EXPECT_EQ(set.find(0, LoraSite::V)->scale, 3.5f / 4.0f);
    EXPECT_EQ(set.find(0, LoraSite::Gate)->scale, 3.0f);
  }
  if (type == "qwen3") {
    EXPECT_EQ(set.find(0, LoraSite::O)->scale, static_cast<float>(6.0 / std::sqrt(8.0)));
  }
  if (type == "lfm2") {
    EXPECT_NE(set.find(0, LoraSite::ConvIn), nullptr);
    EXPECT_NE(set.find(0, LoraSite::ConvOut), nullptr);
    EXPECT_NE(set.find(1, LoraSite::O), nullptr);
    EXPECT_EQ(set.find(1, LoraSite::ConvOut), nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(Lora, PeftToMc, ::testing::ValuesIn(kTypes));

/// The LoraSet the generator described in mc_<type>_input.safetensors.
LoraSet input_set(const std::string& type, const ArchSpec& arch, const ModelConfig& c, Json& meta) {
  const SafetensorsFile in = SafetensorsFile::open(test::data_path("lora/mc_" + type + "_input.safetensors"));
  meta = golden_meta(in);
  LoraSet set;
  for (const auto& jm : meta["modules"]) {
    LoraWeights w;
    w.module = jm.get<std::string>();
    EXPECT_TRUE(lora_resolve(arch, c, w.module, w.layer, w.site, w.out, w.in)) << w.module;
    const SafetensorsTensorInfo* a = in.find(w.module + ".A");
    const SafetensorsTensorInfo* b = in.find(w.module + ".B");
    const SafetensorsTensorInfo* s = in.find(w.module + ".scale");
    if (!a || !b || !s) {
      ADD_FAILURE() << "missing tensors of " << w.module;
      continue;
    }
    w.r = a->shape[0];
    w.scale = in.to_f32(*s)[0];
    w.dropout = static_cast<float>(meta["dropout"].get<double>());
    w.A = Tensor(Shape{w.r, w.in});
    w.B = Tensor(Shape{w.out, w.r});
    EXPECT_EQ(a->shape, (std::vector<int64_t>{w.r, w.in}));
    EXPECT_EQ(b->shape, (std::vector<int64_t>{w.out, w.r}));
    const std::vector<float> av = in.to_f32(*a), bv = in.to_f32(*b);
    std::copy(av.begin(), av.end(), w.A.data());
    std::copy(bv.begin(), bv.end(), w.B.data());
    set.modules.push_back(std::move(w));
  }
  set.reindex(c.num_hidden_layers);
  return set;
}

class McToPeft : public ::testing::TestWithParam<const char*> {};

TEST_P(McToPeft, WritesWhatPeftWrites) {
  const std::string type = GetParam();
  const ModelConfig c = config_load(test::data_path("hf/" + type));
  const ArchSpec arch = arch_spec(c);
  Json meta;
  const LoraSet set = input_set(type, arch, c, meta);
  ASSERT_FALSE(set.empty());
  LoraSaveOptions opt;
  opt.base_model_name_or_path = meta["base_model_name_or_path"].get<std::string>();
  opt.dtype = *dtype_from_name(meta["dtype"].get<std::string>());
  opt.arch = &arch;
  test::TempDir tmp;
  lora_save_peft(tmp / "adapter", set, opt);
  const std::string want = test::data_path("lora/mc_" + type);
  for (const char* file : {"adapter_config.json", "adapter_model.safetensors"}) {
    const std::string got_bytes = test::read_bytes(tmp / (std::string("adapter/") + file));
    const std::string want_bytes = test::read_bytes(want + "/" + file);
    ASSERT_FALSE(want_bytes.empty()) << want << "/" << file;
    EXPECT_EQ(got_bytes.size(), want_bytes.size()) << file;
    if (std::string(file) == "adapter_config.json")
      EXPECT_EQ(got_bytes, want_bytes);  // prints a readable diff
    else
      EXPECT_TRUE(got_bytes == want_bytes) << file << " differs from PEFT's";
  }
  // And PEFT's directory loads back to the same modules and scales (values rounded to the file dtype).
  const LoraSet back = lora_load_peft(want, arch, c);
  ASSERT_EQ(back.modules.size(), set.modules.size());
  for (size_t i = 0; i < set.modules.size(); ++i) {
    EXPECT_EQ(back.modules[i].module, set.modules[i].module);
    EXPECT_EQ(back.modules[i].r, set.modules[i].r);
    EXPECT_EQ(back.modules[i].scale, set.modules[i].scale) << set.modules[i].module;
    EXPECT_EQ(back.modules[i].dropout, set.modules[i].dropout);
  }
}

INSTANTIATE_TEST_SUITE_P(Lora, McToPeft, ::testing::ValuesIn(kMcTypes));

// The training goldens list their modules in the engine's order: lora_target_modules' order.
TEST(LoraTrainGolden, ModuleOrderIsEngineOrder) {
  for (const char* type : kTypes) {
    SCOPED_TRACE(type);
    const ModelConfig c = config_load(test::data_path(std::string("hf/") + type));
    const ArchSpec arch = arch_spec(c);
    const Json info = json_load(test::data_path(std::string("lora/train_") + type + ".json"));
    std::vector<std::string> targets;
    for (const auto& t : info["lora"]["target_modules"]) targets.push_back(t.get<std::string>());
    const std::vector<std::string> modules = lora_target_modules(arch, c, targets);
    ASSERT_EQ(modules.size(), info["modules"].size());
    const SafetensorsFile st = SafetensorsFile::open(test::data_path(std::string("lora/train_") + type + ".safetensors"));
    for (size_t i = 0; i < modules.size(); ++i) {
      const Json& m = info["modules"][i];
      EXPECT_EQ(modules[i], m["module"].get<std::string>());
      int64_t layer = -1, out = 0, in = 0;
      LoraSite site = LoraSite::Count;
      ASSERT_TRUE(lora_resolve(arch, c, modules[i], layer, site, out, in));
      EXPECT_EQ(layer, m["layer"].get<int64_t>());
      EXPECT_EQ(in, m["in"].get<int64_t>());
      EXPECT_EQ(out, m["out"].get<int64_t>());
      const SafetensorsTensorInfo* dA = st.find(modules[i] + ".dA");
      ASSERT_NE(dA, nullptr) << modules[i];
      EXPECT_EQ(dA->shape, (std::vector<int64_t>{4, in}));
    }
  }
}

}  // namespace
}  // namespace mc
