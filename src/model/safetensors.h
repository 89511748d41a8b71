// safetensors (https://github.com/huggingface/safetensors) read and write, torch-free.
// Layout: u64 little-endian header length N, N bytes of JSON header (padded with spaces so the data starts
// 8-byte aligned), then the data; each tensor's data_offsets are relative to the data start.
// The parser validates everything (offsets in range, no overlap, contiguous coverage, shape × dtype size)
// and throws ecpo::Error on any bad byte — it never crashes. Files are mmapped read-only; sharded
// checkpoints are opened through model.safetensors.index.json. Turning bytes into torch tensors lives in
// torch-util-impl.h; this header knows nothing about torch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/bf16.h"

namespace ecpo::model {

// One tensor entry of a header. begin/end are byte offsets relative to the data start.
struct TensorInfo {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in header order
  std::map<std::string, std::string> metadata;  // "__metadata__" (string → string), may be empty
  std::uint64_t header_len = 0;  // N
  std::uint64_t data_start() const { return 8 + header_len; }
};

// Bytes per element of a safetensors dtype; throws ecpo::Error for an unknown dtype.
std::size_t safetensors_dtype_size(const std::string& dtype);

// Parses and validates the header of a whole file held in memory (`size` = file size). `origin` names the
// file in errors. Throws ecpo::Error for every malformed input.
SafetensorsHeader safetensors_parse(const std::uint8_t* data, std::size_t size, const std::string& origin);

// A read-only view of one tensor's bytes (valid while its SafetensorsFile / WeightStore lives).
struct TensorView {
  const TensorInfo* info = nullptr;
  const std::uint8_t* data = nullptr;
  std::size_t nbytes = 0;
  std::int64_t numel() const;
};

// One mmapped .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const SafetensorsHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Throws ecpo::Error naming the file and tensor when absent.
  TensorView get(const std::string& name) const;

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t> index_;
};

// All weights of a model directory: model.safetensors, or the shards listed in model.safetensors.index.json
// (weight_map: tensor name → shard file). Also accepts a path to a single .safetensors file.
class WeightStore {
 public:
  static WeightStore open(const std::filesystem::path& dir_or_file);
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  TensorView get(const std::string& name) const;  // throws ecpo::Error with a hint when absent
  const std::filesystem::path& origin() const { return origin_; }

 private:
  std::filesystem::path origin_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::size_t> where_;  // name → index into files_
};

// A tensor to write: raw little-endian bytes of `dtype` with `shape`.
struct TensorData {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

// Serialises tensors like the Python writer: header {"__metadata__": {...}, name: {dtype, shape,
// data_offsets}...} with tensors sorted by name, compact JSON padded with spaces to a multiple of 8,
// data laid out in the same order. Throws ecpo::Error on a size mismatch or duplicate name.
std::string safetensors_serialize(std::vector<TensorData> tensors, const std::map<std::string, std::string>& metadata);
// serialize + atomic write.
void safetensors_write(const std::filesystem::path& path, std::vector<TensorData> tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Scalar conversions used by writers and converters (round-to-nearest-even for f32 → bf16/f16); bf16 is
// util/bf16.h's.
using ecpo::bf16_to_f32;
using ecpo::f32_to_bf16;
float f16_to_f32(std::uint16_t v);
std::uint16_t f32_to_f16(float v);
// Packs floats as dtype "F32", "BF16" or "F16" bytes.
std::string pack_floats(const std::vector<float>& values, const std::string& dtype);
// Reads any float dtype view as f32 values.
std::vector<float> view_to_f32(const TensorView& view);

}  // namespace ecpo::model
