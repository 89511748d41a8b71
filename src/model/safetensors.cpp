// safetensors header parsing/validation, mmap reading, sharded index and the writer (see safetensors.h).
// Torch-free on purpose so the mutation test can hammer the parser cheaply.
#include "model/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace fs = std::filesystem;

namespace ecpo::model {

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;  // the Rust reader's limit is 100 MB too

const std::map<std::string, std::size_t>& dtype_sizes() {
  static const std::map<std::string, std::size_t> m = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"U64", 8}, {"I32", 4},
      {"U32", 4}, {"I16", 2}, {"U16", 2}, {"I8", 1},   {"U8", 1},  {"BOOL", 1}};
  return m;
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void write_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

[[noreturn]] void bad(const std::string& origin, const std::string& what) {
  throw Error("invalid safetensors file: " + what, origin,
              "the file is truncated or not safetensors; re-download or re-export it");
}

}  // namespace

std::size_t safetensors_dtype_size(const std::string& dtype) {
  auto it = dtype_sizes().find(dtype);
  if (it == dtype_sizes().end())
    throw Error("unknown safetensors dtype '" + dtype + "'", "", "supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL");
  return it->second;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : info->shape) n *= d;
  return n;
}

SafetensorsHeader safetensors_parse(const std::uint8_t* data, std::size_t size, const std::string& origin) {
  if (size < 8) bad(origin, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  SafetensorsHeader h;
  h.header_len = read_u64_le(data);
  if (h.header_len < 2) bad(origin, "header length " + std::to_string(h.header_len) + " is too small");
  if (h.header_len > kMaxHeaderBytes) bad(origin, "header length " + std::to_string(h.header_len) + " exceeds 100 MB");
  if (h.header_len > size - 8)
    bad(origin, "header length " + std::to_string(h.header_len) + " runs past the end of the file (" +
                    std::to_string(size) + " bytes)");
  const std::uint64_t data_size = size - 8 - h.header_len;

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data + 8, data + 8 + h.header_len);
  } catch (const nlohmann::json::exception& e) {
    bad(origin, std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(origin, "header is not a JSON object");

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) bad(origin, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) bad(origin, "__metadata__['" + m.key() + "'] is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) bad(origin, "entry '" + key + "' is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) bad(origin, "tensor '" + key + "' has no string dtype");
    if (sh == v.end() || !sh->is_array()) bad(origin, "tensor '" + key + "' has no shape array");
    if (off == v.end() || !off->is_array() || off->size() != 2) bad(origin, "tensor '" + key + "' needs data_offsets [begin, end]");
    TensorInfo t;
    t.name = key;
    t.dtype = dt->get<std::string>();
    auto ds = dtype_sizes().find(t.dtype);
    if (ds == dtype_sizes().end()) bad(origin, "tensor '" + key + "' has unknown dtype '" + t.dtype + "'");
    // numel × dtype size with overflow checks (a shape of huge dims must not wrap around).
    std::uint64_t bytes = ds->second;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) bad(origin, "tensor '" + key + "' has a non-integer or negative dimension");
      std::uint64_t dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        bad(origin, "tensor '" + key + "' has an absurd dimension");
      if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim)
        bad(origin, "tensor '" + key + "' shape overflows");
      bytes *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    for (const auto& o : *off)
      if (!o.is_number_unsigned()) bad(origin, "tensor '" + key + "' has non-integer data_offsets");
    t.begin = (*off)[0].get<std::uint64_t>();
    t.end = (*off)[1].get<std::uint64_t>();
    if (t.begin > t.end) bad(origin, "tensor '" + key + "' has data_offsets begin > end");
    if (t.end > data_size)
      bad(origin, "tensor '" + key + "' ends at " + std::to_string(t.end) + " past the data size " + std::to_string(data_size));
    if (t.end - t.begin != bytes)
      bad(origin, "tensor '" + key + "' spans " + std::to_string(t.end - t.begin) + " bytes but shape × dtype needs " +
                      std::to_string(bytes));
    h.tensors.push_back(std::move(t));
  }

  // Non-overlapping and contiguous: sorted by offset, each tensor starts where the previous one ended, and the
  // last one ends at the end of the file (the Rust reader's rule).
  std::vector<const TensorInfo*> order;
  for (const auto& t : h.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t pos = 0;
  for (const TensorInfo* t : order) {
    if (t->begin != pos)
      bad(origin, "tensor '" + t->name + "' starts at " + std::to_string(t->begin) + " but the previous tensor ended at " +
                      std::to_string(pos) + " (overlap or gap)");
    pos = t->end;
  }
  if (pos != data_size)
    bad(origin, "tensors cover " + std::to_string(pos) + " data bytes but the file holds " + std::to_string(data_size));
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// mmapped file

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(std::string("cannot open safetensors file: ") + std::strerror(errno), path.string());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(std::string("cannot stat: ") + std::strerror(e), path.string());
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      map_ = nullptr;
      throw Error(std::string("cannot mmap: ") + std::strerror(e), path.string());
    }
  }
  ::close(fd);
  try {
    header_ = safetensors_parse(static_cast<const std::uint8_t*>(map_), size_, path.string());
  } catch (...) {
    if (map_) ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

TensorView SafetensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error("tensor '" + name + "' not found", path_.string());
  const TensorInfo& t = header_.tensors[it->second];
  TensorView v;
  v.info = &t;
  v.data = static_cast<const std::uint8_t*>(map_) + header_.data_start() + t.begin;
  v.nbytes = t.end - t.begin;
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// model directory (single file or shards)

WeightStore WeightStore::open(const fs::path& dir_or_file) {
  WeightStore ws;
  ws.origin_ = dir_or_file;
  auto add_file = [&](const fs::path& p) {
    auto f = std::make_shared<SafetensorsFile>(p);
    std::size_t idx = ws.files_.size();
    for (const auto& t : f->header().tensors) {
      if (ws.where_.count(t.name)) throw Error("tensor '" + t.name + "' appears in two shards", p.string());
      ws.where_[t.name] = idx;
    }
    ws.files_.push_back(std::move(f));
  };
  if (fs::is_regular_file(dir_or_file)) {
    add_file(dir_or_file);
    return ws;
  }
  const fs::path single = dir_or_file / "model.safetensors";
  const fs::path index = dir_or_file / "model.safetensors.index.json";
  if (fs::exists(single)) {
    add_file(single);
  } else if (fs::exists(index)) {
    json j = read_json_file(index);
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error("no weight_map object", index.string(), "a sharded checkpoint index maps tensor names to shard files");
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw Error("weight_map['" + it.key() + "'] is not a file name", index.string());
      shards.insert(it.value().get<std::string>());
    }
    for (const auto& s : shards) {
      if (s.find("..") != std::string::npos || s.find('/') != std::string::npos)
        throw Error("shard name '" + s + "' leaves the model directory", index.string());
      add_file(dir_or_file / s);
    }
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      auto w = ws.where_.find(it.key());
      if (w == ws.where_.end() || ws.files_[w->second]->path().filename() != it.value().get<std::string>())
        throw Error("tensor '" + it.key() + "' is not in shard " + it.value().get<std::string>(), index.string());
    }
  } else {
    throw Error("no model.safetensors or model.safetensors.index.json", dir_or_file.string(),
                "point --model at a Hugging Face model directory");
  }
  return ws;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : where_) out.push_back(k);
  return out;
}

TensorView WeightStore::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw Error("tensor '" + name + "' not found in the checkpoint", origin_.string(),
                "the checkpoint does not match the config.json architecture");
  return files_[it->second]->get(name);
}

// ---------------------------------------------------------------------------------------------------------
// writer

std::string safetensors_serialize(std::vector<TensorData> tensors, const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorData& a, const TensorData& b) { return a.name < b.name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::uint64_t pos = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorData& t = tensors[i];
    if (i > 0 && tensors[i - 1].name == t.name) throw Error("duplicate tensor name '" + t.name + "'", "safetensors writer");
    if (t.name == "__metadata__") throw Error("'__metadata__' is reserved", "safetensors writer");
    std::uint64_t need = safetensors_dtype_size(t.dtype);
    for (auto d : t.shape) {
      if (d < 0) throw Error("negative dimension in '" + t.name + "'", "safetensors writer");
      need *= static_cast<std::uint64_t>(d);
    }
    if (need != t.bytes.size())
      throw Error("tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) + " bytes, shape × dtype needs " +
                      std::to_string(need),
                  "safetensors writer");
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = t.dtype;
    e["shape"] = t.shape;
    e["data_offsets"] = {pos, pos + need};
    header[t.name] = e;
    pos += need;
  }
  std::string hjson = header.dump();
  hjson.append((8 - hjson.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + hjson.size() + pos);
  write_u64_le(out, hjson.size());
  out += hjson;
  for (const auto& t : tensors) out += t.bytes;
  return out;
}

void safetensors_write(const fs::path& path, std::vector<TensorData> tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_serialize(std::move(tensors), metadata));
}

// ---------------------------------------------------------------------------------------------------------
// scalar conversions

float f16_to_f32(std::uint16_t h) {
  std::uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t f32_to_f16(float v) {
  std::uint32_t x;
  std::memcpy(&x, &v, 4);
  std::uint32_t sign = (x >> 16) & 0x8000u;
  std::int32_t exp = static_cast<std::int32_t>((x >> 23) & 0xff) - 127 + 15;
  std::uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    std::uint32_t shift = static_cast<std::uint32_t>(14 - exp);
    std::uint32_t half = mant >> shift;
    std::uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t h = sign | (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
  std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: correct behaviour
  return static_cast<std::uint16_t>(h);
}

std::string pack_floats(const std::vector<float>& values, const std::string& dtype) {
  std::string out;
  if (dtype == "F32") {
    out.resize(values.size() * 4);
    std::memcpy(out.data(), values.data(), out.size());
  } else if (dtype == "BF16" || dtype == "F16") {
    out.resize(values.size() * 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::uint16_t h = dtype == "BF16" ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  } else {
    throw Error("cannot pack floats as " + dtype, "safetensors writer", "use F32, BF16 or F16");
  }
  return out;
}

std::vector<float> view_to_f32(const TensorView& view) {
  const std::string& dt = view.info->dtype;
  std::size_t n = static_cast<std::size_t>(view.numel());
  std::vector<float> out(n);
  if (dt == "F32") {
    std::memcpy(out.data(), view.data, n * 4);
  } else if (dt == "BF16" || dt == "F16") {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, view.data + 2 * i, 2);
      out[i] = dt == "BF16" ? bf16_to_f32(h) : f16_to_f32(h);
    }
  } else {
    throw Error("tensor '" + view.info->name + "' has dtype " + dt + ", expected a float dtype", "safetensors");
  }
  return out;
}

}  // namespace ecpo::model
