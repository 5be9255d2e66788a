// safetensors against PyPI safetensors 0.8.0 / torch 2.15 / transformers 5.23 (fixtures from
// tools/gen_safetensors_golden.py in tests/data/safetensors): (a) mc reads a file PyPI wrote and sees
// exactly the dtypes, shapes, bits and metadata Python sees; (b) mc writes the same tensors byte for
// byte as PyPI did; (c) a two-shard checkpoint saved by transformers loads through SafetensorsModel;
// (d) f32 -> bf16 / f16 conversion equals torch's .to(torch.bfloat16) / .to(torch.float16).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/json.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace mc {
namespace {

uint64_t hex(const Json& s) { return std::stoull(s.get<std::string>(), nullptr, 16); }

/// The little-endian bytes of the hex element bits, `width` bytes per element.
std::vector<uint8_t> bytes_from_bits(const Json& bits, size_t width) {
  std::vector<uint8_t> out;
  for (const Json& b : bits) {
    uint64_t v = hex(b);
    for (size_t i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  return out;
}

/// f32 values must have exactly the expected bits, except that any NaN matches any NaN.
void expect_f32_bits(const std::vector<float>& got, const Json& want_bits, const std::string& what) {
  ASSERT_EQ(got.size(), want_bits.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    float want = f32_from_bits(static_cast<uint32_t>(hex(want_bits[i])));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " [" << i << "]";
    } else {
      EXPECT_EQ(f32_bits(got[i]), f32_bits(want)) << what << " [" << i << "] = " << got[i] << ", want " << want;
    }
  }
}

std::vector<int64_t> shape_of(const Json& j) { return j.get<std::vector<int64_t>>(); }

using StringMap = std::map<std::string, std::string>;

TEST(SafetensorsGolden, ReadsWhatPypiWrote) {
  const Json want = json_load(test::data_path("safetensors/pypi_written.json"));
  auto f = SafetensorsFile::open(test::data_path("safetensors/pypi_written.safetensors"));
  EXPECT_EQ(f.metadata(), want["metadata"].get<StringMap>());
  EXPECT_EQ(f.header_bytes(), want["header_bytes"].get<uint64_t>());
  ASSERT_EQ(f.tensors().size(), want["tensors"].size());
  for (const Json& w : want["tensors"]) {
    const std::string name = w["name"];
    const auto* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(dtype_name(t->dtype), w["dtype"].get<std::string>()) << name;
    EXPECT_EQ(t->shape, shape_of(w["shape"])) << name;
    EXPECT_EQ(t->begin, w["data_offsets"][0].get<uint64_t>()) << name;
    EXPECT_EQ(t->end, w["data_offsets"][1].get<uint64_t>()) << name;
    EXPECT_EQ(t->numel(), w["bits"].size()) << name;
    auto raw = f.raw(*t);
    auto expect_raw = bytes_from_bits(w["bits"], dtype_size(t->dtype));
    EXPECT_TRUE(std::equal(raw.begin(), raw.end(), expect_raw.begin(), expect_raw.end())) << name;
    expect_f32_bits(f.to_f32(*t), w["f32_bits"], name);
  }
}

TEST(SafetensorsGolden, WritesWhatPypiWrote) {
  const Json want = json_load(test::data_path("safetensors/pypi_written.json"));
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<SafetensorsWriteEntry> entries;
  for (const Json& w : want["tensors"]) {
    Dtype dt = *dtype_from_name(w["dtype"].get<std::string>());
    buffers.push_back(bytes_from_bits(w["bits"], dtype_size(dt)));
    entries.push_back({w["name"].get<std::string>(), dt, shape_of(w["shape"]), {}});
  }
  for (size_t i = 0; i < entries.size(); ++i) entries[i].data = {buffers[i].data(), buffers[i].size()};
  // Writer input order must not matter: feed the tensors reversed.
  std::reverse(entries.begin(), entries.end());
  test::TempDir dir;
  safetensors_write(dir / "mc.safetensors", entries, want["metadata"].get<StringMap>());
  const std::string ours = test::read_bytes(dir / "mc.safetensors");
  const std::string theirs = test::read_bytes(test::data_path("safetensors/pypi_written.safetensors"));
  ASSERT_EQ(ours.size(), theirs.size());
  EXPECT_TRUE(ours == theirs) << "first difference at byte "
                              << std::mismatch(ours.begin(), ours.end(), theirs.begin()).first - ours.begin();
}

TEST(SafetensorsGolden, LoadsTransformersShards) {
  const Json want = json_load(test::data_path("safetensors/sharded_expected.json"));
  const std::string dir = test::data_path("safetensors/sharded");
  for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
    auto m = SafetensorsModel::open(path);
    EXPECT_EQ(m.files().size(), 2u);
    ASSERT_EQ(m.tensors().size(), want["tensors"].size());
    uint64_t bytes = 0;
    for (const char* s : {"/model-00001-of-00002.safetensors", "/model-00002-of-00002.safetensors"})
      bytes += std::filesystem::file_size(dir + s);
    EXPECT_EQ(m.total_file_bytes(), bytes);
    for (const Json& w : want["tensors"]) {
      const std::string name = w["name"];
      const auto* e = m.find(name);
      ASSERT_NE(e, nullptr) << name;
      EXPECT_EQ(std::filesystem::path(e->file->path()).filename().string(), w["file"].get<std::string>()) << name;
      EXPECT_EQ(dtype_name(e->info->dtype), w["dtype"].get<std::string>()) << name;
      EXPECT_EQ(e->info->shape, shape_of(w["shape"])) << name;
      expect_f32_bits(m.to_f32(name), w["f32_bits"], name);
    }
  }
}

TEST(SafetensorsGolden, RoundingMatchesTorch) {
  const Json want = json_load(test::data_path("safetensors/rounding.json"));
  std::vector<float> x;
  for (const Json& b : want["f32_bits"]) x.push_back(f32_from_bits(static_cast<uint32_t>(hex(b))));
  ASSERT_GT(x.size(), 700u);
  for (auto [dt, key] : {std::pair{Dtype::BF16, "bf16_bits"}, std::pair{Dtype::F16, "f16_bits"}}) {
    const Json& expect = want[key];
    ASSERT_EQ(expect.size(), x.size());
    auto bytes = f32_to_bytes(x, dt);
    for (size_t i = 0; i < x.size(); ++i) {
      uint16_t got;
      std::memcpy(&got, bytes.data() + 2 * i, 2);
      auto w = static_cast<uint16_t>(hex(expect[i]));
      if (std::isnan(x[i])) {  // torch canonicalises NaN payloads; only NaN-ness must agree
        float back = dt == Dtype::BF16 ? bf16_to_f32(got) : f16_to_f32(got);
        EXPECT_TRUE(std::isnan(back)) << key << " [" << i << "]";
      } else {
        EXPECT_EQ(got, w) << key << " [" << i << "] input bits " << want["f32_bits"][i];
      }
    }
  }
}

}  // namespace
}  // namespace mc
