// Unit tests for the GGUF reader on hand-built files: a small valid file made by a byte writer, then
// corrupted in every way the parser must catch (truncation anywhere, bad magic, unsupported versions,
// absurd counts and lengths, unknown types, bad alignment, tensors past EOF or overlapping, ne
// overflow). Each must raise mc::Error naming the file, never crash or allocate absurdly.
// Bit-exactness against gguf-py lives in tests/golden/gguf_golden_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace mc {
namespace {

constexpr uint32_t kTypeU8 = 0, kTypeU32 = 4, kTypeF32 = 6, kTypeString = 8, kTypeArray = 9, kTypeU64 = 10;
constexpr uint32_t kGgmlF32 = 0, kGgmlQ8_0 = 8, kGgmlQ2_K = 10;
constexpr const char* kSource = "test.gguf";

// Little-endian byte writer for GGUF pieces.
struct Bytes {
  std::string b;
  Bytes& u8(uint8_t v) { b.push_back(static_cast<char>(v)); return *this; }
  Bytes& u16(uint16_t v) { return raw(&v, 2); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& str(std::string_view s) { u64(s.size()); b.append(s); return *this; }
  Bytes& raw(const void* p, size_t n) { b.append(static_cast<const char*>(p), n); return *this; }
  Bytes& append(const Bytes& o) { b += o.b; return *this; }
};

Bytes kv_string(std::string_view key, std::string_view v) { return Bytes().str(key).u32(kTypeString).str(v); }
Bytes kv_u32(std::string_view key, uint32_t v) { return Bytes().str(key).u32(kTypeU32).u32(v); }

struct TensorSpec {
  std::string           name;
  std::vector<uint64_t> ne;
  uint32_t              type;
  uint64_t              offset;
};

// A whole file: header, metadata, tensor infos, padding to the alignment, then `data`.
struct FileSpec {
  uint32_t                version = 3;
  std::optional<uint64_t> n_kv, n_tensors;  // override the true counts
  std::vector<Bytes>      kvs;
  std::vector<TensorSpec> tensors;
  uint64_t                alignment = 32;
  std::string             data;

  std::string build() const {
    Bytes f;
    f.raw("GGUF", 4).u32(version).u64(n_tensors.value_or(tensors.size())).u64(n_kv.value_or(kvs.size()));
    for (const Bytes& kv : kvs) f.append(kv);
    for (const TensorSpec& t : tensors) {
      f.str(t.name).u32(static_cast<uint32_t>(t.ne.size()));
      for (uint64_t d : t.ne) f.u64(d);
      f.u32(t.type).u64(t.offset);
    }
    while (f.b.size() % alignment != 0) f.u8(0);
    f.b += data;
    return f.b;
  }
};

// The valid base file: three metadata entries and two tensors, a Q8_0 (2 rows of 32) and an F32 [4];
// the F32 tensor ends exactly at the end of the file.
FileSpec valid_spec() {
  FileSpec s;
  s.kvs.push_back(kv_string("general.architecture", "llama"));
  s.kvs.push_back(kv_u32("general.alignment", 32));
  s.kvs.push_back(Bytes().str("tokenizer.ggml.tokens").u32(kTypeArray).u32(kTypeString).u64(3).str("a").str("").str(
      "\xff\xfe"));
  s.tensors.push_back({"blk.0.w", {32, 2}, kGgmlQ8_0, 0});
  s.tensors.push_back({"norm", {4}, kGgmlF32, 96});
  Bytes d;
  for (int blk = 0; blk < 2; blk++) {
    d.u16(f32_to_f16(blk == 0 ? 1.0f : 0.5f));
    for (int j = 0; j < 32; j++) d.u8(static_cast<uint8_t>(static_cast<int8_t>(j - 16)));
  }
  while (d.b.size() < 96) d.u8(0);
  d.f32(1.0f).f32(-2.0f).f32(0.25f).f32(3.0f);
  s.data = d.b;
  return s;
}

// GgufFile::from_memory does not copy, and tests often parse a temporary (parse(s.build())): keep every
// buffer alive for the rest of the run so the returned file never points into freed memory.
GgufFile parse(const std::string& bytes) {
  static std::deque<std::string> keep_alive;
  const std::string& b = keep_alive.emplace_back(bytes);
  return GgufFile::from_memory({reinterpret_cast<const uint8_t*>(b.data()), b.size()}, kSource);
}

// Parsing must fail with an mc::Error that names the file and contains `what`.
void expect_error(const std::string& bytes, const std::string& what) {
  try {
    parse(bytes);
    ADD_FAILURE() << "expected an error containing '" << what << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(std::string("[gguf] ") + kSource + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

void expect_error(const FileSpec& s, const std::string& what) { expect_error(s.build(), what); }

TEST(Gguf, ValidFileParses) {
  const std::string bytes = valid_spec().build();
  GgufFile g = parse(bytes);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  EXPECT_EQ(g.file_bytes(), bytes.size());
  ASSERT_EQ(g.metadata().size(), 3u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  const GgufValue* tok = g.find("tokenizer.ggml.tokens");
  ASSERT_NE(tok, nullptr);
  ASSERT_EQ(tok->arr.size(), 3u);
  EXPECT_EQ(tok->arr[2].s, "\xff\xfe");  // values may be arbitrary bytes
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo* w = g.find_tensor("blk.0.w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->nbytes, 68u);
  EXPECT_EQ(w->numel(), 64u);
  EXPECT_EQ(w->shape(), (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(g.find_tensor("nope"), nullptr);
  // Q8_0 with d = 1 and d = 0.5: y = q * d, exact.
  std::vector<float> y = g.dequantize(*w);
  ASSERT_EQ(y.size(), 64u);
  for (int j = 0; j < 32; j++) {
    EXPECT_EQ(y[j], static_cast<float>(j - 16));
    EXPECT_EQ(y[32 + j], 0.5f * static_cast<float>(j - 16));
  }
  EXPECT_EQ(g.dequantize(*g.find_tensor("norm")), (std::vector<float>{1.0f, -2.0f, 0.25f, 3.0f}));
}

TEST(Gguf, OpenReadsAFileAndNamesItInErrors) {
  test::TempDir tmp;
  const std::string path = tmp / "model.gguf";
  test::write_bytes(path, valid_spec().build());
  GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.path(), path);
  EXPECT_EQ(g.tensors().size(), 2u);
  GgufFile copy = g;  // copies share the mapping
  EXPECT_EQ(copy.dequantize(copy.tensors()[1]).size(), 4u);

  test::write_bytes(tmp / "bad.gguf", "GGUF");
  try {
    GgufFile::open(tmp / "bad.gguf");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(tmp / "bad.gguf"), std::string::npos) << e.what();
  }
  EXPECT_THROW(GgufFile::open(tmp / "missing.gguf"), Error);
}

TEST(Gguf, EveryTruncationIsAnError) {
  const std::string bytes = valid_spec().build();
  for (size_t n = 0; n < bytes.size(); n++) {
    SCOPED_TRACE(n);
    expect_error(bytes.substr(0, n), "");
  }
}

TEST(Gguf, TruncationMessagesSayWhere) {
  const std::string bytes = valid_spec().build();
  expect_error(bytes.substr(0, 2), "too short");
  expect_error(bytes.substr(0, 12), "truncated");
  expect_error(bytes.substr(0, 30), "metadata count 3 cannot fit");
  expect_error(bytes.substr(0, 172), "truncated in metadata key 'tokenizer.ggml.tokens'");
  expect_error(bytes.substr(0, bytes.size() - 1), "past the end of the file");
}

TEST(Gguf, BadMagic) {
  std::string bytes = valid_spec().build();
  bytes[3] = 'X';
  expect_error(bytes, "not a GGUF file");
  expect_error(std::string("\x00\x00\x00\x00", 4) + bytes.substr(4), "not a GGUF file");
}

TEST(Gguf, UnsupportedVersions) {
  FileSpec s = valid_spec();
  s.version = 1;
  expect_error(s, "version 1 is not supported");
  s.version = 0;
  expect_error(s, "unsupported GGUF version 0");
  s.version = 4;
  expect_error(s, "unsupported GGUF version 4");
  s.version = 0x03000000;  // a big-endian v3 file read as little-endian
  expect_error(s, "big-endian");
  s.version = 2;
  EXPECT_EQ(parse(s.build()).version(), 2u);
}

TEST(Gguf, AbsurdCountsAreRejectedBeforeAllocating) {
  const uint64_t huge[] = {uint64_t(1) << 63, std::numeric_limits<uint64_t>::max(), uint64_t(1) << 40};
  for (uint64_t n : huge) {
    FileSpec s = valid_spec();
    s.n_kv = n;
    expect_error(s, "metadata count");
    s = valid_spec();
    s.n_tensors = n;
    expect_error(s, "tensor count");
  }
  FileSpec s = valid_spec();
  s.n_kv = 4;  // one more entry than present: runs into the tensor infos
  expect_error(s, "");
  s = valid_spec();
  s.n_tensors = 3;
  expect_error(s, "");
}

TEST(Gguf, AbsurdLengthsAreRejected) {
  for (uint64_t n : {uint64_t(1) << 63, std::numeric_limits<uint64_t>::max(), uint64_t(1) << 32}) {
    FileSpec s = valid_spec();
    s.kvs[0] = Bytes().u64(n).raw("general.architecture", 20).u32(kTypeString).str("llama");  // key length
    expect_error(s, "truncated");
    s = valid_spec();
    s.kvs[0] = Bytes().str("general.architecture").u32(kTypeString).u64(n).raw("llama", 5);  // string value
    expect_error(s, "truncated");
    s = valid_spec();
    s.kvs[2] = Bytes().str("tokenizer.ggml.tokens").u32(kTypeArray).u32(kTypeString).u64(n).str("a");  // array
    expect_error(s, "array length");
    s = valid_spec();
    s.kvs[2] = Bytes().str("x").u32(kTypeArray).u32(kTypeU8).u64(n).u8(1);
    expect_error(s, "array length");
    s = valid_spec();
    s.kvs[2] = Bytes().str("x").u32(kTypeArray).u32(kTypeArray).u64(n).u32(kTypeU8).u64(0);  // array of arrays
    expect_error(s, "array length");
  }
  // A tensor name whose length runs past the end.
  std::string bytes = valid_spec().build();
  const std::string name = "blk.0.w";
  size_t pos = bytes.find(name) - 8;
  uint64_t n = uint64_t(1) << 62;
  std::memcpy(&bytes[pos], &n, 8);
  expect_error(bytes, "truncated");
}

TEST(Gguf, MetadataValueCountIsCapped) {
  // 2^24 + 1 one-byte elements really are in the file, but would cost ~100 bytes each once parsed.
  const uint64_t n = (uint64_t(1) << 24) + 1;
  FileSpec s = valid_spec();
  Bytes big;
  big.str("big").u32(kTypeArray).u32(kTypeU8).u64(n);
  big.b.append(n, '\x01');
  s.kvs.push_back(std::move(big));
  expect_error(s, "metadata holds more than 16777216 values");
}

TEST(Gguf, UnknownValueTypes) {
  FileSpec s = valid_spec();
  s.kvs[1] = Bytes().str("x").u32(13).u32(0);
  expect_error(s, "unknown value type 13");
  s.kvs[1] = Bytes().str("x").u32(0xFFFFFFFF).u32(0);
  expect_error(s, "unknown value type");
  s.kvs[1] = Bytes().str("x").u32(kTypeArray).u32(42).u64(1).u32(0);
  expect_error(s, "array of unknown value type 42");
}

TEST(Gguf, ArraysOfArraysAndEmptyArrays) {
  FileSpec s = valid_spec();
  // [[1, 2], []] as u32 arrays inside an array, plus an empty array of strings.
  s.kvs.push_back(Bytes().str("nested").u32(kTypeArray).u32(kTypeArray).u64(2)
                      .u32(kTypeU32).u64(2).u32(1).u32(2)
                      .u32(kTypeU32).u64(0));
  s.kvs.push_back(Bytes().str("empty").u32(kTypeArray).u32(kTypeString).u64(0));
  GgufFile g = parse(s.build());
  const GgufValue* v = g.find("nested");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->arr.size(), 2u);
  EXPECT_EQ(v->arr[0].elem_type, GgufValueType::UINT32);
  EXPECT_EQ(v->arr[0].arr[1].u, 2u);
  EXPECT_TRUE(v->arr[1].arr.empty());
  EXPECT_TRUE(g.find("empty")->arr.empty());

  // Nesting up to the depth limit parses, one level deeper does not.
  auto nest = [](int depth) {
    Bytes b;
    b.str("deep").u32(kTypeArray);
    for (int k = 1; k < depth; k++) b.u32(kTypeArray).u64(1);
    b.u32(kTypeU8).u64(1).u8(7);
    return b;
  };
  s = valid_spec();
  s.kvs.push_back(nest(8));
  EXPECT_NO_THROW(parse(s.build()));
  s = valid_spec();
  s.kvs.push_back(nest(9));
  expect_error(s, "nested deeper");
  s = valid_spec();
  s.kvs.push_back(nest(100000 / 12));
  expect_error(s, "nested deeper");
}

TEST(Gguf, KeysMustBeValidDistinctUtf8) {
  FileSpec s = valid_spec();
  s.kvs.push_back(kv_u32("caf\xc3\xa9.ok", 1));  // valid UTF-8
  EXPECT_NO_THROW(parse(s.build()));
  for (const char* bad : {"bad\xff", "over\xc0\xaflong", "surrogate\xed\xa0\x80", "cut\xe2\x82"}) {
    s = valid_spec();
    s.kvs.push_back(kv_u32(bad, 1));
    expect_error(s, "not valid UTF-8");
  }
  s = valid_spec();
  s.kvs.push_back(kv_u32("", 1));
  expect_error(s, "empty key");
  s = valid_spec();
  s.kvs.push_back(kv_string("general.architecture", "qwen2"));
  expect_error(s, "duplicate metadata key 'general.architecture'");
}

TEST(Gguf, UnknownGgmlTypes) {
  for (uint32_t t : {4u, 5u, 31u, 42u, 99u, 0xFFFFFFFFu}) {
    FileSpec s = valid_spec();
    s.tensors[1].type = t;
    expect_error(s, "unknown ggml type " + std::to_string(t));
  }
}

TEST(Gguf, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u, 0xFFFFFFFFu}) {
    FileSpec s = valid_spec();
    s.kvs[1] = kv_u32("general.alignment", a);
    expect_error(s, "not a nonzero power of two");
  }
  FileSpec s = valid_spec();
  s.kvs[1] = Bytes().str("general.alignment").u32(kTypeU64).u64(32);
  expect_error(s, "general.alignment must be a u32");
  s = valid_spec();
  s.kvs[1] = Bytes().str("general.alignment").u32(kTypeF32).f32(32.0f);
  expect_error(s, "general.alignment must be a u32");
}

TEST(Gguf, OtherAlignmentsAndDefault) {
  FileSpec s = valid_spec();
  s.kvs[1] = kv_u32("general.alignment", 16);
  s.alignment = 16;
  s.tensors[1].offset = 80;  // 68 rounded up to 16
  s.data = s.data.substr(0, 80) + s.data.substr(96);
  GgufFile g = parse(s.build());
  EXPECT_EQ(g.alignment(), 16u);
  EXPECT_EQ(g.dequantize(g.tensors()[1]), (std::vector<float>{1.0f, -2.0f, 0.25f, 3.0f}));
  s = valid_spec();
  s.kvs.erase(s.kvs.begin() + 1);  // no general.alignment: 32
  EXPECT_EQ(parse(s.build()).alignment(), 32u);
}

TEST(Gguf, OffsetsMustBeAligned) {
  FileSpec s = valid_spec();
  s.tensors[1].offset = 72;
  expect_error(s, "not a multiple of the alignment");
}

TEST(Gguf, TensorDataPastEndOfFile) {
  for (uint64_t off : {uint64_t(128), uint64_t(1) << 40, std::numeric_limits<uint64_t>::max() - 31}) {
    FileSpec s = valid_spec();
    s.tensors[1].offset = off;
    expect_error(s, "past the end of the file");
  }
  FileSpec s = valid_spec();
  s.tensors.pop_back();
  s.tensors[0].ne = {32, 4};  // 136 bytes, but the data area holds 112
  expect_error(s, "blk.0.w' data (offset 0, 136 bytes) extends past the end of the file");
}

TEST(Gguf, OverlappingTensors) {
  FileSpec s = valid_spec();
  s.tensors[1].offset = 64;  // inside blk.0.w's 68 bytes
  expect_error(s, "overlap");
  s = valid_spec();
  s.tensors[1].offset = 0;
  expect_error(s, "overlap");
  // Tensors may come in any order in the data area.
  s = valid_spec();
  s.tensors[0].offset = 32;
  s.tensors[1].offset = 0;
  GgufFile g = parse(s.build());
  EXPECT_EQ(g.tensors()[0].offset, 32u);
}

TEST(Gguf, DimensionChecks) {
  FileSpec s = valid_spec();
  s.tensors[1].ne = {};
  expect_error(s, "n_dims = 0");
  s.tensors[1].ne = {1, 1, 1, 1, 4};
  expect_error(s, "n_dims = 5");
  s.tensors[1].ne = {uint64_t(1) << 32, uint64_t(1) << 32};
  expect_error(s, "overflows");
  s.tensors[1].ne = {uint64_t(1) << 63};
  expect_error(s, "overflows");
  s.tensors[1].ne = {std::numeric_limits<uint64_t>::max(), 0};  // zero elements, but ne[0] is not an int64
  expect_error(s, "overflows");
  s.tensors[1].ne = {uint64_t(1) << 62};  // fits in int64, but 4 bytes each does not fit the file
  expect_error(s, "");
  s = valid_spec();
  s.tensors[0].ne = {48, 2};  // Q8_0 rows must hold whole 32-element blocks
  expect_error(s, "not a multiple of the Q8_0 block size 32");
  s = valid_spec();
  s.tensors[0].ne = {32, 1, 1, 2};  // same bytes as [32, 2]
  EXPECT_EQ(parse(s.build()).tensors()[0].shape(), (std::vector<int64_t>{2, 1, 1, 32}));
}

TEST(Gguf, TensorNames) {
  FileSpec s = valid_spec();
  s.tensors[1].name = "blk.0.w";
  expect_error(s, "duplicate tensor name 'blk.0.w'");
  s.tensors[1].name = "";
  expect_error(s, "empty name");
  s.tensors[1].name = "bad\xff";
  expect_error(s, "not valid UTF-8");
}

TEST(Gguf, ZeroSizedTensorsAndNoTensors) {
  FileSpec s = valid_spec();
  s.tensors.push_back({"empty", {0, 3}, kGgmlF32, 96});  // shares an offset with "norm", holds nothing
  GgufFile g = parse(s.build());
  EXPECT_EQ(g.tensors()[2].nbytes, 0u);
  EXPECT_TRUE(g.dequantize(g.tensors()[2]).empty());
  s = valid_spec();
  s.tensors.clear();
  s.data.clear();
  g = parse(s.build());
  EXPECT_TRUE(g.tensors().empty());
}

TEST(Gguf, UnsupportedQuantTypeNamesTensorAndType) {
  FileSpec s = valid_spec();
  s.tensors.push_back({"blk.0.q2", {256}, kGgmlQ2_K, 128});
  s.data.resize(128 + 84, '\0');
  GgufFile g = parse(s.build());
  const GgufTensorInfo* t = g.find_tensor("blk.0.q2");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->nbytes, 84u);
  try {
    g.dequantize(*t);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[gguf] test.gguf: tensor 'blk.0.q2' has quant type Q2_K which mc cannot "
                                          "dequantize", 0),
              0u)
        << e.what();
  }
  std::vector<float> out(256);
  EXPECT_THROW(ggml_dequantize(GgmlType::Q2_K, nullptr, out.data(), 256), Error);
}

TEST(Gguf, TypeTable) {
  uint64_t be = 0, bb = 0;
  ASSERT_TRUE(ggml_type_block(GgmlType::Q4_K, &be, &bb));
  EXPECT_EQ(be, 256u);
  EXPECT_EQ(bb, 144u);
  ASSERT_TRUE(ggml_type_block(GgmlType::Q6_K, &be, &bb));
  EXPECT_EQ(bb, 210u);
  ASSERT_TRUE(ggml_type_block(GgmlType::IQ4_XS, &be, &bb));
  EXPECT_EQ(bb, 136u);
  EXPECT_FALSE(ggml_type_block(static_cast<GgmlType>(4), &be, &bb));
  EXPECT_EQ(ggml_type_name(GgmlType::Q5_K), "Q5_K");
  EXPECT_EQ(ggml_type_name(GgmlType::BF16), "BF16");
  EXPECT_EQ(ggml_type_name(static_cast<GgmlType>(77)), "type77");
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                     GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K})
    EXPECT_TRUE(ggml_type_supported(t)) << ggml_type_name(t);
  for (GgmlType t : {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q8_K, GgmlType::Q8_1, GgmlType::IQ2_XXS,
                     GgmlType::F64, GgmlType::I32, GgmlType::TQ1_0, GgmlType::MXFP4})
    EXPECT_FALSE(ggml_type_supported(t)) << ggml_type_name(t);
}

TEST(Gguf, HostileNamesAreEscapedInMessages) {
  FileSpec s = valid_spec();
  s.kvs.push_back(kv_u32(std::string(300, 'k') + "\x01", 1));
  s.kvs.push_back(kv_u32(std::string(300, 'k') + "\x01", 2));
  try {
    parse(s.build());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("duplicate metadata key"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(301 bytes)"), std::string::npos) << msg;
    EXPECT_LT(msg.size(), 200u) << msg;
  }
}

}  // namespace
}  // namespace mc
