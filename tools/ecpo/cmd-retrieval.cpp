// CLI verbs of the retrieval stage (see commands.h). Thin: flags → library call → summary.
//   ecpo index build --data DIR | --items FILE --out DIR [--kind bm25|dense|dense-exact|dense-hnsw] ...
//                    [--config FILE] [retrieval.KEY=VALUE]...   (flags given on the command line win)
//   ecpo retrieve --index DIR --query TEXT [-k 5] [--json] [--ef-search N]
#include <cstdio>
#include <iostream>
#include <memory>

#include "model/bert-encoder.h"
#include "retrieval/index.h"
#include "tools/ecpo/commands.h"
#include "util/config.h"
#include "util/error.h"
#include "util/jsonl.h"
#include "util/table.h"
#include "util/text.h"

namespace ecpo::cli {
namespace {

struct BuildArgs {
  std::string data, items, out, weights, config, encoder_model;
  std::vector<std::string> overrides;
  retrieval::IndexOptions opt;  // flag values; applied over the config only when given
  struct Given {
    CLI::Option *kind, *encoder, *dim, *threshold, *m, *efc, *efs, *threads;
  } given{};
};

struct RetrieveArgs {
  std::string index, query, encoder_model;
  std::size_t k = 5, ef_search = 0;
  bool json = false;
};

retrieval::Bm25Weights parse_weights(const std::string& s) {
  auto parts = split(s, ',', true);
  auto bad = [&] {
    return Error("bad --bm25-weights '" + s + "'", "index build", "give three numbers: title,categories,description");
  };
  if (parts.size() != 3) throw bad();
  double w[3];
  for (int i = 0; i < 3; ++i) {
    try {
      std::size_t used = 0;
      w[i] = std::stod(trim(parts[i]), &used);
      if (used != trim(parts[i]).size() || !(w[i] >= 0)) throw bad();
    } catch (const std::exception&) {
      throw bad();
    }
  }
  return {w[0], w[1], w[2]};
}

// Loads the BERT / MiniLM encoder (model/) from a sentence-transformers directory.
std::shared_ptr<const retrieval::Encoder> load_model_encoder(const std::string& dir) {
  return std::shared_ptr<const retrieval::Encoder>(model::load_bert_encoder(dir));
}

void run_build(const BuildArgs& a) {
  if (a.data.empty() == a.items.empty())
    throw Error("give exactly one of --data DIR or --items FILE", "index build",
                "--data DIR reads DIR/items.jsonl (written by 'ecpo data import')");
  std::filesystem::path items = a.items.empty() ? std::filesystem::path(a.data) / "items.jsonl" : std::filesystem::path(a.items);
  Config cfg;
  if (!a.config.empty()) cfg = Config::load(a.config);
  cfg.set_overrides(a.overrides);
  retrieval::IndexOptions opt = retrieval::index_options_from_config(cfg, "retrieval");
  const auto& g = a.given;
  if (g.kind->count()) opt.kind = a.opt.kind;
  if (g.encoder->count()) opt.encoder = a.opt.encoder;
  if (g.dim->count()) opt.dim = a.opt.dim;
  if (g.threshold->count()) opt.hnsw_threshold = a.opt.hnsw_threshold;
  if (g.m->count()) opt.hnsw.m = a.opt.hnsw.m;
  if (g.efc->count()) opt.hnsw.ef_construction = a.opt.hnsw.ef_construction;
  if (g.efs->count()) opt.hnsw.ef_search = a.opt.hnsw.ef_search;
  if (g.threads->count()) opt.hnsw.threads = a.opt.hnsw.threads;
  if (!a.weights.empty()) opt.bm25_weights = parse_weights(a.weights);
  std::shared_ptr<const retrieval::Encoder> encoder;
  if (opt.kind != "bm25" && (opt.encoder == "bert" || opt.encoder == "minilm")) {
    if (a.encoder_model.empty())
      throw Error("--encoder " + opt.encoder + " needs --encoder-model DIR", "index build",
                  "point it at a sentence-transformers directory (config.json, model.safetensors, vocab.txt)");
    encoder = load_model_encoder(a.encoder_model);
    opt.encoder_source = std::filesystem::absolute(a.encoder_model).lexically_normal().string();
  }
  auto s = retrieval::build_index(items, a.out, opt, encoder);
  std::printf("indexed %zu items from %s\n", s.items, items.string().c_str());
  std::printf("kind: %s%s\n", s.kind.c_str(), s.encoder.empty() ? "" : (" (encoder " + s.encoder + ")").c_str());
  std::printf("index: %s\n", s.dir.string().c_str());
  std::printf("time: %.2f s\n", s.seconds);
}

void run_retrieve(const RetrieveArgs& a) {
  retrieval::OpenOptions oo;
  oo.ef_search = a.ef_search;
  std::shared_ptr<const retrieval::Encoder> encoder;
  json meta = retrieval::read_index_meta(a.index);
  if (meta["kind"] != "bm25") {
    std::string name = meta["dense"].value("encoder", "");
    if (starts_with(name, "bert:")) {
      std::string dir = a.encoder_model.empty() ? meta["dense"].value("encoder_source", "") : a.encoder_model;
      if (dir.empty())
        throw Error("index was built with encoder '" + name + "'", a.index, "pass --encoder-model DIR");
      encoder = load_model_encoder(dir);
    }
  }
  auto r = retrieval::open_retriever(a.index, oo, encoder);
  auto hits = r->search(a.query, a.k);
  if (a.json) {
    for (const auto& h : hits)
      std::cout << json{{"rank", h.rank + 1}, {"item_id", h.item_id}, {"score", h.score}, {"title", h.title}}.dump()
                << '\n';
    return;
  }
  if (hits.empty()) {
    std::cout << "no items match this query (" << r->kind() << ", " << r->size() << " items)\n";
    return;
  }
  Table t({"rank", "score", "item_id", "title"});
  for (const auto& h : hits) {
    char score[32];
    std::snprintf(score, sizeof score, "%.4f", h.score);
    t.row({std::to_string(h.rank + 1), score, h.item_id, h.title});
  }
  t.print(std::cout);
}

}  // namespace

void register_retrieval_commands(CLI::App& app) {
  auto* index = app.add_subcommand("index", "build retrieval indexes over items.jsonl");
  index->require_subcommand(1);
  auto b = std::make_shared<BuildArgs>();
  auto* build = index->add_subcommand("build", "build a BM25 (SQLite FTS5) or dense (exact / HNSW) index");
  build->add_option("--data", b->data, "data directory holding items.jsonl");
  build->add_option("--items", b->items, "items file (instead of --data)");
  build->add_option("--out", b->out, "index directory to write")->required();
  build->add_option("--config", b->config, "YAML config; its 'retrieval' section sets the defaults below");
  build->add_option("overrides", b->overrides, "config overrides, e.g. retrieval.hnsw.m=32");
  auto& g = b->given;
  g.kind = build->add_option("--kind", b->opt.kind,
                             "bm25 | dense (HNSW above --hnsw-threshold items) | dense-exact | dense-hnsw")
               ->capture_default_str();
  g.encoder = build->add_option("--encoder", b->opt.encoder,
                                "dense encoder: hashing (built in) or bert (MiniLM-style model, see --encoder-model)")
                  ->capture_default_str();
  build->add_option("--encoder-model", b->encoder_model, "--encoder bert: sentence-transformers directory");
  g.dim = build->add_option("--dim", b->opt.dim, "dimension of the hashing encoder")->capture_default_str();
  build->add_option("--bm25-weights", b->weights, "bm25 column weights title,categories,description (default 1,1,1)");
  g.threshold = build->add_option("--hnsw-threshold", b->opt.hnsw_threshold, "kind dense: use HNSW when items > N")
                    ->capture_default_str();
  g.m = build->add_option("--hnsw-m", b->opt.hnsw.m, "HNSW graph degree M")->capture_default_str();
  g.efc = build->add_option("--ef-construction", b->opt.hnsw.ef_construction, "HNSW ef_construction")
              ->capture_default_str();
  g.efs = build->add_option("--ef-search", b->opt.hnsw.ef_search, "HNSW ef_search stored in the index")
              ->capture_default_str();
  g.threads = build->add_option("--threads", b->opt.hnsw.threads,
                                "HNSW insertion threads (0 = all cores, 1 = reproducible graph)")
                  ->capture_default_str();
  build->callback([b] { run_build(*b); });

  auto r = std::make_shared<RetrieveArgs>();
  auto* ret = app.add_subcommand("retrieve", "top-k items for a text query from an index built by 'index build'");
  ret->add_option("--index", r->index, "index directory")->required();
  ret->add_option("--query,-q", r->query, "query text (any text: it is tokenised, never passed raw to SQL)")
      ->required();
  ret->add_option("-k", r->k, "number of items")->capture_default_str();
  ret->add_flag("--json", r->json, "one JSON object per hit: {rank (1-based), item_id, score, title}");
  ret->add_option("--ef-search", r->ef_search, "HNSW: override the stored ef_search (0 = stored)");
  ret->add_option("--encoder-model", r->encoder_model,
                  "bert indexes: model directory (default: the one recorded in index.json)");
  ret->callback([r] { run_retrieve(*r); });
}

}  // namespace ecpo::cli
