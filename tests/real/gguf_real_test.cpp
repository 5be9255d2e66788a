// Real-model test for the GGUF reader: SmolLM2-135M-Instruct Q4_1 (MC_REAL_GGUF). Every tensor must
// dequantize to exactly the bytes gguf-py 0.19.0 produces (SHA-256 of
// gguf.quants.dequantize(data, type).astype(float32), tests/data/gguf/smollm2_q4_1.digests.json, written
// by tools/gen_gguf_fixtures.py), and the metadata must equal what GGUFReader reads. Skips when the file
// is absent unless MC_REQUIRE_REAL=1.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/json.h"
#include "core/sha256.h"
#include "io/gguf.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace mc {
namespace {

bool real_required() {
  const char* v = std::getenv("MC_REQUIRE_REAL");
  return v != nullptr && std::string(v) == "1";
}

#define MC_REQUIRE_REAL_GGUF()                                                                      \
  do {                                                                                              \
    if (!path_exists(MC_REAL_GGUF)) {                                                               \
      if (real_required()) FAIL() << MC_REAL_GGUF << " is missing and MC_REQUIRE_REAL=1";           \
      GTEST_SKIP() << MC_REAL_GGUF << " not found (install it, see DESIGN.md, \"The real model\")"; \
    }                                                                                               \
  } while (0)

const Json& digests() {
  static const Json doc = json_load(test::data_path("gguf/smollm2_q4_1.digests.json"));
  return doc;
}

std::string hex_of(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

// The items of a flat array exactly as the file stores them (strings as u64 length + bytes).
std::string item_bytes(const GgufValue& a) {
  std::string out;
  auto put = [&out](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  for (const GgufValue& v : a.arr) {
    switch (v.type) {
      case GgufValueType::STRING: {
        uint64_t n = v.s.size();
        put(&n, 8);
        out += v.s;
        break;
      }
      case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: {
        uint8_t b = static_cast<uint8_t>(v.type == GgufValueType::INT8 ? static_cast<uint64_t>(v.i) : v.u);
        put(&b, 1);
        break;
      }
      case GgufValueType::UINT16: case GgufValueType::INT16: {
        uint16_t b = static_cast<uint16_t>(v.type == GgufValueType::INT16 ? static_cast<uint64_t>(v.i) : v.u);
        put(&b, 2);
        break;
      }
      case GgufValueType::UINT32: case GgufValueType::INT32: {
        uint32_t b = static_cast<uint32_t>(v.type == GgufValueType::INT32 ? static_cast<uint64_t>(v.i) : v.u);
        put(&b, 4);
        break;
      }
      case GgufValueType::UINT64: put(&v.u, 8); break;
      case GgufValueType::INT64: put(&v.i, 8); break;
      case GgufValueType::FLOAT32: {
        float f = static_cast<float>(v.f);
        put(&f, 4);
        break;
      }
      case GgufValueType::FLOAT64: put(&v.f, 8); break;
      case GgufValueType::ARRAY: ADD_FAILURE() << "nested array in the real model"; break;
    }
  }
  return out;
}

TEST(GgufReal, FileAndMetadataMatchGgufPy) {
  MC_REQUIRE_REAL_GGUF();
  const Json& d = digests();
  GgufFile g = GgufFile::open(MC_REAL_GGUF);
  ASSERT_EQ(g.file_bytes(), d.at("file_bytes").get<uint64_t>()) << "not the file the digests were computed from";
  MappedFile whole = MappedFile::open(MC_REAL_GGUF);
  ASSERT_EQ(sha256_hex(whole.bytes()), d.at("file_sha256").get<std::string>())
      << "not the file the digests were computed from";
  EXPECT_EQ(g.version(), d.at("version").get<uint32_t>());
  EXPECT_EQ(g.alignment(), d.at("alignment").get<uint64_t>());
  EXPECT_EQ(g.data_offset(), d.at("data_offset").get<uint64_t>());

  const Json& scalars = d.at("metadata");
  const Json& arrays = d.at("arrays");
  EXPECT_EQ(g.metadata().size(), scalars.size() + arrays.size());
  for (const auto& [key, e] : scalars.items()) {
    SCOPED_TRACE(key);
    const GgufValue* v = g.find(key);
    ASSERT_NE(v, nullptr);
    const std::string type = e.at("type").get<std::string>();
    if (type == "STRING") {
      ASSERT_EQ(v->type, GgufValueType::STRING);
      EXPECT_EQ(hex_of(v->s), e.at("hex").get<std::string>());
    } else if (type == "FLOAT32") {
      ASSERT_EQ(v->type, GgufValueType::FLOAT32);
      EXPECT_EQ(f32_bits(static_cast<float>(v->f)), std::stoull(e.at("bits").get<std::string>(), nullptr, 16));
    } else if (type == "BOOL") {
      ASSERT_EQ(v->type, GgufValueType::BOOL);
      EXPECT_EQ(v->u != 0, e.at("value").get<bool>());
    } else {
      ASSERT_TRUE(v->as_int().has_value());
      EXPECT_EQ(*v->as_int(), e.at("value").get<int64_t>());
    }
  }
  for (const auto& [key, e] : arrays.items()) {
    SCOPED_TRACE(key);
    const GgufValue* v = g.find(key);
    ASSERT_NE(v, nullptr);
    ASSERT_TRUE(v->is_array());
    EXPECT_EQ(v->arr.size(), e.at("length").get<size_t>());
    const std::string items = item_bytes(*v);
    EXPECT_EQ(sha256_hex({reinterpret_cast<const uint8_t*>(items.data()), items.size()}),
              e.at("items_sha256").get<std::string>());
  }
  // The model's shape, as its config.json states it.
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 30);
  EXPECT_EQ(g.get_int("llama.embedding_length"), 576);
  EXPECT_EQ(g.get_int("llama.feed_forward_length"), 1536);
  EXPECT_EQ(g.get_int("llama.attention.head_count"), 9);
  EXPECT_EQ(g.get_int("llama.attention.head_count_kv"), 3);
  EXPECT_EQ(g.find("tokenizer.ggml.tokens")->arr.size(), 49152u);
}

TEST(GgufReal, EveryTensorDequantizesLikeGgufPy) {
  MC_REQUIRE_REAL_GGUF();
  const Json& d = digests();
  GgufFile g = GgufFile::open(MC_REAL_GGUF);
  const Json& tensors = d.at("tensors");
  ASSERT_EQ(g.tensors().size(), tensors.size());
  double seconds = 0.0;
  uint64_t n_elems = 0;
  for (size_t k = 0; k < tensors.size(); k++) {
    const Json& te = tensors[k];
    const GgufTensorInfo& t = g.tensors()[k];
    const std::string name = te.at("name").get<std::string>();
    SCOPED_TRACE(name);
    ASSERT_EQ(t.name, name);
    EXPECT_EQ(ggml_type_name(t.type), te.at("type").get<std::string>());
    EXPECT_EQ(t.ne, te.at("ne").get<std::vector<uint64_t>>());
    EXPECT_EQ(t.offset, te.at("offset").get<uint64_t>());
    EXPECT_EQ(t.nbytes, te.at("nbytes").get<uint64_t>());
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> y = g.dequantize(t);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    n_elems += y.size();
    EXPECT_EQ(sha256_hex({reinterpret_cast<const uint8_t*>(y.data()), y.size() * 4}),
              te.at("sha256").get<std::string>());
  }
  std::printf("dequantized %llu elements of %zu tensors in %.3f s (single thread)\n",
              static_cast<unsigned long long>(n_elems), g.tensors().size(), seconds);
  RecordProperty("dequantize_seconds", std::to_string(seconds));
  // A loose bound that only catches a pathological slowdown on a busy machine (typical: well under 1 s).
  EXPECT_LT(seconds, 20.0);
}

}  // namespace
}  // namespace mc
