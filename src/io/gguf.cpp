// GGUF v2/v3 reader: header, metadata key/values (nested arrays included), tensor infos and the data
// area, each validated against the bytes that remain before anything is allocated. Mirrors the layout of
// ggml/docs/gguf.md and the checks of ggml's gguf.cpp (gguf_init_from_file_impl), stricter where that is
// cheap (overlapping tensors, UTF-8 keys). Dequantization lives in gguf_dequant.cpp.
#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"

namespace mc {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kGgufVersionMin   = 2;
constexpr uint32_t kGgufVersionMax   = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims          = 4;  // GGML_MAX_DIMS
constexpr int      kMaxArrayDepth    = 8;  // arrays of arrays of ...: the spec sets no bound, we do
// Each parsed value costs about 100 bytes of memory, so a hostile file full of one-byte array elements
// would blow up 100-fold. Real files hold well under a million values (a 256k-token vocabulary with
// scores, types and merges); we refuse more than 16M.
constexpr uint64_t kMaxMetadataValues = uint64_t(1) << 24;
// Smallest possible encodings, used to bound counts before anything is allocated.
constexpr uint64_t kMinKvBytes     = 8 + 4 + 1;          // key length, value type, one-byte value
constexpr uint64_t kMinTensorBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, one ne, type, offset

bool value_type_known(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

uint64_t value_min_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8;      // length
    case GgufValueType::ARRAY: return 4 + 8;  // element type, count
  }
  return 1;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; k++)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    i += len;
  }
  return true;
}

// A name as it appears in an error message: printable ASCII kept, other bytes escaped, long names cut.
std::string quoted(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  size_t shown = std::min<size_t>(s.size(), 80);
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (shown < s.size()) out += str("...' (", s.size(), " bytes)");
  else out += "'";
  return out;
}

std::string type_display(uint32_t t) { return ggml_type_name(static_cast<GgmlType>(t)); }

// Reads the file front to back. Every read checks the remaining bytes first; `ctx_` names the part
// being read so that a truncation error says where it happened.
class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const std::string& path) : b_(bytes), path_(path) {}

  [[noreturn]] void fail(const std::string& problem) const { throw Error("gguf", path_ + ": " + problem); }

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return b_.size() - pos_; }
  void set_context(std::string ctx) { ctx_ = std::move(ctx); }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      fail(str("file is truncated in ", ctx_, ": ", what, " needs ", n, " bytes at offset ", pos_, " but only ",
               remaining(), " remain"));
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

  GgufValue read_value(GgufValueType type, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
      case GgufValueType::UINT8:   v.u = read<uint8_t>("a u8 value"); break;
      case GgufValueType::INT8:    v.i = read<int8_t>("an i8 value"); break;
      case GgufValueType::UINT16:  v.u = read<uint16_t>("a u16 value"); break;
      case GgufValueType::INT16:   v.i = read<int16_t>("an i16 value"); break;
      case GgufValueType::UINT32:  v.u = read<uint32_t>("a u32 value"); break;
      case GgufValueType::INT32:   v.i = read<int32_t>("an i32 value"); break;
      case GgufValueType::UINT64:  v.u = read<uint64_t>("a u64 value"); break;
      case GgufValueType::INT64:   v.i = read<int64_t>("an i64 value"); break;
      case GgufValueType::FLOAT32: v.f = read<float>("an f32 value"); break;
      case GgufValueType::FLOAT64: v.f = read<double>("an f64 value"); break;
      case GgufValueType::BOOL:    v.u = read<uint8_t>("a bool value") != 0 ? 1 : 0; break;
      case GgufValueType::STRING:  v.s = read_string("a string value"); break;  // any bytes (token pieces)
      case GgufValueType::ARRAY: {
        if (depth >= kMaxArrayDepth) fail(str(ctx_, ": arrays nested deeper than ", kMaxArrayDepth, " levels"));
        const uint32_t et = read<uint32_t>("an array element type");
        if (!value_type_known(et)) fail(str(ctx_, ": array of unknown value type ", et));
        v.elem_type = static_cast<GgufValueType>(et);
        const uint64_t count = read<uint64_t>("an array length");
        const uint64_t min_bytes = value_min_bytes(v.elem_type);
        if (count > remaining() / min_bytes)
          fail(str(ctx_, ": array length ", count, " cannot fit in the ", remaining(), " bytes that remain"));
        n_values_ += count;
        if (n_values_ > kMaxMetadataValues)
          fail(str(ctx_, ": metadata holds more than ", kMaxMetadataValues, " values"));
        v.arr.reserve(static_cast<size_t>(count));
        for (uint64_t k = 0; k < count; k++) v.arr.push_back(read_value(v.elem_type, depth + 1));
        break;
      }
    }
    return v;
  }

 private:
  std::span<const uint8_t> b_;
  const std::string&       path_;
  uint64_t                 pos_      = 0;
  uint64_t                 n_values_ = 0;
  std::string              ctx_      = "the header";
};

}  // namespace

// ---- GgufValue / GgufTensorInfo ----

std::optional<int64_t> GgufValue::as_int() const {
  switch (type) {
    case GgufValueType::UINT8: case GgufValueType::UINT16: case GgufValueType::UINT32:
    case GgufValueType::UINT64: case GgufValueType::BOOL:
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      return static_cast<int64_t>(u);
    case GgufValueType::INT8: case GgufValueType::INT16: case GgufValueType::INT32: case GgufValueType::INT64:
      return i;
    default:
      return std::nullopt;
  }
}

std::optional<double> GgufValue::as_float() const {
  switch (type) {
    case GgufValueType::UINT8: case GgufValueType::UINT16: case GgufValueType::UINT32:
    case GgufValueType::UINT64: case GgufValueType::BOOL:
      return static_cast<double>(u);
    case GgufValueType::INT8: case GgufValueType::INT16: case GgufValueType::INT32: case GgufValueType::INT64:
      return static_cast<double>(i);
    case GgufValueType::FLOAT32: case GgufValueType::FLOAT64:
      return f;
    default:
      return std::nullopt;
  }
}

uint64_t GgufTensorInfo::numel() const {
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;  // validated at parse time: fits in int64
  return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  std::vector<int64_t> s(ne.rbegin(), ne.rend());
  return s;
}

// ---- GgufFile ----

GgufFile GgufFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(MappedFile::open(path, "gguf"));
  GgufFile f = from_memory(map->bytes(), path);
  f.map_ = std::move(map);
  return f;
}

GgufFile GgufFile::from_memory(std::span<const uint8_t> bytes, const std::string& source) {
  GgufFile f;
  f.bytes_ = bytes;
  f.path_ = source;
  Parser p(bytes, f.path_);

  // Header: magic, version, counts.
  if (bytes.size() < 4) p.fail(str("file is truncated: ", bytes.size(), " bytes is too short for a GGUF header"));
  if (std::memcmp(bytes.data(), "GGUF", 4) != 0)
    p.fail(str("not a GGUF file (magic ",
               quoted(std::string_view(reinterpret_cast<const char*>(bytes.data()), 4)), ", expected 'GGUF')"));
  p.read<uint32_t>("the magic");
  const uint32_t version = p.read<uint32_t>("the version");
  if ((version & 0xFFFFu) == 0 && (version >> 16) != 0) {
    const uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= kGgufVersionMax)
      p.fail(str("big-endian GGUF (version ", swapped, ") is not supported; mc reads little-endian files only"));
  }
  if (version == 1) p.fail("GGUF version 1 is not supported (mc reads versions 2 and 3; re-convert the model)");
  if (version < kGgufVersionMin || version > kGgufVersionMax)
    p.fail(str("unsupported GGUF version ", version, " (mc reads versions 2 and 3)"));
  f.version_ = version;
  const uint64_t n_tensors = p.read<uint64_t>("the tensor count");
  const uint64_t n_kv = p.read<uint64_t>("the metadata count");
  if (n_kv > p.remaining() / kMinKvBytes)
    p.fail(str("metadata count ", n_kv, " cannot fit in the ", p.remaining(), " bytes after the header"));
  if (n_tensors > p.remaining() / kMinTensorBytes)
    p.fail(str("tensor count ", n_tensors, " cannot fit in the ", p.remaining(), " bytes after the header"));
  if (n_kv * kMinKvBytes + n_tensors * kMinTensorBytes > p.remaining())
    p.fail(str("metadata count ", n_kv, " and tensor count ", n_tensors, " cannot fit in the ", p.remaining(),
               " bytes after the header"));

  // Metadata.
  f.kv_.reserve(static_cast<size_t>(n_kv));
  std::unordered_set<std::string> keys;
  for (uint64_t k = 0; k < n_kv; k++) {
    p.set_context(str("metadata entry ", k));
    std::string key = p.read_string("a key");
    if (key.empty()) p.fail(str("metadata entry ", k, " has an empty key"));
    if (!valid_utf8(key)) p.fail(str("metadata entry ", k, " has a key that is not valid UTF-8: ", quoted(key)));
    if (!keys.insert(key).second) p.fail(str("duplicate metadata key ", quoted(key)));
    p.set_context(str("metadata key ", quoted(key)));
    const uint32_t type = p.read<uint32_t>("a value type");
    if (!value_type_known(type)) p.fail(str("metadata key ", quoted(key), " has unknown value type ", type));
    GgufValue v = p.read_value(static_cast<GgufValueType>(type), 0);
    f.kv_.emplace_back(std::move(key), std::move(v));
  }

  // Alignment (general.alignment, u32, a nonzero power of two).
  if (const GgufValue* a = f.find("general.alignment")) {
    if (a->type != GgufValueType::UINT32) p.fail("general.alignment must be a u32");
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      p.fail(str("general.alignment = ", a->u, " is not a nonzero power of two"));
    f.alignment_ = a->u;
  } else {
    f.alignment_ = kDefaultAlignment;
  }

  // Tensor infos.
  if (n_tensors > p.remaining() / kMinTensorBytes)
    p.fail(str("tensor count ", n_tensors, " cannot fit in the ", p.remaining(), " bytes after the metadata"));
  f.tensors_.reserve(static_cast<size_t>(n_tensors));
  std::unordered_set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; k++) {
    p.set_context(str("tensor info ", k));
    GgufTensorInfo t;
    t.name = p.read_string("a tensor name");
    if (t.name.empty()) p.fail(str("tensor info ", k, " has an empty name"));
    if (!valid_utf8(t.name)) p.fail(str("tensor info ", k, " has a name that is not valid UTF-8: ", quoted(t.name)));
    if (!names.insert(t.name).second) p.fail(str("duplicate tensor name ", quoted(t.name)));
    const std::string tn = quoted(t.name);
    p.set_context(str("tensor ", tn));
    const uint32_t n_dims = p.read<uint32_t>("n_dims");
    if (n_dims < 1 || n_dims > kMaxDims)
      p.fail(str("tensor ", tn, " has n_dims = ", n_dims, " (must be 1 to ", kMaxDims, ")"));
    t.ne.resize(n_dims);
    uint64_t numel = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < n_dims; d++) {
      t.ne[d] = p.read<uint64_t>("a dimension");
      if (t.ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      if (__builtin_mul_overflow(numel, t.ne[d], &numel)) overflow = true;
    }
    if (overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      p.fail(str("tensor ", tn, " has dimensions whose element count overflows"));
    const uint32_t type = p.read<uint32_t>("a tensor type");
    uint64_t block_elems = 0, block_bytes = 0;
    if (!ggml_type_block(static_cast<GgmlType>(type), &block_elems, &block_bytes))
      p.fail(str("tensor ", tn, " has unknown ggml type ", type));
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % block_elems != 0)
      p.fail(str("tensor ", tn, " has ne[0] = ", t.ne[0], ", not a multiple of the ", type_display(type),
                 " block size ", block_elems));
    if (__builtin_mul_overflow(numel / block_elems, block_bytes, &t.nbytes))
      p.fail(str("tensor ", tn, " is too large: its byte size overflows"));
    t.offset = p.read<uint64_t>("a data offset");
    f.tensors_.push_back(std::move(t));
  }

  // Data area: starts at the next multiple of the alignment; every tensor lies inside the file.
  const uint64_t end_of_infos = p.pos();
  const uint64_t pad = (f.alignment_ - end_of_infos % f.alignment_) % f.alignment_;
  f.data_offset_ = end_of_infos + pad;
  const uint64_t size = bytes.size();
  if (!f.tensors_.empty() && f.data_offset_ > size)
    p.fail(str("file is truncated: the tensor data area would start at offset ", f.data_offset_, " but the file has ",
               size, " bytes"));
  const uint64_t data_bytes = f.data_offset_ <= size ? size - f.data_offset_ : 0;
  for (const GgufTensorInfo& t : f.tensors_) {
    if (t.offset % f.alignment_ != 0)
      p.fail(str("tensor ", quoted(t.name), " has data offset ", t.offset, ", not a multiple of the alignment ",
                 f.alignment_));
    if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset)
      p.fail(str("tensor ", quoted(t.name), " data (offset ", t.offset, ", ", t.nbytes,
                 " bytes) extends past the end of the file (the data area holds ", data_bytes, " bytes)"));
  }
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(f.tensors_.size());
  for (const GgufTensorInfo& t : f.tensors_)
    if (t.nbytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); k++) {
    const GgufTensorInfo* a = by_offset[k - 1];
    const GgufTensorInfo* b = by_offset[k];
    if (a->offset + a->nbytes > b->offset)
      p.fail(str("tensors ", quoted(a->name), " (offset ", a->offset, ", ", a->nbytes, " bytes) and ", quoted(b->name),
                 " (offset ", b->offset, ") overlap"));
  }
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr || v->type != GgufValueType::STRING) return std::nullopt;
  return v->s;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const uint8_t> GgufFile::raw(const GgufTensorInfo& t) const {
  const uint64_t size = bytes_.size();
  if (data_offset_ > size || t.offset > size - data_offset_ || t.nbytes > size - data_offset_ - t.offset)
    throw Error("gguf", str(path_, ": tensor ", quoted(t.name), " lies outside the file"));
  return bytes_.subspan(static_cast<size_t>(data_offset_ + t.offset), static_cast<size_t>(t.nbytes));
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& t) const {
  if (!ggml_type_supported(t.type))
    throw Error("gguf", str(path_, ": tensor ", quoted(t.name), " has quant type ", ggml_type_name(t.type),
                            " which mc cannot dequantize (mc reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                            "Q4_K, Q5_K, Q6_K)"));
  uint64_t block_elems = 0, block_bytes = 0;
  ggml_type_block(t.type, &block_elems, &block_bytes);
  const uint64_t n = t.numel();
  if (n % block_elems != 0 || (n / block_elems) * block_bytes != t.nbytes)
    throw Error("gguf", str(path_, ": tensor ", quoted(t.name), " has a size that does not match its shape"));
  std::span<const uint8_t> src = raw(t);
  std::vector<float> out(static_cast<size_t>(n));
  ggml_dequantize(t.type, src.data(), out.data(), n);
  return out;
}

}  // namespace mc
