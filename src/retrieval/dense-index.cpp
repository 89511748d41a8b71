// Exact inner-product index and its binary file (see dense-index.h).
#include "retrieval/dense-index.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <queue>

#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;

namespace ecpo::retrieval {

static_assert(std::endian::native == std::endian::little, "vectors.bin is little-endian; add byte swapping");

namespace {

constexpr char kMagic[8] = {'E', 'C', 'P', 'O', 'D', 'E', 'N', 'S'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint32_t kMaxIdBytes = 1u << 20;
constexpr std::uint32_t kMaxDim = 1u << 16;

template <typename T>
void put(std::ostream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}

struct Reader {
  std::ifstream in;
  fs::path path;
  std::uint64_t size = 0;
  explicit Reader(const fs::path& p) : in(p, std::ios::binary), path(p) {
    if (!in) throw Error("cannot open dense vectors file", p.string(), "run 'ecpo index build --kind dense' first");
    std::error_code ec;
    size = fs::file_size(p, ec);
  }
  [[noreturn]] void bad(const std::string& what) const {
    throw Error("bad dense vectors file: " + what, path.string(), "rebuild it with 'ecpo index build --kind dense'");
  }
  void read(void* dst, std::size_t n, const char* what) {
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(in.gcount()) != n) bad(std::string("truncated while reading ") + what);
  }
  template <typename T>
  T get(const char* what) {
    T v;
    read(&v, sizeof v, what);
    return v;
  }
};

// Reads the header and ids; leaves the stream at the start of the float data.
std::vector<std::string> read_header(Reader& r, std::size_t& dim) {
  char magic[8];
  r.read(magic, 8, "magic");
  if (std::memcmp(magic, kMagic, 8) != 0) r.bad("wrong magic (not an ecpo dense index)");
  auto version = r.get<std::uint32_t>("version");
  if (version != kVersion) r.bad("unsupported version " + std::to_string(version));
  auto d = r.get<std::uint32_t>("d");
  auto n = r.get<std::uint64_t>("n");
  if (d == 0 || d > kMaxDim) r.bad("dimension " + std::to_string(d) + " out of range");
  if (n > r.size / 4) r.bad("row count " + std::to_string(n) + " larger than the file allows");
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    auto len = r.get<std::uint32_t>("id length");
    if (len > kMaxIdBytes) r.bad("id " + std::to_string(i) + " has an implausible length");
    std::string id(len, '\0');
    r.read(id.data(), len, "id");
    ids.push_back(std::move(id));
  }
  std::uint64_t pos = static_cast<std::uint64_t>(r.in.tellg());
  std::uint64_t want = pos + n * d * sizeof(float);
  if (r.size != want)
    r.bad("size " + std::to_string(r.size) + " bytes, expected " + std::to_string(want) + " for n=" +
          std::to_string(n) + " d=" + std::to_string(d));
  dim = d;
  return ids;
}

}  // namespace

float l2_normalize(float* v, std::size_t d) {
  double ss = 0;
  for (std::size_t i = 0; i < d; ++i) ss += static_cast<double>(v[i]) * v[i];
  float norm = static_cast<float>(std::sqrt(ss));
  if (norm > 0) {
    float inv = 1.0f / norm;
    for (std::size_t i = 0; i < d; ++i) v[i] *= inv;
  }
  return norm;
}

float dot_product(const float* a, const float* b, std::size_t d) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= d; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < d; ++i) total += a[i] * b[i];
  return total;
}

DenseIndex::DenseIndex(std::size_t dim) : dim_(dim) {
  if (dim == 0 || dim > kMaxDim) throw Error("dense index dimension must be in 1.." + std::to_string(kMaxDim));
}

void DenseIndex::add(std::string id, const float* vec) {
  std::size_t off = data_.size();
  data_.insert(data_.end(), vec, vec + dim_);
  l2_normalize(data_.data() + off, dim_);
  ids_.push_back(std::move(id));
}

void DenseIndex::add_batch(const std::vector<std::string>& ids, const std::vector<float>& rows) {
  if (rows.size() != ids.size() * dim_)
    throw Error("encoder returned " + std::to_string(rows.size()) + " floats for " + std::to_string(ids.size()) +
                    " texts of dimension " + std::to_string(dim_),
                "dense index", "the encoder's dim() must match its output");
  data_.reserve(data_.size() + rows.size());
  for (std::size_t i = 0; i < ids.size(); ++i) add(ids[i], rows.data() + i * dim_);
}

std::vector<DenseMatch> DenseIndex::search(const float* query, std::size_t k) const {
  std::vector<DenseMatch> out;
  k = std::min(k, size());
  if (k == 0) return out;
  std::vector<float> q(query, query + dim_);
  l2_normalize(q.data(), dim_);
  // Min-heap on (score, then higher row worse) holding the best k so far; its top is the weakest kept.
  auto worse = [](const DenseMatch& a, const DenseMatch& b) {
    return a.score != b.score ? a.score > b.score : a.row < b.row;
  };
  std::priority_queue<DenseMatch, std::vector<DenseMatch>, decltype(worse)> heap(worse);
  for (std::size_t i = 0; i < size(); ++i) {
    float s = dot_product(q.data(), row(i), dim_);
    if (heap.size() < k) {
      heap.push({i, s});
    } else if (s > heap.top().score) {  // equal score: the earlier row already kept wins
      heap.pop();
      heap.push({i, s});
    }
  }
  out.resize(heap.size());
  for (std::size_t i = out.size(); i-- > 0;) {
    out[i] = heap.top();
    heap.pop();
  }
  return out;
}

void DenseIndex::save(const fs::path& path) const {
  for (const auto& id : ids_)
    if (id.size() > kMaxIdBytes) throw Error("item id longer than 1 MiB", id.substr(0, 40));
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(kMagic, 8);
    put<std::uint32_t>(out, kVersion);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(dim_));
    put<std::uint64_t>(out, ids_.size());
    for (const auto& id : ids_) {
      put<std::uint32_t>(out, static_cast<std::uint32_t>(id.size()));
      out.write(id.data(), static_cast<std::streamsize>(id.size()));
    }
    out.write(reinterpret_cast<const char*>(data_.data()), static_cast<std::streamsize>(data_.size() * sizeof(float)));
  });
}

DenseIndex DenseIndex::load(const fs::path& path) {
  Reader r(path);
  std::size_t dim = 0;
  std::vector<std::string> ids = read_header(r, dim);
  DenseIndex index(dim);
  index.data_.resize(ids.size() * dim);
  r.read(index.data_.data(), index.data_.size() * sizeof(float), "vectors");
  for (float x : index.data_)
    if (!std::isfinite(x)) r.bad("non-finite value in the vectors");
  index.ids_ = std::move(ids);
  return index;
}

std::vector<std::string> DenseIndex::load_ids(const fs::path& path, std::size_t* dim) {
  Reader r(path);
  std::size_t d = 0;
  auto ids = read_header(r, d);
  if (dim) *dim = d;
  return ids;
}

}  // namespace ecpo::retrieval
