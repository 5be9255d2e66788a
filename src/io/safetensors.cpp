// safetensors reader and writer. Mirrors huggingface/safetensors (Rust crate, as shipped in PyPI
// safetensors 0.8.0): the same header checks (stricter where noted: duplicate keys, unknown fields and
// holes or overlaps are named errors) and, on write, the same byte layout: tensors sorted by dtype in
// the crate's descending alignment order then by name, header keys in the crate's order
// (__metadata__ first; dtype, shape, data_offsets), serde_json string escaping, space padding to 8.
// Not here: F8/F4/F6/C64 dtypes (rejected as unsupported), big-endian hosts.
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace mc {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

constexpr const char* kComponent = "safetensors";

[[noreturn]] void fail(const std::string& source, const std::string& problem) {
  throw Error(kComponent, source + ": " + problem);
}

/// A name as it appears in an error message: quoted, control bytes escaped (errors stay one line),
/// very long names cut short.
std::string quoted(const std::string& s) {
  constexpr size_t kMaxShown = 160;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxShown) out += "...";
  return out + "'";
}

/// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points past
/// U+10FFFF are invalid, as for Rust's str::from_utf8), or nullopt when `s` is valid.
std::optional<size_t> utf8_error(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // > U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xbf) return i;
    }
    i += len;
  }
  return std::nullopt;
}

/// Thrown from inside the nlohmann parser callback when an object repeats a key.
struct DuplicateKey {
  std::string key;
  std::string parent;  // the key under which the object sits ("" for the top level)
  int         depth;   // 1 for keys of the top-level object
};

/// Parses JSON like json_parse, but an object that repeats a key is an error: nlohmann would keep
/// one of the two silently, and a header or index with two entries of one name is ambiguous.
/// `what` names the document in messages ("header", "index").
Json parse_json_strict(std::string_view text, const std::string& source, const std::string& what,
                       bool is_header) {
  struct Frame {
    std::set<std::string> keys;
    std::string           name;  // key of this object in its parent
  };
  std::vector<Frame> stack;
  std::string last_key;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    switch (event) {
      case Json::parse_event_t::object_start:
        stack.push_back({{}, depth == 0 ? std::string() : last_key});
        break;
      case Json::parse_event_t::key: {
        std::string k = parsed.get<std::string>();
        if (!stack.back().keys.insert(k).second) throw DuplicateKey{k, stack.back().name, depth};
        last_key = std::move(k);
        break;
      }
      case Json::parse_event_t::object_end:
        stack.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  // nlohmann stops at a NUL byte as if the input ended there; JSON text can never contain one.
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    fail(source, str(what, " is not valid JSON (NUL byte at byte ", nul, ")"));
  try {
    return Json::parse(text.data(), text.data() + text.size(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers such as 1e999
    std::string msg = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] "; keep the readable part.
    auto pos = msg.find("] ");
    if (pos != std::string::npos) msg = msg.substr(pos + 2);
    fail(source, str(what, " is not valid JSON (", msg, ")"));
  } catch (const DuplicateKey& d) {
    if (is_header && d.depth == 1) {
      if (d.key == "__metadata__") fail(source, "header has two __metadata__ entries");
      fail(source, str("duplicate tensor name ", quoted(d.key), " in header"));
    }
    if (is_header && d.depth == 2) {
      if (d.parent == "__metadata__") fail(source, str("duplicate __metadata__ key ", quoted(d.key)));
      fail(source, str("tensor ", quoted(d.parent), " has a duplicate field ", quoted(d.key)));
    }
    if (!d.parent.empty())
      fail(source, str(what, " has a duplicate key ", quoted(d.key), " in ", quoted(d.parent)));
    fail(source, str(what, " has a duplicate key ", quoted(d.key)));
  }
}

/// A JSON number that is a non-negative integer (what Rust's usize accepts: not 1.0, not 1e0).
std::optional<uint64_t> as_u64(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

/// Real safetensors dtypes that mc does not read; named so the error says "unsupported", not "unknown".
bool is_other_safetensors_dtype(const std::string& s) {
  static const char* const names[] = {"C64",         "F8_E4M3",     "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ",
                                      "F8_E5M2FNUZ", "F4",          "F6_E2M3", "F6_E3M2"};
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// One header entry, validated on its own (dtype, shape, offsets, shape × dtype size == byte length).
SafetensorsTensorInfo parse_tensor_entry(const std::string& source, const std::string& name, const Json& v) {
  const std::string who = "tensor " + quoted(name);
  if (!v.is_object()) fail(source, str(who, ": header entry is not an object"));
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      fail(source, str(who, ": unexpected field ", quoted(k), " (expected dtype, shape, data_offsets)"));
  }
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!v.contains(k)) fail(source, str(who, ": missing field '", k, "'"));

  SafetensorsTensorInfo t;
  t.name = name;

  const Json& dt = v["dtype"];
  if (!dt.is_string()) fail(source, str(who, ": dtype is not a string"));
  const std::string dt_name = dt.get<std::string>();
  auto parsed = dtype_from_name(dt_name);
  if (!parsed) {
    if (is_other_safetensors_dtype(dt_name))
      fail(source, str(who, ": unsupported dtype ", quoted(dt_name),
                       " (mc reads F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL)"));
    fail(source, str(who, ": unknown dtype ", quoted(dt_name)));
  }
  t.dtype = *parsed;

  const Json& sh = v["shape"];
  if (!sh.is_array()) fail(source, str(who, ": shape is not an array"));
  uint64_t numel = 1;
  bool overflow = false;
  for (const Json& d : sh) {
    auto n = as_u64(d);
    if (!n) fail(source, str(who, ": shape ", sh.dump(), " is not an array of non-negative integers"));
    if (*n > static_cast<uint64_t>(INT64_MAX)) fail(source, str(who, ": shape dimension ", *n, " is too large"));
    t.shape.push_back(static_cast<int64_t>(*n));
    if (*n != 0 && numel > UINT64_MAX / *n) overflow = true;
    numel *= *n;
  }

  const Json& off = v["data_offsets"];
  std::optional<uint64_t> b, e;
  if (off.is_array() && off.size() == 2) {
    b = as_u64(off[0]);
    e = as_u64(off[1]);
  }
  if (!b || !e) fail(source, str(who, ": data_offsets ", off.dump(), " is not [begin, end] of non-negative integers"));
  t.begin = *b;
  t.end   = *e;
  if (t.begin > t.end) fail(source, str(who, ": data_offsets [", t.begin, ", ", t.end, "] has begin > end"));

  // As in the reference, a shape overflows when any prefix of its product does (a later 0 does not save it).
  const uint64_t elt = dtype_size(t.dtype);
  if (overflow || (numel > UINT64_MAX / elt))
    fail(source, str(who, ": shape ", shape_text(t.shape), " overflows the byte count"));
  if (numel * elt != t.nbytes())
    fail(source, str(who, ": shape ", shape_text(t.shape), " × ", dtype_name(t.dtype), " (", elt, " bytes) = ",
                     numel * elt, " bytes but data_offsets [", t.begin, ", ", t.end, "] span ", t.nbytes()));
  return t;
}

}  // namespace

uint64_t SafetensorsTensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(MappedFile::open(path, kComponent));
  SafetensorsFile f = from_memory(map->bytes(), path);
  f.map_ = std::move(map);
  return f;
}

SafetensorsFile SafetensorsFile::from_memory(std::span<const uint8_t> bytes, const std::string& source) {
  SafetensorsFile f;
  f.bytes_ = bytes;
  f.path_  = source;
  const uint64_t size = bytes.size();
  if (size < 8) fail(source, str("file is too short for a safetensors header (", size, " bytes, need at least 8)"));

  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n == 0) fail(source, "header length is 0");
  if (n > kSafetensorsMaxHeaderBytes)
    fail(source, str("header length ", n, " exceeds the limit of ", kSafetensorsMaxHeaderBytes, " bytes"));
  if (n > size - 8) fail(source, str("header length ", n, " runs past the end of the file (", size, " bytes)"));
  f.header_len_ = n;

  std::string_view header(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<size_t>(n));
  if (auto bad = utf8_error(header)) fail(source, str("header is not valid UTF-8 (byte ", *bad, " of the header)"));
  // JSON whitespace around the object is allowed, as serde_json allows it; writers pad with spaces.
  Json j = parse_json_strict(header, source, "header", /*is_header=*/true);
  if (!j.is_object()) fail(source, str("header is not a JSON object (it is ", j.type_name(), ")"));

  const uint64_t data_size = size - 8 - n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const Json& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;  // the reference reads null as "no metadata"
      if (!v.is_object()) fail(source, str("__metadata__ is not an object (it is ", v.type_name(), ")"));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(source, str("__metadata__ value for ", quoted(m.key()), " is not a string (it is ",
                           m.value().type_name(), ")"));
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    SafetensorsTensorInfo t = parse_tensor_entry(source, name, v);
    if (t.end > data_size)
      fail(source, str("tensor ", quoted(name), ": data_offsets [", t.begin, ", ", t.end,
                       "] run past the end of the data area (", data_size, " bytes)"));
    f.tensors_.push_back(std::move(t));
  }

  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const auto& a, const auto& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });

  // The tensors must tile the data area: each starts where the previous one ended.
  uint64_t pos = 0;
  const SafetensorsTensorInfo* prev = nullptr;  // the tensor that ends at `pos`
  for (const auto& t : f.tensors_) {
    if (t.begin > pos)
      fail(source, str("hole in the data area: bytes [", pos, ", ", t.begin, ") belong to no tensor (before tensor ",
                       quoted(t.name), ")"));
    if (t.begin < pos)
      fail(source, str("tensor ", quoted(t.name), " data_offsets [", t.begin, ", ", t.end, "] overlap tensor ",
                       quoted(prev->name), " [", prev->begin, ", ", prev->end, "]"));
    pos = t.end;
    prev = &t;
  }
  if (pos != data_size)
    fail(source, str("data area not fully covered: tensors end at byte ", pos, " but the data area has ", data_size,
                     " bytes"));

  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  return f;
}

const SafetensorsTensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> SafetensorsFile::raw(const SafetensorsTensorInfo& t) const {
  const uint64_t data_start = 8 + header_len_;
  MC_CHECK(t.begin <= t.end && t.end <= bytes_.size() - data_start, "tensor ", t.name, " is not from ", path_);
  return bytes_.subspan(static_cast<size_t>(data_start + t.begin), static_cast<size_t>(t.nbytes()));
}

std::vector<float> SafetensorsFile::to_f32(const SafetensorsTensorInfo& t) const {
  std::span<const uint8_t> b = raw(t);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (!out.empty()) convert_to_f32(t.dtype, b.data(), out.data(), out.size());
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Sharded checkpoints.

namespace {

namespace stdfs = std::filesystem;

constexpr const char* kSingleName = "model.safetensors";
constexpr const char* kIndexName  = "model.safetensors.index.json";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A shard must be a plain file name beside the index: no directories, no "..".
bool plain_file_name(const std::string& f) {
  return !f.empty() && f != "." && f != ".." && f.find('/') == std::string::npos &&
         f.find('\\') == std::string::npos && f.find('\0') == std::string::npos;
}

}  // namespace

SafetensorsModel SafetensorsModel::open(const std::string& path) {
  SafetensorsModel m;
  m.path_ = path;
  std::string file = path;
  if (is_directory(path)) {
    const std::string single = (stdfs::path(path) / kSingleName).string();
    const std::string index  = (stdfs::path(path) / kIndexName).string();
    // transformers looks for the single file first, then the index.
    if (path_exists(single)) {
      file = single;
    } else if (path_exists(index)) {
      file = index;
    } else {
      fail(path, str("no ", kSingleName, " or ", kIndexName, " in this directory"));
    }
  }

  if (!ends_with(file, ".json")) {
    m.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(file)));
    for (const auto& t : m.files_[0]->tensors()) m.tensors_[t.name] = Entry{m.files_[0].get(), &t};
    return m;
  }

  // model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}
  const std::string text = read_file(file, kComponent);
  if (auto bad = utf8_error(text)) fail(file, str("index is not valid UTF-8 (byte ", *bad, ")"));
  Json j = parse_json_strict(text, file, "index", /*is_header=*/false);
  if (!j.is_object()) fail(file, "index is not a JSON object");
  if (j.contains("metadata") && !j["metadata"].is_object() && !j["metadata"].is_null())
    fail(file, "index \"metadata\" is not an object");
  if (!j.contains("weight_map")) fail(file, "index has no \"weight_map\"");
  const Json& wm = j["weight_map"];
  if (!wm.is_object()) fail(file, "index \"weight_map\" is not an object");
  if (wm.empty()) fail(file, "index \"weight_map\" is empty");

  const stdfs::path dir = stdfs::path(file).parent_path();
  std::map<std::string, SafetensorsFile*> shards;  // shard file name -> opened file
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    if (!it.value().is_string())
      fail(file, str("weight_map entry for ", quoted(it.key()), " is not a string"));
    const std::string shard = it.value().get<std::string>();
    if (!plain_file_name(shard))
      fail(file, str("weight_map entry for ", quoted(it.key()), " names shard ", quoted(shard),
                     ", which is not a plain file name in the index's directory"));
    shards.emplace(shard, nullptr);
  }
  for (auto& [name, ptr] : shards) {
    const std::string shard_path = (dir / name).string();
    if (!path_exists(shard_path)) fail(shard_path, str("shard listed in ", file, " does not exist"));
    m.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(shard_path)));
    ptr = m.files_.back().get();
  }
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    const std::string shard = it.value().get<std::string>();
    if (shards.at(shard)->find(it.key()) == nullptr)
      fail(file, str("tensor ", quoted(it.key()), " is listed in shard ", quoted(shard),
                     ", which does not contain it"));
  }
  // Every tensor of every shard is part of the model (as when transformers loads the shards), but a
  // name may live in one shard only.
  for (const auto& f : m.files_) {
    for (const auto& t : f->tensors()) {
      auto [pos, inserted] = m.tensors_.emplace(t.name, Entry{f.get(), &t});
      if (!inserted)
        fail(file, str("tensor ", quoted(t.name), " appears in two shards: ", pos->second.file->path(), " and ",
                       f->path()));
    }
  }
  return m;
}

const SafetensorsModel::Entry* SafetensorsModel::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<float> SafetensorsModel::to_f32(const std::string& name) const {
  const Entry* e = find(name);
  if (e == nullptr) fail(path_, str("no tensor named ", quoted(name)));
  return e->file->to_f32(*e->info);
}

uint64_t SafetensorsModel::total_file_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f->file_bytes();
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Writing.

namespace {

/// The reference crate's Dtype enum order (BOOL < U8 < I8 < I16 < U16 < F16 < BF16 < I32 < U32 < F32 <
/// F64 < I64 < U64); its writer sorts tensors by this, descending, then by name.
int reference_dtype_rank(Dtype dt) {
  switch (dt) {
    case Dtype::BOOL: return 0;
    case Dtype::U8: return 1;
    case Dtype::I8: return 2;
    case Dtype::I16: return 3;
    case Dtype::U16: return 4;
    case Dtype::F16: return 5;
    case Dtype::BF16: return 6;
    case Dtype::I32: return 7;
    case Dtype::U32: return 8;
    case Dtype::F32: return 9;
    case Dtype::F64: return 10;
    case Dtype::I64: return 11;
    case Dtype::U64: return 12;
  }
  MC_CHECK(false, "unknown dtype ", static_cast<int>(dt));
  return 0;
}

/// A JSON string literal exactly as serde_json writes it: '"' and '\\' escaped, \b \f \n \r \t,
/// other control bytes as \u00xx (lower-case hex), everything else (DEL, '/', non-ASCII) verbatim.
void append_json_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace

void safetensors_write(const std::string& path, const std::vector<SafetensorsWriteEntry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& t : tensors) {
    const std::string who = "tensor " + quoted(t.name);
    if (utf8_error(t.name)) fail(path, str(who, ": name is not valid UTF-8"));
    if (t.name == "__metadata__") fail(path, "a tensor cannot be named __metadata__");
    if (!names.insert(t.name).second) fail(path, str("duplicate tensor name ", quoted(t.name)));
    uint64_t numel = 1;
    bool overflow = false;
    for (int64_t d : t.shape) {
      if (d < 0) fail(path, str(who, ": negative dimension in shape ", shape_text(t.shape)));
      const auto ud = static_cast<uint64_t>(d);
      if (ud != 0 && numel > UINT64_MAX / ud) overflow = true;
      numel *= ud;
    }
    const uint64_t elt = dtype_size(t.dtype);
    if (overflow || numel > UINT64_MAX / elt) fail(path, str(who, ": shape ", shape_text(t.shape), " is too large"));
    if (numel * elt != t.data.size())
      fail(path, str(who, ": shape ", shape_text(t.shape), " × ", dtype_name(t.dtype), " needs ", numel * elt,
                     " bytes but ", t.data.size(), " were given"));
  }
  for (const auto& [k, v] : metadata)
    if (utf8_error(k) || utf8_error(v)) fail(path, str("__metadata__ entry ", quoted(k), " is not valid UTF-8"));

  std::vector<const SafetensorsWriteEntry*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    int ra = reference_dtype_rank(a->dtype), rb = reference_dtype_rank(b->dtype);
    if (ra != rb) return ra > rb;
    return a->name < b->name;  // byte order, as Rust's String::cmp
  });

  // Header: {"__metadata__":{...},"<name>":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...}
  // Metadata keys go in sorted order; the reference writes them in HashMap order, which varies from
  // run to run, so files agree byte for byte only with at most one metadata key.
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first_kv = true;
    for (const auto& [k, v] : metadata) {
      if (!first_kv) h += ',';
      first_kv = false;
      append_json_string(h, k);
      h += ':';
      append_json_string(h, v);
    }
    h += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto* t : order) {
    if (!first) h += ',';
    first = false;
    append_json_string(h, t->name);
    h += ":{\"dtype\":";
    append_json_string(h, std::string(dtype_name(t->dtype)));
    h += ",\"shape\":[";
    for (size_t i = 0; i < t->shape.size(); ++i) {
      if (i) h += ',';
      h += std::to_string(t->shape[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t->data.size()) + "]}";
    offset += t->data.size();
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');  // the data area starts at a multiple of 8
  if (h.size() > kSafetensorsMaxHeaderBytes)
    fail(path, str("header would be ", h.size(), " bytes, over the limit of ", kSafetensorsMaxHeaderBytes));

  AtomicFile out(path, kComponent);
  const uint64_t n = h.size();
  uint8_t len[8];
  std::memcpy(len, &n, 8);
  out.write(len, 8);
  out.write(h);
  for (const auto* t : order)
    if (!t->data.empty()) out.write(t->data.data(), t->data.size());
  out.commit();
}

std::vector<uint8_t> f32_to_bytes(std::span<const float> values, Dtype dtype) {
  std::vector<uint8_t> out(values.size() * dtype_size(dtype));
  switch (dtype) {
    case Dtype::F32:
      if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
      break;
    case Dtype::F16:
    case Dtype::BF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t h = dtype == Dtype::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    default:
      throw Error(kComponent, str("cannot convert f32 values to ", dtype_name(dtype), " (only F32, F16, BF16)"));
  }
  return out;
}

}  // namespace mc
