// Golden tests for the GGUF reader: every fixture in tests/data/gguf (written by
// tools/gen_gguf_fixtures.py with gguf-py 0.19.0's GGUFWriter) parses with exactly the metadata the
// generator wrote, reports the tensor infos GGUFReader reports, and dequantizes bit for bit to the
// values of gguf.quants.dequantize (stored in <type>.expected.bin, checked bytewise and by SHA-256).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "io/gguf.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace mc {
namespace {

std::string fixture(const std::string& name) { return test::data_path("gguf/" + name); }

const Json& fixtures_doc() {
  static const Json doc = json_load(fixture("fixtures.json"));
  return doc;
}

const Json* fixture_entry(const std::string& file) {
  for (const Json& f : fixtures_doc().at("files"))
    if (f.at("file").get<std::string>() == file) return &f;
  return nullptr;
}

std::string value_type_name(GgufValueType t) {
  static const char* const kNames[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                                       "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64", "FLOAT64"};
  auto i = static_cast<size_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
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

uint64_t parse_bits(const Json& j) { return std::stoull(j.get<std::string>(), nullptr, 16); }

// Compares one parsed value with its fixtures.json description; `where` names it in failures.
void expect_value(const GgufValue& v, const Json& e, const std::string& where) {
  const std::string type = e.at("type").get<std::string>();
  ASSERT_EQ(value_type_name(v.type), type) << where;
  if (type == "STRING") {
    EXPECT_EQ(hex_of(v.s), e.at("hex").get<std::string>()) << where;
  } else if (type == "FLOAT32") {
    EXPECT_EQ(f32_bits(static_cast<float>(v.f)), parse_bits(e.at("bits"))) << where;
  } else if (type == "FLOAT64") {
    uint64_t bits;
    std::memcpy(&bits, &v.f, 8);
    EXPECT_EQ(bits, parse_bits(e.at("bits"))) << where;
  } else if (type == "BOOL") {
    EXPECT_EQ(v.u, e.at("value").get<bool>() ? 1u : 0u) << where;
  } else if (type == "ARRAY") {
    ASSERT_EQ(value_type_name(v.elem_type), e.at("elem_type").get<std::string>()) << where;
    const Json& items = e.at("items");
    ASSERT_EQ(v.arr.size(), items.size()) << where;
    for (size_t k = 0; k < items.size(); k++) expect_value(v.arr[k], items[k], where + "[" + std::to_string(k) + "]");
  } else if (type.rfind("UINT", 0) == 0) {
    EXPECT_EQ(v.u, e.at("value").get<uint64_t>()) << where;
  } else {
    EXPECT_EQ(v.i, e.at("value").get<int64_t>()) << where;
  }
}

// Parses `file` and checks everything fixtures.json says about it.
void check_fixture(const std::string& file) {
  SCOPED_TRACE(file);
  const Json* e = fixture_entry(file);
  ASSERT_NE(e, nullptr) << file << " is not listed in fixtures.json";
  GgufFile g = GgufFile::open(fixture(file));
  EXPECT_EQ(g.version(), e->at("version").get<uint32_t>());
  EXPECT_EQ(g.alignment(), e->at("alignment").get<uint64_t>());
  EXPECT_EQ(g.data_offset(), e->at("data_offset").get<uint64_t>());
  EXPECT_EQ(g.file_bytes(), e->at("file_bytes").get<uint64_t>());

  const Json& meta = e->at("metadata");
  ASSERT_EQ(g.metadata().size(), meta.size());
  for (size_t k = 0; k < meta.size(); k++) {
    const std::string key = meta[k].at("key").get<std::string>();
    EXPECT_EQ(g.metadata()[k].first, key) << "metadata entry " << k;
    expect_value(g.metadata()[k].second, meta[k], key);
  }

  std::string expected_bin;
  if (!e->at("expected").is_null()) expected_bin = test::read_bytes(fixture(e->at("expected").get<std::string>()));
  const Json& tensors = e->at("tensors");
  ASSERT_EQ(g.tensors().size(), tensors.size());
  for (size_t k = 0; k < tensors.size(); k++) {
    const Json& te = tensors[k];
    const GgufTensorInfo& t = g.tensors()[k];
    const std::string name = te.at("name").get<std::string>();
    SCOPED_TRACE(name);
    EXPECT_EQ(t.name, name);
    EXPECT_EQ(ggml_type_name(t.type), te.at("type").get<std::string>());
    EXPECT_EQ(static_cast<uint32_t>(t.type), te.at("type_id").get<uint32_t>());
    EXPECT_EQ(t.ne, te.at("ne").get<std::vector<uint64_t>>());
    EXPECT_EQ(t.offset, te.at("offset").get<uint64_t>());
    EXPECT_EQ(t.nbytes, te.at("nbytes").get<uint64_t>());
    EXPECT_EQ(t.numel(), te.at("numel").get<uint64_t>());
    EXPECT_EQ(g.find_tensor(name), &t);
    std::vector<int64_t> shape = t.shape();
    ASSERT_EQ(shape.size(), t.ne.size());
    for (size_t d = 0; d < shape.size(); d++) EXPECT_EQ(static_cast<uint64_t>(shape[d]), t.ne[t.ne.size() - 1 - d]);
    EXPECT_EQ(g.raw(t).size(), t.nbytes);

    if (!te.contains("expected_index")) {  // a type mc does not dequantize
      EXPECT_FALSE(ggml_type_supported(t.type));
      try {
        g.dequantize(t);
        ADD_FAILURE() << "dequantizing " << name << " should throw";
      } catch (const Error& err) {
        const std::string msg = err.what();
        EXPECT_NE(msg.find(file), std::string::npos) << msg;
        EXPECT_NE(msg.find("which mc cannot dequantize"), std::string::npos) << msg;
        EXPECT_NE(msg.find(name), std::string::npos) << msg;
      }
      continue;
    }
    std::vector<float> got = g.dequantize(t);
    ASSERT_EQ(got.size(), t.numel());
    const uint64_t first = te.at("expected_index").get<uint64_t>();
    ASSERT_LE((first + got.size()) * 4, expected_bin.size());
    const char* want = expected_bin.data() + first * 4;
    if (std::memcmp(got.data(), want, got.size() * 4) != 0) {
      for (size_t i = 0; i < got.size(); i++) {
        uint32_t w;
        std::memcpy(&w, want + 4 * i, 4);
        if (f32_bits(got[i]) != w) {
          ADD_FAILURE() << "element " << i << ": got bits 0x" << std::hex << f32_bits(got[i]) << " (" << got[i]
                        << "), gguf-py gives 0x" << w << " (" << f32_from_bits(w) << ")";
          break;
        }
      }
    }
    EXPECT_EQ(sha256_hex({reinterpret_cast<const uint8_t*>(got.data()), got.size() * 4}),
              te.at("sha256").get<std::string>());
  }
}

TEST(GgufGolden, FixtureListIsComplete) {
  const std::vector<std::string> files = {"f32.gguf",  "f16.gguf",     "bf16.gguf",    "q8_0.gguf", "q4_0.gguf",
                                          "q4_1.gguf", "q5_0.gguf",    "q5_1.gguf",    "q4_k.gguf", "q5_k.gguf",
                                          "q6_k.gguf", "v2_q4_0.gguf", "align64.gguf", "q2_k.gguf", "metadata_only.gguf"};
  std::vector<std::string> listed;
  for (const Json& f : fixtures_doc().at("files")) listed.push_back(f.at("file").get<std::string>());
  EXPECT_EQ(listed, files);
}

TEST(GgufGolden, F32) { check_fixture("f32.gguf"); }
TEST(GgufGolden, F16) { check_fixture("f16.gguf"); }
TEST(GgufGolden, BF16) { check_fixture("bf16.gguf"); }
TEST(GgufGolden, Q8_0) { check_fixture("q8_0.gguf"); }
TEST(GgufGolden, Q4_0) { check_fixture("q4_0.gguf"); }
TEST(GgufGolden, Q4_1) { check_fixture("q4_1.gguf"); }
TEST(GgufGolden, Q5_0) { check_fixture("q5_0.gguf"); }
TEST(GgufGolden, Q5_1) { check_fixture("q5_1.gguf"); }
TEST(GgufGolden, Q4_K) { check_fixture("q4_k.gguf"); }
TEST(GgufGolden, Q5_K) { check_fixture("q5_k.gguf"); }
TEST(GgufGolden, Q6_K) { check_fixture("q6_k.gguf"); }
TEST(GgufGolden, Version2) { check_fixture("v2_q4_0.gguf"); }
TEST(GgufGolden, Alignment64) { check_fixture("align64.gguf"); }
TEST(GgufGolden, Q2_KParsesButDoesNotDequantize) { check_fixture("q2_k.gguf"); }
TEST(GgufGolden, MetadataOnly) { check_fixture("metadata_only.gguf"); }

// The typed lookups over the values the generator wrote (tools/gen_gguf_fixtures.py common_metadata).
TEST(GgufGolden, TypedLookups) {
  GgufFile g = GgufFile::open(fixture("q4_k.gguf"));
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_string("mc.fixture"), "q4_k");
  EXPECT_EQ(g.get_string("mc.string_empty"), "");
  EXPECT_EQ(g.get_string("mc.u8"), std::nullopt);  // wrong type
  EXPECT_EQ(g.get_int("mc.u8"), 200);
  EXPECT_EQ(g.get_int("mc.i8"), -100);
  EXPECT_EQ(g.get_int("mc.u32"), 4000000000LL);
  EXPECT_EQ(g.get_int("mc.i64"), INT64_MIN);
  EXPECT_EQ(g.get_int("mc.u64"), std::nullopt);  // 2^64 - 1 does not fit in int64
  EXPECT_EQ(g.get_int("mc.bool_true"), 1);
  EXPECT_EQ(g.get_int("mc.string"), std::nullopt);
  EXPECT_EQ(g.get_int("no.such.key"), std::nullopt);
  EXPECT_EQ(g.get_float("mc.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(g.get_float("mc.f64"), 1.0 / 3.0);
  EXPECT_EQ(g.get_float("mc.i16"), -30000.0);
  EXPECT_EQ(g.get_float("mc.arr.u8"), std::nullopt);
  const GgufValue* arr = g.find("mc.arr.string");
  ASSERT_NE(arr, nullptr);
  ASSERT_TRUE(arr->is_array());
  ASSERT_EQ(arr->arr.size(), 4u);
  EXPECT_EQ(arr->arr[3].s, std::string("\xff\xfe\0raw", 6));  // arbitrary bytes survive
  const GgufValue* nested = g.find("mc.arr.nested3");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->elem_type, GgufValueType::ARRAY);
  ASSERT_EQ(nested->arr.size(), 2u);
  EXPECT_EQ(nested->arr[0].arr[1].arr[1].as_float(), 3.5);
}

}  // namespace
}  // namespace mc
