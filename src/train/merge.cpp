// Merging an adapter into its base model (see merge.h); W' = W + s·B·A as PEFT's merge_and_unload
// (training-reference.md §7).
#include "train/merge.h"

#include <map>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "model/lora-adapter.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;

namespace ecpo::train {

namespace {

const std::map<std::string, torch::ScalarType> kFloatTypes = {
    {"F32", torch::kFloat}, {"BF16", torch::kBFloat16}, {"F16", torch::kHalf}, {"F64", torch::kDouble}};

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

}  // namespace

MergeSummary model_merge(const fs::path& model_dir, const fs::path& adapter_dir, const fs::path& out) {
  require_exists(model_dir, "model directory", "pass --model DIR (config.json + *.safetensors)");
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw Error("the output directory exists and is not empty", out.string(), "choose a new --out");
  const model::WeightStore ws = model::WeightStore::open(model_dir);
  auto adapter = model::LoraAdapter::load(adapter_dir);
  const double scale = adapter->config().scale();
  const std::string where = adapter->weights_path().string();
  // Check every adapted module against the weights before writing anything.
  std::map<std::string, const model::LoraModule*> by_weight;
  for (const auto& [module, lm] : adapter->modules()) {
    const std::string w = module + ".weight";
    if (!ws.has(w))
      throw Error("adapter key '" + lm.key_a + "' adapts '" + module + "', which the model does not have", where,
                  "the adapter was made for another base model");
    model::TensorView v = ws.get(w);
    const auto& s = v.info->shape;
    if (s.size() != 2 || lm.a.info->shape != std::vector<std::int64_t>{adapter->config().r, s[1]} ||
        lm.b.info->shape != std::vector<std::int64_t>{s[0], adapter->config().r})
      throw Error("adapter tensors of '" + module + "' have shapes " + shape_str(lm.a.info->shape) + " / " +
                      shape_str(lm.b.info->shape) + ", but " + w + " is " + shape_str(s),
                  where, "the adapter was trained on a base model of another shape; pass the matching --model");
    if (!kFloatTypes.count(v.info->dtype)) throw Error(w + " has dtype " + v.info->dtype, ws.origin().string());
    by_weight[w] = &lm;
  }
  const fs::path tmp = out.parent_path() / (out.filename().string() + ".merge-tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  MergeSummary sum;
  try {
    // Shards of at most 2 GiB, tensors in name order.
    const std::uint64_t kShard = 2ull << 30;
    std::vector<std::vector<std::string>> shards(1);
    std::uint64_t acc = 0;
    for (const auto& name : ws.names()) {
      const std::uint64_t n = ws.get(name).nbytes;
      if (acc > 0 && acc + n > kShard) shards.emplace_back(), acc = 0;
      shards.back().push_back(name);
      acc += n;
    }
    const std::size_t n_shards = shards.size();
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t si = 0; si < n_shards; ++si) {
      char fname[64];
      if (n_shards == 1) std::snprintf(fname, sizeof fname, "model.safetensors");
      else std::snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", si + 1, n_shards);
      std::vector<model::TensorData> tensors;
      for (const auto& name : shards[si]) {
        model::TensorView v = ws.get(name);
        model::TensorData d{name, v.info->dtype, v.info->shape, {}};
        auto it = by_weight.find(name);
        if (it == by_weight.end()) {
          d.bytes.assign(reinterpret_cast<const char*>(v.data), v.nbytes);
        } else {
          const torch::ScalarType st = kFloatTypes.at(v.info->dtype);
          auto f32 = [](const model::TensorView& tv, torch::ScalarType t) {
            return torch::from_blob(const_cast<std::uint8_t*>(tv.data), tv.info->shape, t).to(torch::kFloat);
          };
          torch::Tensor w = f32(v, st);
          torch::Tensor a = f32(it->second->a, kFloatTypes.at(it->second->a.info->dtype));
          torch::Tensor b = f32(it->second->b, kFloatTypes.at(it->second->b.info->dtype));
          torch::Tensor merged = at::addmm(w, b, a, 1.0, scale).to(st).contiguous();
          d.bytes.assign(static_cast<const char*>(merged.data_ptr()), static_cast<std::size_t>(merged.nbytes()));
          ++sum.merged_modules;
        }
        sum.bytes += static_cast<std::int64_t>(d.bytes.size());
        weight_map[name] = fname;
        tensors.push_back(std::move(d));
      }
      sum.tensors += static_cast<std::int64_t>(tensors.size());
      model::safetensors_write(tmp / fname, std::move(tensors), {{"format", "pt"}});
    }
    sum.shards = static_cast<std::int64_t>(n_shards);
    if (n_shards > 1)
      write_file_atomic(tmp / "model.safetensors.index.json",
                        nlohmann::json{{"metadata", {{"total_size", sum.bytes}}}, {"weight_map", weight_map}}.dump(2) + "\n");
    // Everything else of the model directory (config, tokenizer, generation config, README ...).
    const fs::path src_dir = fs::is_directory(model_dir) ? model_dir : model_dir.parent_path();
    for (const auto& e : fs::directory_iterator(src_dir)) {
      const std::string name = e.path().filename().string();
      const bool weights = name.size() >= 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0;
      if (!e.is_regular_file() || weights || name == "model.safetensors.index.json")
        continue;
      fs::copy_file(e.path(), tmp / name, fs::copy_options::overwrite_existing);
    }
    if (fs::exists(out)) fs::remove(out);  // empty directory
    fs::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return sum;
}

}  // namespace ecpo::train
