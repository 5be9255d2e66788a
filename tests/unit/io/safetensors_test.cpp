// safetensors reader/writer: every malformed-header case (bytes built here) must give one
// "[safetensors] <file>: <problem>" line and never crash; write-then-read round trips; atomic writes;
// sharded checkpoints through SafetensorsModel. Byte-exact agreement with PyPI lives in the golden test.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "core/error.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace mc {
namespace {

using test::TempDir;

/// u64 LE header length | header | data. `n` overrides the length field.
std::string st_bytes(const std::string& header, const std::string& data = "", std::optional<uint64_t> n = {}) {
  uint64_t len = n ? *n : header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &len, 8);
  return out + header + data;
}

std::span<const uint8_t> as_span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

/// A header entry: "name":{"dtype":..,"shape":..,"data_offsets":[b,e]}.
std::string entry(const std::string& name, uint64_t b, uint64_t e, const std::string& shape = "[1]",
                  const std::string& dtype = "F32") {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

/// Expects from_memory to throw one line "[safetensors] mem.safetensors: ..." containing `problem`.
void expect_bad(const std::string& bytes, const std::string& problem) {
  try {
    SafetensorsFile::from_memory(as_span(bytes), "mem.safetensors");
    ADD_FAILURE() << "no error; expected: " << problem;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("[safetensors] mem.safetensors: ", 0), 0u) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << "got: " << what << "\nwanted: " << problem;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

SafetensorsFile good(const std::string& bytes) { return SafetensorsFile::from_memory(as_span(bytes), "mem"); }

template <typename T>
std::string le(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}

// --- the file envelope ------------------------------------------------------------------------

TEST(SafetensorsRead, FileTooShort) {
  expect_bad("", "file is too short for a safetensors header (0 bytes");
  expect_bad("1234567", "file is too short for a safetensors header (7 bytes");
}

TEST(SafetensorsRead, HeaderLengthZero) { expect_bad(st_bytes("", "", 0), "header length is 0"); }

TEST(SafetensorsRead, HeaderLengthOverLimit) {
  expect_bad(st_bytes("{}", "", 100'000'001), "header length 100000001 exceeds the limit of 100000000 bytes");
  expect_bad(st_bytes("{}", "", UINT64_MAX - 1), "exceeds the limit");  // 2^64 - 2: no overflow in the EOF check
}

TEST(SafetensorsRead, HeaderLengthPastEndOfFile) {
  expect_bad(st_bytes("{}", "", 3), "header length 3 runs past the end of the file (10 bytes)");
  expect_bad(st_bytes("{}", "", 100'000'000), "runs past the end of the file");
}

TEST(SafetensorsRead, HeaderNotUtf8) {
  expect_bad(st_bytes("{\"a\xff\":{}}"), "header is not valid UTF-8 (byte 3");
  expect_bad(st_bytes("{\"\xc0\x80\":1}"), "not valid UTF-8");      // overlong NUL
  expect_bad(st_bytes("{\"\xed\xa0\x80\":1}"), "not valid UTF-8");  // surrogate
  expect_bad(st_bytes("{\"\xf4\x90\x80\x80\":1}"), "not valid UTF-8");  // > U+10FFFF
  expect_bad(st_bytes("{\"\xe2\x82"), "not valid UTF-8");           // truncated sequence
}

TEST(SafetensorsRead, HeaderNotJson) {
  expect_bad(st_bytes("{"), "header is not valid JSON");
  expect_bad(st_bytes("{\"a\":}"), "header is not valid JSON");
  expect_bad(st_bytes("{}x"), "header is not valid JSON");
  expect_bad(st_bytes(std::string("{}\0", 3)), "header is not valid JSON");  // only whitespace may pad
  expect_bad(st_bytes(std::string("{}\0{\"a\":1}", 10)), "header is not valid JSON (NUL byte at byte 2)");
  expect_bad(st_bytes("{\"a\\ud800\":1}"), "header is not valid JSON");     // lone surrogate escape
  expect_bad(st_bytes("{} // comment"), "header is not valid JSON");
  expect_bad(st_bytes("{\"a\":-2e400}"), "header is not valid JSON (number overflow");  // nlohmann's out_of_range
}

TEST(SafetensorsRead, HeaderNotAnObject) {
  expect_bad(st_bytes("[]"), "header is not a JSON object (it is array)");
  expect_bad(st_bytes("1       "), "header is not a JSON object (it is number)");
  expect_bad(st_bytes("null"), "header is not a JSON object (it is null)");
  expect_bad(st_bytes("\"{}\""), "header is not a JSON object (it is string)");
}

TEST(SafetensorsRead, WhitespacePaddingIsAllowed) {
  // Writers pad with spaces; serde_json (the reference) also accepts other JSON whitespace on both sides.
  EXPECT_EQ(good(st_bytes("{}      ")).tensors().size(), 0u);
  EXPECT_EQ(good(st_bytes("{" + entry("a", 0, 4) + "}\n\t \r", "1234")).tensors().size(), 1u);
  EXPECT_EQ(good(st_bytes("  {" + entry("a", 0, 4) + "}", "1234")).tensors().size(), 1u);
}

// --- entries ----------------------------------------------------------------------------------

TEST(SafetensorsRead, EntryNotAnObject) {
  expect_bad(st_bytes("{\"a\":\"x\"}"), "tensor 'a': header entry is not an object");
  expect_bad(st_bytes("{\"a\":[0,4]}"), "tensor 'a': header entry is not an object");
}

TEST(SafetensorsRead, EntryFieldsExactly) {
  expect_bad(st_bytes("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "1234"), "tensor 'a': missing field 'dtype'");
  expect_bad(st_bytes("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "1234"),
             "tensor 'a': missing field 'shape'");
  expect_bad(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "1234"), "tensor 'a': missing field 'data_offsets'");
  expect_bad(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", "1234"),
             "tensor 'a': unexpected field 'x'");
  // Field order does not matter.
  EXPECT_EQ(good(st_bytes("{\"a\":{\"data_offsets\":[0,4],\"shape\":[1],\"dtype\":\"F32\"}}", "1234")).tensors().size(),
            1u);
}

TEST(SafetensorsRead, Dtypes) {
  expect_bad(st_bytes("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", "1234"),
             "tensor 'a': dtype is not a string");
  expect_bad(st_bytes("{" + entry("a", 0, 1, "[1]", "Q4") + "}", "1"), "tensor 'a': unknown dtype 'Q4'");
  expect_bad(st_bytes("{" + entry("a", 0, 4, "[1]", "f32") + "}", "1234"), "tensor 'a': unknown dtype 'f32'");
  for (const char* dt : {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2", "C64"})
    expect_bad(st_bytes("{" + entry("a", 0, 1, "[1]", dt) + "}", "1"),
               std::string("tensor 'a': unsupported dtype '") + dt + "'");
}

TEST(SafetensorsRead, Shapes) {
  const std::string data = "1234";
  for (const char* sh : {"[-1]", "[1.0]", "[1e0]", "[\"1\"]", "[18446744073709551616]", "[[1]]", "[null]"})
    expect_bad(st_bytes("{" + entry("a", 0, 4, sh) + "}", data), "is not an array of non-negative integers");
  expect_bad(st_bytes("{" + entry("a", 0, 4, "{}") + "}", data), "tensor 'a': shape is not an array");
  expect_bad(st_bytes("{" + entry("a", 0, 0, "[0,9223372036854775808]") + "}"), "shape dimension 9223372036854775808 is too large");
}

TEST(SafetensorsRead, ShapeTimesDtypeMustMatchOffsets) {
  expect_bad(st_bytes("{" + entry("a", 0, 20, "[2,3]") + "}", std::string(20, 'x')),
             "tensor 'a': shape [2, 3] × F32 (4 bytes) = 24 bytes but data_offsets [0, 20] span 20");
  expect_bad(st_bytes("{" + entry("a", 0, 4, "[]", "F64") + "}", "1234"), "= 8 bytes but data_offsets [0, 4] span 4");
}

TEST(SafetensorsRead, ShapeOverflow) {
  expect_bad(st_bytes("{" + entry("a", 0, 4, "[1099511627776,1099511627776]") + "}", "1234"), "overflows the byte count");
  expect_bad(st_bytes("{" + entry("a", 0, 4, "[4611686018427387904]", "F64") + "}", "1234"), "overflows the byte count");
  // A prefix that overflows is an overflow even if a later 0 makes the product 0 (as in the reference) ...
  expect_bad(st_bytes("{" + entry("a", 0, 0, "[1099511627776,1099511627776,0]") + "}"), "overflows");
  // ... while a 0 first keeps every prefix at 0.
  EXPECT_EQ(good(st_bytes("{" + entry("a", 0, 0, "[0,1099511627776,1099511627776]") + "}")).tensors()[0].numel(), 0u);
}

TEST(SafetensorsRead, DataOffsets) {
  const std::string pre = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":";
  for (const char* off : {"[0]", "[0,4,4]", "[-1,3]", "[0,4.0]", "\"0,4\"", "[0,null]", "{}"})
    expect_bad(st_bytes(pre + off + "}}", "1234"), "is not [begin, end] of non-negative integers");
  expect_bad(st_bytes("{" + entry("a", 4, 0) + "}", "1234"), "tensor 'a': data_offsets [4, 0] has begin > end");
}

TEST(SafetensorsRead, OffsetsPastDataArea) {
  expect_bad(st_bytes("{" + entry("a", 0, 4) + "}", "123"),
             "tensor 'a': data_offsets [0, 4] run past the end of the data area (3 bytes)");
  expect_bad(st_bytes("{" + entry("a", 18446744073709551612ull, 18446744073709551615ull, "[0]", "U8") + "}"),
             "= 0 bytes but data_offsets");
}

TEST(SafetensorsRead, HolesAndOverlapsAreDistinct) {
  expect_bad(st_bytes("{" + entry("a", 0, 4) + "," + entry("b", 8, 12) + "}", std::string(12, 'x')),
             "hole in the data area: bytes [4, 8) belong to no tensor (before tensor 'b')");
  expect_bad(st_bytes("{" + entry("b", 4, 8) + "}", std::string(8, 'x')), "hole in the data area: bytes [0, 4)");
  expect_bad(st_bytes("{" + entry("a", 0, 4) + "," + entry("b", 2, 6) + "}", std::string(6, 'x')),
             "tensor 'b' data_offsets [2, 6] overlap tensor 'a' [0, 4]");
  expect_bad(st_bytes("{" + entry("a", 0, 4) + "," + entry("b", 0, 4) + "}", std::string(4, 'x')), "overlap tensor");
  // An empty tensor strictly inside another one also overlaps.
  expect_bad(st_bytes("{" + entry("a", 0, 8, "[2]") + "," + entry("z", 4, 4, "[0]") + "}", std::string(8, 'x')),
             "tensor 'z' data_offsets [4, 4] overlap tensor 'a'");
}

TEST(SafetensorsRead, DataAreaMustBeFullyCovered) {
  expect_bad(st_bytes("{" + entry("a", 0, 4) + "}", "12345"),
             "data area not fully covered: tensors end at byte 4 but the data area has 5 bytes");
  expect_bad(st_bytes("{}", "x"), "data area not fully covered");
}

TEST(SafetensorsRead, DuplicateKeysAreErrors) {
  // nlohmann would keep one of the two silently; the parse must catch them.
  expect_bad(st_bytes("{" + entry("a", 0, 4) + "," + entry("a", 0, 4) + "}", "1234"), "duplicate tensor name 'a' in header");
  expect_bad(st_bytes("{\"__metadata__\":{},\"__metadata__\":{}}"), "header has two __metadata__ entries");
  expect_bad(st_bytes("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "duplicate __metadata__ key 'k'");
  expect_bad(st_bytes("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "1234"),
             "tensor 'a' has a duplicate field 'dtype'");
  expect_bad(st_bytes("{\"__metadata__\":{\"k\":{\"x\":1,\"x\":2}}}"), "duplicate key 'x' in 'k'");
}

TEST(SafetensorsRead, Metadata) {
  expect_bad(st_bytes("{\"__metadata__\":[]}"), "__metadata__ is not an object (it is array)");
  expect_bad(st_bytes("{\"__metadata__\":\"pt\"}"), "__metadata__ is not an object (it is string)");
  expect_bad(st_bytes("{\"__metadata__\":{\"format\":1}}"), "__metadata__ value for 'format' is not a string (it is number)");
  expect_bad(st_bytes("{\"__metadata__\":{\"format\":null}}"), "is not a string (it is null)");
  auto f = good(st_bytes("{\"__metadata__\":{\"format\":\"pt\",\"x\":\"\\u00e9\"}}"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("x"), "\xc3\xa9");
  EXPECT_TRUE(good(st_bytes("{\"__metadata__\":null}")).metadata().empty());  // as the reference
}

TEST(SafetensorsRead, ErrorsStayOnOneLine) {
  expect_bad(st_bytes("{" + entry("a\\nb", 0, 4) + "," + entry("a\\nb", 0, 4) + "}", "1234"),
             "duplicate tensor name 'a\\x0ab'");
  expect_bad(st_bytes("{" + entry("t\\u0001", 0, 4, "[1]", "F8\\n") + "}", "1234"), "tensor 't\\x01': unknown dtype 'F8\\x0a'");
  std::string long_name(1000, 'n');
  try {
    SafetensorsFile::from_memory(as_span(st_bytes("{" + entry(long_name, 0, 4, "[1]", "Q") + "}", "1234")), "m");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u);
  }
}

TEST(SafetensorsRead, EmptyTensorsAndEmptyFiles) {
  auto f = good(st_bytes("{" + entry("a", 0, 0, "[0]") + "," + entry("b", 0, 0, "[2,0]", "BF16") + "," +
                         entry("c", 0, 4) + "," + entry("d", 4, 4, "[0,3]") + "}", "1234"));
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "a");
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.tensors()[2].name, "c");
  EXPECT_EQ(f.tensors()[3].name, "d");
  EXPECT_TRUE(f.to_f32(*f.find("b")).empty());
  EXPECT_EQ(f.raw(*f.find("d")).size(), 0u);
  EXPECT_EQ(good(st_bytes("{}")).tensors().size(), 0u);
  EXPECT_EQ(good(st_bytes("{\"__metadata__\":{\"k\":\"v\"}}")).tensors().size(), 0u);
}

TEST(SafetensorsRead, ValidFileAccessors) {
  const std::string data = le<int16_t>({-2, 7}) + le<float>({1.5f}) + le<uint16_t>({0x3f80, 0xc000}) +
                           le<uint8_t>({1, 0}) + le<double>({-0.25});
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}," + entry("f64", 14, 22, "[]", "F64") + "," +
                  entry("i16", 0, 4, "[2]", "I16") + "," + entry("f32", 4, 8, "[1,1]") + "," +
                  entry("bf16", 8, 12, "[2]", "BF16") + "," + entry("bool", 12, 14, "[2]", "BOOL") + "}";
  const std::string bytes = st_bytes(h, data);
  auto f = good(bytes);
  ASSERT_EQ(f.tensors().size(), 5u);
  std::vector<std::string> order;
  for (const auto& t : f.tensors()) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"i16", "f32", "bf16", "bool", "f64"}));  // data-offset order
  EXPECT_EQ(f.header_bytes(), h.size());
  EXPECT_EQ(f.file_bytes(), bytes.size());
  EXPECT_EQ(f.path(), "mem");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("nope"), nullptr);
  const auto* f64 = f.find("f64");
  ASSERT_NE(f64, nullptr);
  EXPECT_TRUE(f64->shape.empty());
  EXPECT_EQ(f64->numel(), 1u);
  EXPECT_EQ(f.to_f32(*f64), std::vector<float>{-0.25f});
  EXPECT_EQ(f.to_f32(*f.find("i16")), (std::vector<float>{-2.0f, 7.0f}));
  EXPECT_EQ(f.to_f32(*f.find("f32")), std::vector<float>{1.5f});
  EXPECT_EQ(f.to_f32(*f.find("bf16")), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(f.to_f32(*f.find("bool")), (std::vector<float>{1.0f, 0.0f}));
  auto raw = f.raw(*f.find("f32"));
  ASSERT_EQ(raw.size(), 4u);
  EXPECT_EQ(std::memcmp(raw.data(), data.data() + 4, 4), 0);
}

TEST(SafetensorsRead, OpenNamesTheFile) {
  TempDir dir;
  const std::string path = dir / "bad.safetensors";
  test::write_bytes(path, st_bytes("{" + entry("a", 0, 4) + "}", "123"));
  try {
    SafetensorsFile::open(path);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[safetensors] " + path + ": tensor 'a': data_offsets", 0), 0u) << e.what();
  }
  try {
    SafetensorsFile::open(dir / "missing.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "missing.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SafetensorsFile::open(dir.path.string()), Error);  // a directory
  test::write_bytes(dir / "empty.safetensors", "");
  EXPECT_THROW(SafetensorsFile::open(dir / "empty.safetensors"), Error);
}

TEST(SafetensorsRead, OpenedFileOutlivesCopies) {
  TempDir dir;
  const std::string path = dir / "a.safetensors";
  test::write_bytes(path, st_bytes("{" + entry("a", 0, 4) + "}    ", le<float>({3.0f})));
  SafetensorsFile copy = [&] {
    SafetensorsFile f = SafetensorsFile::open(path);
    return f;
  }();
  EXPECT_EQ(copy.to_f32(*copy.find("a")), std::vector<float>{3.0f});
}

// --- writing --------------------------------------------------------------------------------

std::span<const uint8_t> span_of(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

TEST(SafetensorsWrite, MatchesTheReferenceCrateTests) {
  // Byte arrays from huggingface/safetensors tensor.rs tests (test_serialization, test_empty).
  TempDir dir;
  std::vector<float> vals = {0, 1, 2, 3, 4, 5};
  auto bytes = f32_to_bytes(vals, Dtype::F32);
  safetensors_write(dir / "a.safetensors", {{"attn.0", Dtype::F32, {1, 2, 3}, span_of(bytes)}}, {});
  std::string expect_header = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
  EXPECT_EQ(test::read_bytes(dir / "a.safetensors"),
            st_bytes(expect_header, std::string(reinterpret_cast<const char*>(bytes.data()), 24)));

  safetensors_write(dir / "e.safetensors", {}, {});
  EXPECT_EQ(test::read_bytes(dir / "e.safetensors"), st_bytes("{}      "));
  safetensors_write(dir / "m.safetensors", {}, {{"framework", "pt"}});
  EXPECT_EQ(test::read_bytes(dir / "m.safetensors"), st_bytes("{\"__metadata__\":{\"framework\":\"pt\"}}     "));
}

TEST(SafetensorsWrite, RoundTripsEveryDtype) {
  TempDir dir;
  const Dtype all[] = {Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64, Dtype::I32, Dtype::I16,
                       Dtype::I8,  Dtype::U64, Dtype::U32, Dtype::U16,  Dtype::U8,  Dtype::BOOL};
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<SafetensorsWriteEntry> entries;
  int k = 0;
  for (Dtype dt : all) {
    std::vector<int64_t> shape = {k % 3 + 1, 3};
    std::vector<uint8_t> b(dtype_size(dt) * static_cast<size_t>(shape[0] * shape[1]));
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(dt == Dtype::BOOL ? i % 2 : 31 * i + k);
    buffers.push_back(std::move(b));
    entries.push_back({"t." + std::string(dtype_name(dt)), dt, shape, {}});
    ++k;
  }
  for (size_t i = 0; i < entries.size(); ++i) entries[i].data = span_of(buffers[i]);
  entries.push_back({"scalar", Dtype::F32, {}, {}});
  auto scalar = f32_to_bytes(std::vector<float>{-7.5f}, Dtype::F32);
  entries.back().data = span_of(scalar);
  entries.push_back({"empty", Dtype::BF16, {4, 0}, {}});

  const std::string path = dir / "all.safetensors";
  safetensors_write(path, entries, {{"format", "pt"}, {"extra", "é \"q\"\n"}});
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f.header_bytes() % 8, 0u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("extra"), "é \"q\"\n");
  ASSERT_EQ(f.tensors().size(), entries.size());
  for (const auto& e : entries) {
    const auto* t = f.find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->dtype, e.dtype);
    EXPECT_EQ(t->shape, e.shape);
    auto raw = f.raw(*t);
    ASSERT_EQ(raw.size(), e.data.size());
    EXPECT_TRUE(std::equal(raw.begin(), raw.end(), e.data.begin())) << e.name;
  }
  EXPECT_EQ(f.to_f32(*f.find("scalar")), std::vector<float>{-7.5f});
  // The reference order: dtype (U64 I64 F64 F32 U32 I32 BF16 F16 U16 I16 I8 U8 BOOL) descending, then name.
  std::vector<std::string> order;
  for (const auto& t : f.tensors())
    if (t.nbytes() > 0) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"t.U64", "t.I64", "t.F64", "scalar", "t.F32", "t.U32", "t.I32", "t.BF16",
                                             "t.F16", "t.U16", "t.I16", "t.I8", "t.U8", "t.BOOL"}));
}

TEST(SafetensorsWrite, NamesSortByBytesAndEscapeLikeSerdeJson) {
  TempDir dir;
  auto b = f32_to_bytes(std::vector<float>{1.0f}, Dtype::F32);
  const std::string weird = "q\"\\\b\f\n\r\t\x01\x1f\x7f/\xc3\xa9";
  safetensors_write(dir / "w.safetensors",
                    {{"b", Dtype::F32, {1}, span_of(b)}, {"\xc3\xa9", Dtype::F32, {1}, span_of(b)},
                     {"B", Dtype::F32, {1}, span_of(b)}, {weird, Dtype::F32, {1}, span_of(b)}},
                    {});
  std::string bytes = test::read_bytes(dir / "w.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  std::string header = bytes.substr(8, n);
  EXPECT_NE(header.find("\"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/\xc3\xa9\":{"), std::string::npos) << header;
  auto f = SafetensorsFile::open(dir / "w.safetensors");
  std::vector<std::string> order;
  for (const auto& t : f.tensors()) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"B", "b", weird, "\xc3\xa9"}));
}

/// Expects safetensors_write to fail naming `path` and `problem`, leaving `dir` exactly as it was.
void expect_write_fails(const TempDir& dir, const std::string& path, const std::vector<SafetensorsWriteEntry>& entries,
                        const std::string& problem, const std::map<std::string, std::string>& metadata = {}) {
  std::vector<std::string> before;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) before.push_back(e.path().string());
  try {
    safetensors_write(path, entries, metadata);
    ADD_FAILURE() << "no error; expected: " << problem;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("[safetensors] " + path + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
  }
  std::vector<std::string> after;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) after.push_back(e.path().string());
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after) << "a failed write left files behind";
}

TEST(SafetensorsWrite, RejectsBadInputAndLeavesNothing) {
  TempDir dir;
  const std::string path = dir / "out.safetensors";
  auto b4 = f32_to_bytes(std::vector<float>{1.0f}, Dtype::F32);
  expect_write_fails(dir, path, {{"a", Dtype::F32, {1}, span_of(b4)}, {"a", Dtype::F32, {1}, span_of(b4)}},
                     "duplicate tensor name 'a'");
  expect_write_fails(dir, path, {{"a", Dtype::F32, {2}, span_of(b4)}}, "tensor 'a': shape [2] × F32 needs 8 bytes but 4");
  expect_write_fails(dir, path, {{"a", Dtype::F16, {1}, span_of(b4)}}, "needs 2 bytes but 4");
  expect_write_fails(dir, path, {{"a", Dtype::F32, {-1}, span_of(b4)}}, "negative dimension");
  expect_write_fails(dir, path, {{"a", Dtype::F32, {1LL << 40, 1LL << 40}, span_of(b4)}}, "is too large");
  expect_write_fails(dir, path, {{"a\xff", Dtype::F32, {1}, span_of(b4)}}, "name is not valid UTF-8");
  expect_write_fails(dir, path, {{"__metadata__", Dtype::F32, {1}, span_of(b4)}}, "cannot be named __metadata__");
  expect_write_fails(dir, path, {}, "is not valid UTF-8", {{"k", "\xc0\x80"}});
  EXPECT_FALSE(std::filesystem::exists(path));

  // A failed write over an existing file leaves the old file as it was.
  safetensors_write(path, {{"a", Dtype::F32, {1}, span_of(b4)}});
  const std::string old = test::read_bytes(path);
  expect_write_fails(dir, path, {{"a", Dtype::F32, {3}, span_of(b4)}}, "needs 12 bytes");
  EXPECT_EQ(test::read_bytes(path), old);

  // No directory to write into: the error names the path.
  const std::string nowhere = dir / "no/such/dir/x.safetensors";
  try {
    safetensors_write(nowhere, {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(nowhere), std::string::npos) << e.what();
  }
}

TEST(SafetensorsWrite, F32ToBytes) {
  std::vector<float> v = {1.0f, -2.5f, 1.0f + 1.0f / 256.0f, 65520.0f, std::numeric_limits<float>::infinity()};
  auto f32 = f32_to_bytes(v, Dtype::F32);
  ASSERT_EQ(f32.size(), 20u);
  EXPECT_EQ(std::memcmp(f32.data(), v.data(), 20), 0);
  auto bf = f32_to_bytes(v, Dtype::BF16);
  auto f16 = f32_to_bytes(v, Dtype::F16);
  ASSERT_EQ(bf.size(), 10u);
  ASSERT_EQ(f16.size(), 10u);
  const uint16_t want_bf[] = {0x3f80, 0xc020, 0x3f80, 0x4780, 0x7f80};  // 1+2^-8 ties to even
  const uint16_t want_f16[] = {0x3c00, 0xc100, 0x3c04, 0x7c00, 0x7c00};  // 65520 rounds to inf
  EXPECT_EQ(std::memcmp(bf.data(), want_bf, 10), 0);
  EXPECT_EQ(std::memcmp(f16.data(), want_f16, 10), 0);
  EXPECT_TRUE(f32_to_bytes({}, Dtype::BF16).empty());
  EXPECT_THROW(f32_to_bytes(v, Dtype::I32), Error);
}

// --- sharded checkpoints -------------------------------------------------------------------

struct ShardFixture {
  TempDir dir;
  std::vector<uint8_t> a = f32_to_bytes(std::vector<float>{1, 2, 3, 4}, Dtype::F32);
  std::vector<uint8_t> b = f32_to_bytes(std::vector<float>{5, 6}, Dtype::BF16);
  std::vector<uint8_t> c = f32_to_bytes(std::vector<float>{7}, Dtype::F16);

  ShardFixture() {
    safetensors_write(dir / "model-00001-of-00002.safetensors",
                      {{"w.a", Dtype::F32, {2, 2}, span_of(a)}, {"w.b", Dtype::BF16, {2}, span_of(b)}});
    safetensors_write(dir / "model-00002-of-00002.safetensors", {{"w.c", Dtype::F16, {1}, span_of(c)}});
  }
  void index(const std::string& weight_map, const std::string& name = "model.safetensors.index.json") {
    test::write_bytes(dir / name, "{\"metadata\":{\"total_size\":26},\"weight_map\":" + weight_map + "}");
  }
  static std::string good_map() {
    return "{\"w.a\":\"model-00001-of-00002.safetensors\",\"w.b\":\"model-00001-of-00002.safetensors\","
           "\"w.c\":\"model-00002-of-00002.safetensors\"}";
  }
};

void expect_model_error(const std::string& path, const std::string& prefix, const std::string& problem) {
  try {
    SafetensorsModel::open(path);
    ADD_FAILURE() << "no error; expected: " << problem;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("[safetensors] " + prefix + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(SafetensorsModel, OpensShardsThroughDirectoryOrIndex) {
  ShardFixture fx;
  fx.index(ShardFixture::good_map());
  for (const std::string& p : {fx.dir.path.string(), fx.dir / "model.safetensors.index.json"}) {
    auto m = SafetensorsModel::open(p);
    EXPECT_EQ(m.files().size(), 2u);
    ASSERT_EQ(m.tensors().size(), 3u);
    EXPECT_EQ(m.to_f32("w.a"), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(m.to_f32("w.b"), (std::vector<float>{5, 6}));
    EXPECT_EQ(m.to_f32("w.c"), (std::vector<float>{7}));
    EXPECT_EQ(m.find("w.c")->file->path(), fx.dir / "model-00002-of-00002.safetensors");
    EXPECT_EQ(m.find("w.b")->info->dtype, Dtype::BF16);
    EXPECT_EQ(m.find("nope"), nullptr);
    EXPECT_EQ(m.total_file_bytes(), std::filesystem::file_size(fx.dir / "model-00001-of-00002.safetensors") +
                                        std::filesystem::file_size(fx.dir / "model-00002-of-00002.safetensors"));
    try {
      m.to_f32("nope");
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "[safetensors] " + p + ": no tensor named 'nope'");
    }
  }
}

TEST(SafetensorsModel, OpensASingleFileOrDirectory) {
  TempDir dir;
  auto a = f32_to_bytes(std::vector<float>{1, 2}, Dtype::F32);
  safetensors_write(dir / "model.safetensors", {{"x", Dtype::F32, {2}, span_of(a)}});
  for (const std::string& p : {dir.path.string(), dir / "model.safetensors"}) {
    auto m = SafetensorsModel::open(p);
    ASSERT_EQ(m.files().size(), 1u);
    EXPECT_EQ(m.to_f32("x"), (std::vector<float>{1, 2}));
  }
  TempDir empty;
  expect_model_error(empty.path.string(), empty.path.string(),
                     "no model.safetensors or model.safetensors.index.json in this directory");
  test::write_bytes(dir / "broken.safetensors", "1234");
  expect_model_error(dir / "broken.safetensors", dir / "broken.safetensors", "file is too short");
}

TEST(SafetensorsModel, IndexErrors) {
  ShardFixture fx;
  const std::string idx = fx.dir / "model.safetensors.index.json";
  const std::string s1 = "model-00001-of-00002.safetensors";
  test::write_bytes(idx, "{\"weight_map\":");
  expect_model_error(idx, idx, "index is not valid JSON");
  test::write_bytes(idx, "[]");
  expect_model_error(idx, idx, "index is not a JSON object");
  test::write_bytes(idx, "{\"metadata\":{}}");
  expect_model_error(idx, idx, "index has no \"weight_map\"");
  test::write_bytes(idx, "{\"metadata\":[],\"weight_map\":{}}");
  expect_model_error(idx, idx, "index \"metadata\" is not an object");
  fx.index("[]");
  expect_model_error(idx, idx, "index \"weight_map\" is not an object");
  fx.index("{}");
  expect_model_error(idx, idx, "index \"weight_map\" is empty");
  fx.index("{\"w.a\":1}");
  expect_model_error(idx, idx, "weight_map entry for 'w.a' is not a string");
  for (const char* bad : {"../x.safetensors", "sub/x.safetensors", "", "..", "/abs.safetensors"}) {
    fx.index(std::string("{\"w.a\":\"") + bad + "\"}");
    expect_model_error(idx, idx, "which is not a plain file name in the index's directory");
  }
  fx.index("{\"w.a\":\"missing.safetensors\"}");
  expect_model_error(idx, fx.dir / "missing.safetensors", "shard listed in " + idx + " does not exist");
  fx.index("{\"w.c\":\"" + s1 + "\"}");
  expect_model_error(idx, idx, "tensor 'w.c' is listed in shard '" + s1 + "', which does not contain it");
  fx.index("{\"w.a\":\"" + s1 + "\",\"w.a\":\"model-00002-of-00002.safetensors\"}");
  expect_model_error(idx, idx, "index has a duplicate key 'w.a' in 'weight_map'");
  test::write_bytes(fx.dir / "broken.safetensors", st_bytes("[]"));
  fx.index("{\"w.a\":\"broken.safetensors\"}");
  expect_model_error(idx, fx.dir / "broken.safetensors", "header is not a JSON object");
}

TEST(SafetensorsModel, TensorInTwoShardsIsAnError) {
  ShardFixture fx;
  auto d = f32_to_bytes(std::vector<float>{9}, Dtype::F32);
  safetensors_write(fx.dir / "model-00002-of-00002.safetensors",
                    {{"w.c", Dtype::F16, {1}, span_of(fx.c)}, {"w.a", Dtype::F32, {1}, span_of(d)}});
  fx.index(ShardFixture::good_map());
  const std::string idx = fx.dir / "model.safetensors.index.json";
  expect_model_error(fx.dir.path.string(), idx, "tensor 'w.a' appears in two shards: " +
                                                    (fx.dir / "model-00001-of-00002.safetensors") + " and " +
                                                    (fx.dir / "model-00002-of-00002.safetensors"));
}

}  // namespace
}  // namespace mc
