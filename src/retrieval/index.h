// Building and opening a retrieval index directory. An index directory holds index.json, written last
// (so a half-built directory is never opened), plus the files of its kind:
//   bm25:        bm25.sqlite                      (bm25-index.h)
//   dense-exact: vectors.bin, titles.jsonl        (dense-index.h; titles.jsonl = {item_id, title} per row)
//   dense-hnsw:  vectors.bin, titles.jsonl, hnsw.bin (hnsw-index.h)
// index.json: {format:"ecpo-retrieval-index", version:1, kind, items, created (UTC ISO-8601), source,
//   build_seconds, bm25?:{file, tokenizer, weights:{title, categories, description}},
//   dense?:{encoder, encoder_source?, dim, vectors, titles, hnsw?:{file, m, ef_construction, ef_search, seed}}}
// Built-in encoders: "hashing" (HashingEncoder). Others (MiniLM from model/) are passed in by the caller.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "retrieval/bm25-index.h"
#include "retrieval/hnsw-index.h"
#include "retrieval/retriever.h"
#include "util/config.h"

namespace ecpo::retrieval {

struct IndexOptions {
  std::string kind = "bm25";       // bm25 | dense (exact or HNSW by hnsw_threshold) | dense-exact | dense-hnsw
  Bm25Weights bm25_weights;        // per-column bm25() weights (title, categories, description)
  std::string encoder = "hashing";  // built-in encoder name when none is passed to build_index
  std::size_t dim = 384;           // built-in encoder dimension
  std::size_t hnsw_threshold = 20000;  // kind "dense": HNSW when items > threshold
  HnswParams hnsw;
  std::size_t batch_size = 256;    // texts per Encoder::encode call
  std::string encoder_source;      // where a non-built-in encoder was loaded from (recorded in index.json)
};

// IndexOptions from a config section (defaults for absent keys; unknown keys under `prefix` are errors):
//   <prefix>.kind, <prefix>.bm25.weights.{title,categories,description},
//   <prefix>.dense.{encoder,dim,batch_size}, <prefix>.hnsw.{threshold,m,ef_construction,ef_search,seed,threads}
IndexOptions index_options_from_config(const Config& config, const std::string& prefix = "retrieval");

struct IndexSummary {
  std::string kind;
  std::size_t items = 0;
  double seconds = 0;
  std::string encoder;  // "" for bm25
  std::filesystem::path dir;
};

struct OpenOptions {
  std::size_t ef_search = 0;  // HNSW: 0 = the value stored in index.json
};

// Reads DIR/items.jsonl-style `items_jsonl` (fails on a malformed line or duplicate item_id with file:line)
// and writes an index of options.kind into out_dir. `encoder` overrides the built-in one for dense kinds.
IndexSummary build_index(const std::filesystem::path& items_jsonl, const std::filesystem::path& out_dir,
                         const IndexOptions& options, std::shared_ptr<const Encoder> encoder = nullptr);

// Opens the index in `index_dir` by the kind in its index.json. Dense indexes need their encoder: the one
// passed (its name must match index.json) or a built-in one of that name. Throws ecpo::Error with a hint.
std::unique_ptr<Retriever> open_retriever(const std::filesystem::path& index_dir, const OpenOptions& options = {},
                                          std::shared_ptr<const Encoder> encoder = nullptr);

// index.json of `index_dir`, validated (format, version, kind); throws with "run ecpo index build first".
nlohmann::json read_index_meta(const std::filesystem::path& index_dir);

// A built-in encoder by name: "hashing" (with `dim`) or "hashing-<d>". nullptr for unknown names.
std::shared_ptr<const Encoder> make_builtin_encoder(const std::string& name, std::size_t dim = 384);

}  // namespace ecpo::retrieval
