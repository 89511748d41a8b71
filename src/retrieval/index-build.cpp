// build_index / open_retriever: the index directory, index.json and kind dispatch (see index.h).
#include "retrieval/index.h"

#include <chrono>
#include <ctime>
#include <functional>
#include <unordered_set>

#include "data/types.h"
#include "retrieval/dense-retriever.h"
#include "retrieval/hashing-encoder.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::retrieval {
namespace {

constexpr const char* kFormat = "ecpo-retrieval-index";
constexpr int kVersion = 1;
constexpr const char* kTokenizer = "unicode61 remove_diacritics 2";
const char* const kBuildHint = "run 'ecpo index build --data DIR --out INDEX_DIR' first";

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Streams items with file:line errors and duplicate detection.
template <typename F>
void for_each_item(const fs::path& items_jsonl, F&& f) {
  require_exists(items_jsonl, "items file", "pass --items FILE or --data DIR holding items.jsonl");
  JsonlReader reader(items_jsonl);
  std::unordered_set<std::string> seen;
  json j;
  while (reader.next(j)) {
    std::string where = reader.where();
    data::Item item = data::item_from_json(j, where);
    if (item.item_id.empty()) throw Error("item has an empty item_id", where);
    if (!seen.insert(item.item_id).second)
      throw Error("duplicate item_id '" + item.item_id + "'", where, "item ids must be unique in items.jsonl");
    f(item, where);
  }
  if (seen.empty()) throw Error("no items to index", items_jsonl.string(), "the items file is empty");
}

std::string resolve_kind(const IndexOptions& o, std::size_t n) {
  if (o.kind == "bm25" || o.kind == "dense-exact" || o.kind == "dense-hnsw") return o.kind;
  if (o.kind == "dense") return n > o.hnsw_threshold ? "dense-hnsw" : "dense-exact";
  throw Error("unknown index kind '" + o.kind + "'", "index build", "use bm25, dense, dense-exact or dense-hnsw");
}

std::shared_ptr<const Encoder> encoder_for(const std::string& name, std::size_t dim,
                                           std::shared_ptr<const Encoder> given) {
  if (given) return given;
  auto enc = make_builtin_encoder(name, dim);
  if (!enc)
    throw Error("unknown encoder '" + name + "'", "index", "the built-in encoder is 'hashing' (hashing-<dim>)");
  return enc;
}

IndexSummary build_bm25(const fs::path& items_jsonl, const fs::path& out, const IndexOptions& o, json& meta) {
  Bm25Builder builder(out / "bm25.sqlite", o.bm25_weights);
  Progress progress("index bm25", 0, Progress::default_mode(), "items");
  for_each_item(items_jsonl, [&](const data::Item& item, const std::string& where) {
    builder.add(item, where);
    progress.add();
  });
  progress.finish();
  meta["bm25"] = {{"file", "bm25.sqlite"},
                  {"tokenizer", kTokenizer},
                  {"weights",
                   {{"title", o.bm25_weights.title},
                    {"categories", o.bm25_weights.categories},
                    {"description", o.bm25_weights.description}}}};
  builder.finish({{"kind", "bm25"}, {"created", meta["created"]}, {"source", meta["source"]},
                  {"tokenizer", kTokenizer}, {"weights", meta["bm25"]["weights"].dump()}});
  IndexSummary s;
  s.kind = "bm25";
  s.items = builder.count();
  return s;
}

IndexSummary build_dense(const fs::path& items_jsonl, const fs::path& out, const IndexOptions& o,
                         std::shared_ptr<const Encoder> given, json& meta) {
  auto encoder = encoder_for(o.encoder, o.dim, std::move(given));
  DenseIndex index(encoder->dim());
  std::vector<std::string> titles, batch_ids, batch_texts;
  Progress progress("index dense", 0, Progress::default_mode(), "items");
  auto flush = [&] {
    if (batch_ids.empty()) return;
    index.add_batch(batch_ids, encoder->encode(batch_texts));
    progress.add(batch_ids.size());
    batch_ids.clear();
    batch_texts.clear();
  };
  std::size_t batch = std::max<std::size_t>(o.batch_size, 1);
  for_each_item(items_jsonl, [&](const data::Item& item, const std::string&) {
    batch_ids.push_back(item.item_id);
    batch_texts.push_back(data::item_text(item));
    titles.push_back(utf8_sanitize(item.title));
    if (batch_ids.size() == batch) flush();
  });
  flush();
  progress.finish();

  std::string kind = resolve_kind(o, index.size());
  index.save(out / "vectors.bin");
  JsonlWriter tw(out / "titles.jsonl");
  for (std::size_t i = 0; i < index.size(); ++i) tw.write({{"item_id", index.ids()[i]}, {"title", titles[i]}});
  tw.commit();
  meta["dense"] = {{"encoder", encoder->name()}, {"dim", encoder->dim()}, {"vectors", "vectors.bin"},
                   {"titles", "titles.jsonl"}};
  if (!o.encoder_source.empty()) meta["dense"]["encoder_source"] = o.encoder_source;
  if (kind == "dense-hnsw") {
    spdlog::info("building HNSW graph over {} items (M={}, ef_construction={})", index.size(), o.hnsw.m,
                 o.hnsw.ef_construction);
    HnswIndex hnsw = HnswIndex::build(index, o.hnsw);
    hnsw.save(out / "hnsw.bin");
    meta["dense"]["hnsw"] = {{"file", "hnsw.bin"}, {"m", o.hnsw.m}, {"ef_construction", o.hnsw.ef_construction},
                             {"ef_search", o.hnsw.ef_search}, {"seed", o.hnsw.seed}};
  }
  IndexSummary s;
  s.kind = kind;
  s.items = index.size();
  s.encoder = encoder->name();
  return s;
}

std::vector<std::string> read_titles(const fs::path& path, const std::vector<std::string>& ids) {
  std::vector<std::string> titles;
  if (!fs::exists(path)) return titles;  // titles are a convenience; hits then carry ids only
  JsonlReader r(path);
  json j;
  while (r.next(j)) {
    if (!j.is_object() || !j.contains("item_id") || !j.contains("title"))
      throw Error("titles row lacks item_id/title", r.where(), "rebuild the index");
    std::size_t i = titles.size();
    if (i >= ids.size() || j["item_id"] != ids[i])
      throw Error("titles.jsonl does not match vectors.bin", r.where(), "rebuild the index");
    titles.push_back(j["title"].is_string() ? j["title"].get<std::string>() : std::string());
  }
  if (titles.size() != ids.size())
    throw Error("titles.jsonl has " + std::to_string(titles.size()) + " rows, vectors.bin " +
                    std::to_string(ids.size()),
                path.string(), "rebuild the index");
  return titles;
}

template <typename T>
void take(const Config& c, const std::string& key, T& into) {
  if (c.has(key)) into = c.get<T>(key);
}

}  // namespace

IndexOptions index_options_from_config(const Config& config, const std::string& prefix) {
  static const std::vector<std::string> known = {
      "kind", "bm25", "bm25.weights", "bm25.weights.title", "bm25.weights.categories", "bm25.weights.description",
      "dense", "dense.encoder", "dense.dim", "dense.batch_size", "hnsw", "hnsw.threshold", "hnsw.m",
      "hnsw.ef_construction", "hnsw.ef_search", "hnsw.seed", "hnsw.threads"};
  IndexOptions o;
  const json* root = config.find(prefix);
  if (!root) return o;
  if (!root->is_object()) throw Error("config key '" + prefix + "' must be a mapping", "config");
  // Reject typos ("hnsw.ef_serach") instead of silently using a default.
  std::function<void(const json&, const std::string&)> walk = [&](const json& node, const std::string& path) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = path.empty() ? it.key() : path + "." + it.key();
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw Error("unknown config key '" + prefix + "." + key + "'", "config",
                    "known keys: kind, bm25.weights.{title,categories,description}, dense.{encoder,dim,batch_size}, "
                    "hnsw.{threshold,m,ef_construction,ef_search,seed,threads}");
      if (it->is_object()) walk(*it, key);
    }
  };
  walk(*root, "");
  const std::string p = prefix + ".";
  take(config, p + "kind", o.kind);
  take(config, p + "bm25.weights.title", o.bm25_weights.title);
  take(config, p + "bm25.weights.categories", o.bm25_weights.categories);
  take(config, p + "bm25.weights.description", o.bm25_weights.description);
  take(config, p + "dense.encoder", o.encoder);
  take(config, p + "dense.dim", o.dim);
  take(config, p + "dense.batch_size", o.batch_size);
  take(config, p + "hnsw.threshold", o.hnsw_threshold);
  take(config, p + "hnsw.m", o.hnsw.m);
  take(config, p + "hnsw.ef_construction", o.hnsw.ef_construction);
  take(config, p + "hnsw.ef_search", o.hnsw.ef_search);
  take(config, p + "hnsw.seed", o.hnsw.seed);
  take(config, p + "hnsw.threads", o.hnsw.threads);
  return o;
}

std::shared_ptr<const Encoder> make_builtin_encoder(const std::string& name, std::size_t dim) {
  if (name == "hashing") return std::make_shared<HashingEncoder>(dim);
  if (starts_with(name, "hashing-")) {
    std::string d = name.substr(8);
    if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos || d.size() > 6) return nullptr;
    return std::make_shared<HashingEncoder>(std::stoul(d));
  }
  return nullptr;
}

IndexSummary build_index(const fs::path& items_jsonl, const fs::path& out_dir, const IndexOptions& options,
                         std::shared_ptr<const Encoder> encoder) {
  auto start = std::chrono::steady_clock::now();
  if (options.kind != "bm25") resolve_kind(options, 0);  // reject unknown kinds before any work
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error("cannot create index directory: " + ec.message(), out_dir.string());
  fs::remove(out_dir / "index.json", ec);  // a failed build must not leave an old index.json over new files

  json meta = {{"format", kFormat}, {"version", kVersion}, {"created", utc_now()},
               {"source", fs::absolute(items_jsonl).lexically_normal().string()}};
  IndexSummary s = options.kind == "bm25" ? build_bm25(items_jsonl, out_dir, options, meta)
                                          : build_dense(items_jsonl, out_dir, options, std::move(encoder), meta);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  s.dir = out_dir;
  meta["kind"] = s.kind;
  meta["items"] = s.items;
  meta["build_seconds"] = s.seconds;
  write_json_file(out_dir / "index.json", meta);
  return s;
}

json read_index_meta(const fs::path& index_dir) {
  if (!fs::is_directory(index_dir)) throw Error("index directory not found", index_dir.string(), kBuildHint);
  fs::path p = index_dir / "index.json";
  require_exists(p, "index.json", kBuildHint);
  json meta = read_json_file(p);
  if (!meta.is_object() || meta.value("format", "") != kFormat)
    throw Error("not an ecpo retrieval index (format is not '" + std::string(kFormat) + "')", p.string(), kBuildHint);
  if (meta.value("version", 0) != kVersion)
    throw Error("unsupported index version " + meta.value("version", json()).dump(), p.string(),
                "rebuild the index with this ecpo");
  std::string kind = meta.value("kind", "");
  if (kind != "bm25" && kind != "dense-exact" && kind != "dense-hnsw")
    throw Error("unknown index kind '" + kind + "'", p.string(), kBuildHint);
  if (kind != "bm25" && !(meta.contains("dense") && meta["dense"].is_object()))
    throw Error("dense index lacks its 'dense' section", p.string(), kBuildHint);
  return meta;
}

std::unique_ptr<Retriever> open_retriever(const fs::path& index_dir, const OpenOptions& options,
                                          std::shared_ptr<const Encoder> encoder) {
  json meta = read_index_meta(index_dir);
  std::string kind = meta["kind"];
  std::string where = (index_dir / "index.json").string();
  if (kind == "bm25") {
    json bm25 = meta.value("bm25", json::object());
    return std::make_unique<Bm25Retriever>(index_dir / bm25.value("file", "bm25.sqlite"));
  }

  const json& dense = meta["dense"];
  std::string enc_name = dense.value("encoder", "");
  if (encoder && encoder->name() != enc_name)
    throw Error("index was built with encoder '" + enc_name + "', not '" + encoder->name() + "'", where,
                "query with the encoder the index was built with, or rebuild the index");
  if (!encoder) {
    encoder = make_builtin_encoder(enc_name);
    if (!encoder)
      throw Error("index was built with encoder '" + enc_name + "', which is not built in", where,
                  "pass that encoder (loaded from " + dense.value("encoder_source", std::string("its model directory")) +
                      ") to open_retriever");
  }
  fs::path vectors = index_dir / dense.value("vectors", "vectors.bin");
  if (kind == "dense-exact") {
    DenseIndex index = DenseIndex::load(vectors);
    auto titles = read_titles(index_dir / dense.value("titles", "titles.jsonl"), index.ids());
    return std::make_unique<DenseRetriever>(std::move(encoder), std::move(index), std::move(titles));
  }
  std::size_t dim = 0;
  std::vector<std::string> ids = DenseIndex::load_ids(vectors, &dim);
  const json hnsw_meta = dense.value("hnsw", json::object());
  std::size_t ef = options.ef_search ? options.ef_search : hnsw_meta.value("ef_search", std::size_t{64});
  HnswIndex hnsw = HnswIndex::load(index_dir / hnsw_meta.value("file", "hnsw.bin"), dim, ids.size(), ef);
  auto titles = read_titles(index_dir / dense.value("titles", "titles.jsonl"), ids);
  return std::make_unique<DenseRetriever>(std::move(encoder), std::move(ids), std::move(hnsw), std::move(titles));
}

}  // namespace ecpo::retrieval
