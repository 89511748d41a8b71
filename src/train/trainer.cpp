// The training loop and evaluation (see trainer.h). One optimiser step: zero the flat gradient, run the
// step's micro-batches (each loss divided by the tokens / pairs / examples of the WHOLE step, so accumulation
// does not change the update, training-reference.md §2), clip, AdamW at the scheduled lr. Reference
// log-probs are computed once per dataset before the first step (§4, option 1) with the reference branch.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <thread>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "model/lora-adapter.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "train/batching.h"
#include "train/dataset.h"
#include "train/lora-model.h"
#include "train/losses.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::train {

namespace {

using Clock = std::chrono::steady_clock;

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

DataKind kind_for(const std::string& objective) {
  if (objective == "sft") return DataKind::sft;
  if (objective == "kto") return DataKind::kto;
  return DataKind::pair;
}

std::unique_ptr<tok::Tokenizer> maybe_tokenizer(const fs::path& dir) {
  if (fs::exists(dir / "tokenizer.json") || fs::exists(dir / "tokenizer.model")) return tok::load_tokenizer(dir);
  return nullptr;
}

Dataset read_data(const fs::path& path, const TrainOptions& o, const tok::Tokenizer* tk) {
  DataOptions d;
  d.format = o.data_format;
  d.chat_template = o.chat_template;
  d.cutoff_len = o.cutoff_len;
  d.skip_long_prompts = o.skip_long_prompts;
  Dataset ds = load_dataset(path, kind_for(o.objective), tk, d);
  if (ds.kind == DataKind::kto) {
    if (ds.size() < 2) throw Error("KTO needs at least 2 examples for its KL estimate", path.string());
    kto_pair_kl(ds, o.batch_size);
  }
  return ds;
}

std::vector<std::int64_t> example_lengths(const Dataset& d) {
  std::vector<std::int64_t> len;
  for (const auto& e : d.sft) len.push_back(static_cast<std::int64_t>(e.seq.ids.size()));
  for (const auto& e : d.pairs) len.push_back(static_cast<std::int64_t>(std::max(e.chosen.ids.size(), e.rejected.ids.size())));
  for (const auto& e : d.kto) len.push_back(static_cast<std::int64_t>(e.seq.ids.size()));
  return len;
}

// Per-example reference scores (sums), one pass with the reference branch.
struct RefScores {
  std::vector<double> chosen, rejected;  // pairs
  std::vector<double> seq, kl;           // kto
};

int eval_batch(const TrainOptions& o) { return static_cast<int>(std::max<std::int64_t>(o.batch_size, 8)); }

RefScores compute_reference(TrainModel& m, const Dataset& d, const TrainOptions& o, bool show) {
  RefScores r;
  torch::NoGradGuard ng;
  const std::size_t n = d.size();
  auto plan = plan_eval(example_lengths(d), eval_batch(o));
  Progress bar("reference log-probs", n, show ? Progress::Mode::automatic : Progress::Mode::off, "ex");
  if (d.kind == DataKind::pair) {
    r.chosen.assign(n, 0), r.rejected.assign(n, 0);
    for (const auto& mb : plan) {
      std::vector<const TokenSeq*> ch, rj;
      std::vector<std::int64_t> pt;
      for (auto i : mb) ch.push_back(&d.pairs[i].chosen), rj.push_back(&d.pairs[i].rejected), pt.push_back(d.pairs[i].prompt_tokens);
      ScoreOut s = m.score_pairs(ch, rj, pt, Branch::reference, false);
      auto v = s.seq_logp.to(torch::kDouble);
      for (std::size_t k = 0; k < mb.size(); ++k) {
        r.chosen[mb[k]] = v[static_cast<std::int64_t>(k)].item<double>();
        r.rejected[mb[k]] = v[static_cast<std::int64_t>(mb.size() + k)].item<double>();
      }
      bar.add(mb.size());
    }
  } else if (d.kind == DataKind::kto) {
    r.seq.assign(n, 0), r.kl.assign(n, 0);
    for (const auto& mb : plan) {
      std::vector<const TokenSeq*> seqs;
      for (auto i : mb) seqs.push_back(&d.kto[i].seq);
      for (auto i : mb) seqs.push_back(&d.kto[i].kl_seq);
      ScoreOut s = m.score(seqs, Branch::reference, false);
      auto v = s.seq_logp.to(torch::kDouble);
      for (std::size_t k = 0; k < mb.size(); ++k) {
        r.seq[mb[k]] = v[static_cast<std::int64_t>(k)].item<double>();
        r.kl[mb[k]] = v[static_cast<std::int64_t>(mb.size() + k)].item<double>();
      }
      bar.add(mb.size());
    }
  }
  bar.finish();
  return r;
}

// Sums over a step (or a whole evaluation) from which the logged metrics are made.
struct Acc {
  double loss = 0;                 // Σ per-example losses (sft: Σ NLL)
  std::int64_t n = 0;              // examples / pairs (sft: rows)
  std::int64_t tokens = 0;         // scored tokens (sft: trained tokens)
  std::int64_t input_tokens = 0;   // policy-pass tokens, no padding
  std::int64_t correct = 0;
  double r_c = 0, r_r = 0, acc = 0, lp_c = 0, lp_r = 0, lg_c = 0, lg_r = 0, nll = 0;
  std::int64_t n_c = 0, n_r = 0, tok_c = 0, tok_r = 0;
  double kl = 0;
  std::int64_t kl_batches = 0;
};

json metrics_of(const std::string& objective, const Acc& a) {
  json m = json::object();
  auto div = [](double x, double y) { return y > 0 ? x / y : 0.0; };
  if (objective == "sft") {
    m["mean_token_accuracy"] = div(static_cast<double>(a.correct), static_cast<double>(a.tokens));
    m["num_tokens"] = a.tokens;
    return m;
  }
  if (objective == "kto") {
    m["kl"] = div(a.kl, static_cast<double>(a.kl_batches));
    m["rewards/chosen"] = div(a.r_c, static_cast<double>(a.n_c));
    m["rewards/rejected"] = div(a.r_r, static_cast<double>(a.n_r));
    m["rewards/margins"] = div(a.r_c, static_cast<double>(a.n_c)) - div(a.r_r, static_cast<double>(a.n_r));
    m["logps/chosen"] = div(a.lp_c, static_cast<double>(a.n_c));
    m["logps/rejected"] = div(a.lp_r, static_cast<double>(a.n_r));
    m["logits/chosen"] = div(a.lg_c, static_cast<double>(a.tok_c));
    m["logits/rejected"] = div(a.lg_r, static_cast<double>(a.tok_r));
    m["count/chosen"] = a.n_c;
    m["count/rejected"] = a.n_r;
    return m;
  }
  const double n = static_cast<double>(a.n);
  m["rewards/chosen"] = div(a.r_c, n);
  m["rewards/rejected"] = div(a.r_r, n);
  m["rewards/accuracies"] = div(a.acc, n);
  m["rewards/margins"] = div(a.r_c - a.r_r, n);
  m["logps/chosen"] = div(a.lp_c, n);
  m["logps/rejected"] = div(a.lp_r, n);
  m["logits/chosen"] = div(a.lg_c, static_cast<double>(a.tok_c));
  m["logits/rejected"] = div(a.lg_r, static_cast<double>(a.tok_r));
  if (objective == "simpo") m["nll_loss"] = div(a.nll, n);  // TRL's CPO logs it (cpo_alpha weighs it)
  return m;
}

// The objective on one micro-batch: returns Σ losses / denom (differentiable when grad mode is on).
class Objective {
 public:
  Objective(const TrainOptions& o, TrainModel& m, const Dataset& d, const RefScores& ref)
      : o_(o), m_(m), d_(d), ref_(ref) {
    dpo_.loss_type = pref_loss_from_name(o.loss_type);
    dpo_.beta = o.beta;
    dpo_.label_smoothing = o.label_smoothing;
    simpo_ = {o.beta, o.gamma, o.label_smoothing};
    kto_ = {o.beta, o.desirable_weight, o.undesirable_weight};
  }

  // Normaliser of a step: trained tokens (sft), else the number of examples / pairs.
  double denominator(const StepPlan& s) const {
    if (o_.objective != "sft") return static_cast<double>(s.examples());
    double n = 0;
    for (const auto& mb : s.micro)
      for (auto i : mb) n += static_cast<double>(d_.sft[i].seq.completion_tokens());
    return n;
  }

  torch::Tensor micro(const std::vector<std::size_t>& idx, double denom, bool train, Acc& a) {
    const std::string& obj = o_.objective;
    if (obj == "sft") {
      std::vector<const TokenSeq*> seqs;
      for (auto i : idx) seqs.push_back(&d_.sft[i].seq);
      ScoreOut s = m_.score(seqs, Branch::policy, train);
      torch::Tensor nll = -s.seq_logp.sum();
      a.loss += nll.item<double>();
      a.n += static_cast<std::int64_t>(idx.size());
      for (auto t : s.seq_tokens) a.tokens += t;
      a.correct += s.correct;
      a.input_tokens += s.input_tokens;
      return nll / denom;
    }
    if (obj == "kto") return kto(idx, denom, train, a);
    // dpo / simpo: [chosen…; rejected…] in one forward
    const std::size_t b = idx.size();
    std::vector<const TokenSeq*> ch, rj;
    std::vector<std::int64_t> pt;
    for (auto i : idx) ch.push_back(&d_.pairs[i].chosen), rj.push_back(&d_.pairs[i].rejected), pt.push_back(d_.pairs[i].prompt_tokens);
    ScoreOut s = m_.score_pairs(ch, rj, pt, Branch::policy, train);
    const auto B = static_cast<std::int64_t>(b);
    std::vector<double> n_c(b), n_r(b), rc(b), rr(b);
    for (std::size_t k = 0; k < b; ++k) {
      n_c[k] = static_cast<double>(s.seq_tokens[k]);
      n_r[k] = static_cast<double>(s.seq_tokens[b + k]);
      if (obj == "dpo") rc[k] = ref_.chosen[idx[k]], rr[k] = ref_.rejected[idx[k]];
    }
    auto vec = [](std::vector<double>& v) { return torch::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, torch::kDouble).to(torch::kFloat); };
    torch::Tensor nc = vec(n_c), nr = vec(n_r);
    torch::Tensor pc = s.seq_logp.narrow(0, 0, B), pr = s.seq_logp.narrow(0, B, B);
    torch::Tensor nll_c = -pc / nc;  // token-mean NLL of the chosen completion
    PrefOutput po;
    if (obj == "simpo") {
      po = simpo_loss(pc / nc, pr / nr, simpo_);
      if (o_.cpo_alpha != 0) po.losses = po.losses + o_.cpo_alpha * nll_c;
    } else {
      torch::Tensor tc = vec(rc), tr = vec(rr);
      if (pref_loss_uses_average(dpo_.loss_type)) po = dpo_loss(pc / nc, pr / nr, tc / nc, tr / nr, dpo_);
      else po = dpo_loss(pc, pr, tc, tr, dpo_);
      if (o_.pref_ftx != 0) po.losses = po.losses + o_.pref_ftx * nll_c;
    }
    torch::Tensor total = po.losses.sum();
    a.loss += total.item<double>();
    a.n += B;
    a.r_c += po.rewards_chosen.sum().item<double>();
    a.r_r += po.rewards_rejected.sum().item<double>();
    a.acc += (po.rewards_chosen > po.rewards_rejected).sum().item<double>();
    a.lp_c += pc.sum().item<double>();
    a.lp_r += pr.sum().item<double>();
    a.nll += nll_c.sum().item<double>();
    a.lg_c += s.seq_logit_sum.narrow(0, 0, B).sum().item<double>();
    a.lg_r += s.seq_logit_sum.narrow(0, B, B).sum().item<double>();
    for (std::size_t k = 0; k < b; ++k) a.tok_c += s.seq_tokens[k], a.tok_r += s.seq_tokens[b + k];
    a.tokens += a.tok_c + a.tok_r;
    a.input_tokens += s.input_tokens;
    return total / denom;
  }

 private:
  torch::Tensor kto(const std::vector<std::size_t>& idx, double denom, bool train, Acc& a) {
    const std::size_t b = idx.size();
    std::vector<const TokenSeq*> seqs, kl_seqs;
    std::vector<double> ref(b), kl_ref(b);
    std::vector<std::uint8_t> lab(b);
    for (std::size_t k = 0; k < b; ++k) {
      const KtoExample& e = d_.kto[idx[k]];
      seqs.push_back(&e.seq);
      kl_seqs.push_back(&e.kl_seq);
      ref[k] = ref_.seq[idx[k]];
      kl_ref[k] = ref_.kl[idx[k]];
      lab[k] = e.desirable;
    }
    ScoreOut kl;
    {
      torch::NoGradGuard ng;  // the KL term is detached (trl computes it under no_grad)
      kl = m_.score(kl_seqs, Branch::policy, train);
    }
    ScoreOut s = m_.score(seqs, Branch::policy, train);
    auto vec = [](std::vector<double>& v) { return torch::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, torch::kDouble).to(torch::kFloat); };
    torch::Tensor labels = torch::from_blob(lab.data(), {static_cast<std::int64_t>(b)}, torch::kUInt8).to(torch::kBool);
    KtoOutput ko = kto_loss(s.seq_logp, vec(ref), labels, kl.seq_logp, vec(kl_ref), kto_);
    torch::Tensor total = ko.losses.sum();
    a.loss += total.item<double>();
    a.n += static_cast<std::int64_t>(b);
    a.kl += ko.kl;
    a.kl_batches += 1;
    auto rw = ko.rewards.to(torch::kDouble);
    auto lp = s.seq_logp.detach().to(torch::kDouble);
    for (std::size_t k = 0; k < b; ++k) {
      const auto kk = static_cast<std::int64_t>(k);
      if (lab[k]) {
        a.r_c += rw[kk].item<double>(), a.lp_c += lp[kk].item<double>(), ++a.n_c;
        a.lg_c += s.seq_logit_sum[kk].item<double>(), a.tok_c += s.seq_tokens[k];
      } else {
        a.r_r += rw[kk].item<double>(), a.lp_r += lp[kk].item<double>(), ++a.n_r;
        a.lg_r += s.seq_logit_sum[kk].item<double>(), a.tok_r += s.seq_tokens[k];
      }
      a.tokens += s.seq_tokens[k];
    }
    a.input_tokens += s.input_tokens + kl.input_tokens;
    return total / denom;
  }

  const TrainOptions& o_;
  TrainModel& m_;
  const Dataset& d_;
  const RefScores& ref_;
  DpoParams dpo_;
  SimpoParams simpo_;
  KtoParams kto_;
};

// ---- reference cache -------------------------------------------------------------------------------------

json file_stamp(const fs::path& p) {
  if (p.empty()) return nullptr;
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(p, ec);
  json j = {{"path", (ec ? p : abs).string()}};
  if (fs::is_regular_file(p)) {
    j["size"] = fs::file_size(p);
    j["mtime"] = static_cast<std::int64_t>(fs::last_write_time(p).time_since_epoch().count());
  } else if (fs::is_directory(p)) {
    for (const char* f : {"adapter_model.safetensors", "model.safetensors", "config.json"})
      if (fs::exists(p / f))
        j[f] = static_cast<std::int64_t>(fs::last_write_time(p / f).time_since_epoch().count());
  }
  return j;
}

json ref_fingerprint(const TrainRequest& r, const Dataset& d) {
  const TrainOptions& o = r.options;
  return {{"data", file_stamp(r.data)},          {"model", file_stamp(r.model_dir)},
          {"ref_adapter", file_stamp(o.ref_adapter)}, {"dtype", o.dtype},
          {"cutoff_len", o.cutoff_len},           {"chat_template", d.chat_template},
          {"data_format", o.data_format},         {"kind", data_kind_name(d.kind)},
          {"batch_size_kto", d.kind == DataKind::kto ? o.batch_size : 0}, {"examples", d.size()}};
}

bool load_ref_cache(const fs::path& file, const json& fp, RefScores& r) {
  if (!fs::exists(file)) return false;
  try {
    json j = read_json_file(file);
    if (j.value("fingerprint", json()) != fp) return false;
    r.chosen = j.value("chosen", std::vector<double>{});
    r.rejected = j.value("rejected", std::vector<double>{});
    r.seq = j.value("seq", std::vector<double>{});
    r.kl = j.value("kl", std::vector<double>{});
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void save_ref_cache(const fs::path& file, const json& fp, const RefScores& r) {
  json j = {{"fingerprint", fp}, {"chosen", r.chosen}, {"rejected", r.rejected}, {"seq", r.seq}, {"kl", r.kl}};
  write_file_atomic(file, j.dump() + "\n");
}

// ---- progress line ---------------------------------------------------------------------------------------

class StepBar {
 public:
  StepBar(std::string label, std::int64_t total) : label_(std::move(label)), total_(total) {
    const auto mode = Progress::default_mode();
    on_ = mode == Progress::Mode::on || (mode == Progress::Mode::automatic && ::isatty(STDERR_FILENO));
    start_ = Clock::now();
  }
  bool on() const { return on_; }
  void draw(std::int64_t step, std::int64_t first, double loss, double lr, double tok_s) {
    if (!on_) return;
    const double el = std::chrono::duration<double>(Clock::now() - start_).count();
    const double per = step > first ? el / static_cast<double>(step - first) : 0;
    const double frac = total_ > 0 ? static_cast<double>(step) / static_cast<double>(total_) : 0;
    std::string bar(static_cast<std::size_t>(frac * 24), '#');
    bar.resize(24, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld loss %.4f lr %.2e %s tok/s eta %s   ", label_.c_str(), bar.c_str(),
                 static_cast<long long>(step), static_cast<long long>(total_), loss, lr, human_count(tok_s).c_str(),
                 human_duration(per * static_cast<double>(total_ - step)).c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (on_) std::fprintf(stderr, "\n");
  }

 private:
  std::string label_;
  std::int64_t total_;
  bool on_ = false;
  Clock::time_point start_;
};

// ---- checkpoints -----------------------------------------------------------------------------------------

fs::path checkpoint_dir(const fs::path& out, std::int64_t step) {
  return out / "checkpoints" / ("checkpoint-" + std::to_string(step));
}

std::vector<std::pair<std::int64_t, fs::path>> list_checkpoints(const fs::path& out) {
  std::vector<std::pair<std::int64_t, fs::path>> v;
  const fs::path dir = out / "checkpoints";
  if (!fs::is_directory(dir)) return v;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || !fs::exists(e.path() / "trainer_state.json")) continue;
    try {
      v.push_back({std::stoll(name.substr(11)), e.path()});
    } catch (const std::exception&) {
    }
  }
  std::sort(v.begin(), v.end());
  return v;
}

json trainer_state(std::int64_t step, std::int64_t total, std::int64_t spe, const TrainOptions& o,
                   const std::vector<json>& log) {
  return {{"global_step", step},
          {"max_steps", total},
          {"epoch", spe > 0 ? static_cast<double>(step) / static_cast<double>(spe) : 0.0},
          {"num_train_epochs", spe > 0 ? (total + spe - 1) / spe : 0},
          {"steps_per_epoch", spe},
          {"train_batch_size", o.batch_size},
          {"gradient_accumulation_steps", o.grad_accum},
          {"save_steps", o.save_steps},
          {"logging_steps", o.logging_steps},
          {"log_history", log}};
}

void save_rng(const fs::path& file) {
  at::Generator g = at::detail::getDefaultCPUGenerator();
  torch::Tensor st;
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    st = g.get_state();
  }
  model::TensorData d{"cpu_generator", "U8", {st.numel()}, {}};
  d.bytes.assign(static_cast<const char*>(st.data_ptr()), static_cast<std::size_t>(st.numel()));
  model::safetensors_write(file, {d});
}

void load_rng(const fs::path& file) {
  model::SafetensorsFile f(file);
  model::TensorView v = f.get("cpu_generator");
  torch::Tensor st = torch::from_blob(const_cast<std::uint8_t*>(v.data), {v.numel()}, torch::kUInt8).clone();
  at::Generator g = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(st);
}

void save_checkpoint(const fs::path& out, std::int64_t step, const TrainModel& m, const FlatAdamW& opt,
                     const std::string& base_name, const json& state, std::int64_t keep) {
  const fs::path final_dir = checkpoint_dir(out, step);
  const fs::path tmp = out / "checkpoints" / (".checkpoint-" + std::to_string(step) + ".tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  if (m.is_full()) m.full_save(tmp);
  else m.lora_save(tmp, base_name);
  opt.save(tmp / "optimizer.safetensors");
  save_rng(tmp / "rng_state.safetensors");
  write_json_file(tmp / "trainer_state.json", state);
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  auto all = list_checkpoints(out);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i) fs::remove_all(all[i].second);
}

// Threads, and the allocator: a step frees and re-allocates the same activation buffers every time, and glibc would
// hand the freed top of the heap back to the system (trim threshold) and map each buffer of 128 KiB or more afresh
// (mmap threshold), so every step would page-fault all its buffers in again, zero-filled by the kernel (a tenth of
// a step on the small model; more on a loaded machine). Buffers up to 32 MiB (glibc's largest mmap threshold) come
// from the heap instead and freed heap stays mapped for the next step: the peak stays the same.
void apply_runtime(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
#ifdef __GLIBC__
  static const bool once = [] {
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    return true;
  }();
  (void)once;
#endif
}

std::string base_model_name(const fs::path& dir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(dir, ec);
  return (ec ? dir : p).string();
}

// init_adapter / ref_adapter checks that must fail before anything is written.
std::unique_ptr<model::LoraAdapter> open_adapter(const std::string& dir, const char* key) {
  if (dir.empty()) return nullptr;
  if (!fs::exists(dir))
    throw Error("adapter directory not found", dir, std::string("check ") + key + "= (a PEFT adapter directory)");
  return model::LoraAdapter::load(dir);
}

LoraSpec spec_from_options(const TrainOptions& o) {
  LoraSpec s;
  s.r = o.lora_r;
  s.alpha = o.lora_alpha;
  s.dropout = o.lora_dropout;
  s.rslora = o.use_rslora;
  s.targets = parse_lora_targets(o.lora_targets);
  return s;
}

}  // namespace

// ---- train -----------------------------------------------------------------------------------------------

TrainSummary train_run(const TrainRequest& req) {
  TrainOptions o = req.options;
  const fs::path out = req.out;
  // 1. Everything that can be wrong with the input is checked before the output directory is touched.
  if (!req.resume && fs::exists(out) &&
      (fs::exists(out / "adapter_model.safetensors") || fs::exists(out / "model.safetensors") ||
       fs::exists(out / "checkpoints") || fs::exists(out / "metrics.jsonl")))
    throw Error("the output directory already holds a training run", out.string(),
                "pass --resume to continue it, or choose another --out");
  apply_runtime(o.threads);
  auto tokenizer = maybe_tokenizer(req.model_dir);
  Dataset data = read_data(req.data, o, tokenizer.get());
  auto model = TrainModel::load(req.model_dir, o.dtype, o.device);
  auto init_ad = open_adapter(o.init_adapter, "init_adapter");
  auto ref_ad = open_adapter(o.ref_adapter, "ref_adapter");
  LoraSpec spec = spec_from_options(o);
  if (init_ad) {
    LoraSpec a = model->lora_spec_of(*init_ad);
    auto conflict = [&](const char* key, bool differs, const std::string& theirs) {
      if (differs && req.given_keys.count(key))
        throw Error(std::string(key) + " disagrees with init_adapter (" + theirs + ")", o.init_adapter,
                    std::string("drop ") + key + " from the config: training continues the adapter with its own shape");
    };
    conflict("lora_r", a.r != spec.r, "r = " + std::to_string(a.r));
    conflict("lora_alpha", a.alpha != spec.alpha, "lora_alpha = " + std::to_string(a.alpha));
    conflict("use_rslora", a.rslora != spec.rslora, a.rslora ? "use_rslora = true" : "use_rslora = false");
    std::string names;
    for (const auto& t : a.target_names()) names += (names.empty() ? "" : ",") + t;
    conflict("lora_targets", a.targets != spec.targets, "targets " + names);
    o.lora_r = a.r, o.lora_alpha = a.alpha, o.use_rslora = a.rslora, o.lora_targets = a.target_names();
  }
  if (ref_ad) {
    if (!o.needs_reference())
      throw Error("ref_adapter is set but " + o.objective + " uses no reference model", "ref_adapter",
                  "drop ref_adapter (it applies to dpo and kto)");
    (void)model->lora_spec_of(*ref_ad);  // throws naming the key when it does not fit this model
  }
  const std::int64_t spe = steps_per_epoch(data.size(), o.batch_size, o.grad_accum);
  const std::int64_t total = o.max_steps > 0 ? o.max_steps : o.epochs * spe;
  const std::int64_t warmup = schedule_warmup_steps(o.warmup_ratio, o.warmup_steps, total);
  const json resolved = train_options_to_json(o);

  // Resume: the newest complete checkpoint, with the same trajectory settings.
  std::int64_t start = 0;
  fs::path resume_dir;
  if (req.resume) {
    auto cks = list_checkpoints(out);
    if (cks.empty())
      throw Error("no checkpoint to resume", (out / "checkpoints").string(),
                  "--resume continues a run that saved checkpoints (save_steps > 0); run without it to start");
    if (fs::exists(out / "config.yaml")) {
      json saved = Config::load(out / "config.yaml").root();
      for (const auto& k : train_trajectory_keys())
        if (saved.contains(k) && saved[k] != resolved[k])
          throw Error("config key '" + k + "' was " + saved[k].dump() + " in the run being resumed, now " + resolved[k].dump(),
                      (out / "config.yaml").string(), "resume with the same settings (or start a new --out)");
    }
    start = cks.back().first;
    resume_dir = cks.back().second;
  }

  // 2. Model state.
  torch::manual_seed(o.seed);
  spec.dropout = o.lora_dropout;
  const bool full = o.finetuning_type == "full";
  if (full) {
    model->full_init();
  } else if (init_ad) {
    model->lora_init(spec, o.seed);  // carries the dropout into lora_load
    model->lora_load(*init_ad);
  } else {
    model->lora_init(spec, o.seed);
  }
  init_ad.reset();
  if (ref_ad) model->set_reference(*ref_ad);
  ref_ad.reset();
  if (!resume_dir.empty()) {
    if (full) model->full_load(resume_dir);
    else model->lora_load(*model::LoraAdapter::load(resume_dir));
  }
  // Created after every lora_load: the optimiser holds the flat buffers.
  FlatAdamW opt(model->flat_params(), model->flat_grads(), {o.adam_beta1, o.adam_beta2, o.adam_epsilon, o.weight_decay});
  std::vector<json> log;
  if (!resume_dir.empty()) {
    opt.load(resume_dir / "optimizer.safetensors");
    load_rng(resume_dir / "rng_state.safetensors");
    if (fs::exists(out / "metrics.jsonl")) {
      JsonlReader r(out / "metrics.jsonl");
      json row;
      while (r.next(row))
        if (row.value("step", std::int64_t{0}) <= start) log.push_back(row);
    }
  }

  // 3. Outputs begin here.
  fs::create_directories(out);
  {
    Config c(resolved);
    json& root = c.root();
    root["model"] = base_model_name(req.model_dir);
    root["data"] = base_model_name(req.data);
    c.save(out / "config.yaml");
  }
  RefScores ref;
  const std::string label = "train " + o.objective;
  if (o.needs_reference()) {
    const json fp = ref_fingerprint(req, data);
    if (!load_ref_cache(out / "ref_logps.json", fp, ref)) {
      ref = compute_reference(*model, data, o, true);
      save_ref_cache(out / "ref_logps.json", fp, ref);
    }
  }
  {  // metrics.jsonl restarts from the rows up to the resumed step
    std::string text;
    for (const auto& row : log) text += row.dump() + "\n";
    write_file_atomic(out / "metrics.jsonl", text);
  }
  std::ofstream metrics(out / "metrics.jsonl", std::ios::app);

  Objective objective(o, *model, data, ref);
  const auto lengths = example_lengths(data);
  std::int64_t plan_epoch_no = -1;
  std::vector<StepPlan> plan;
  StepBar bar(label, total);
  TrainSummary sum;
  sum.out = out;
  sum.total_steps = total;
  sum.resumed_from = start;
  sum.examples = data.size();
  sum.dropped_long = data.dropped_long;
  const std::string base_name = base_model_name(req.model_dir);
  const auto t0 = Clock::now();
  const std::int64_t log_every = bar.on() ? o.logging_steps : std::max<std::int64_t>(o.logging_steps, std::max<std::int64_t>(1, total / 20));
  for (std::int64_t step = start; step < total; ++step) {
    const auto ts = Clock::now();
    const double cpu0 = process_cpu_seconds();
    const std::int64_t epoch = step / spe;
    if (epoch != plan_epoch_no) {
      plan = plan_epoch(lengths, o.batch_size, o.grad_accum, o.seed, epoch, o.group_by_length);
      plan_epoch_no = epoch;
    }
    const StepPlan& sp = plan[static_cast<std::size_t>(step % spe)];
    const double denom = objective.denominator(sp);
    Acc acc;
    opt.zero_grad();
    for (const auto& mb : sp.micro) {
      torch::Tensor loss = objective.micro(mb, denom, true, acc);
      loss.backward();
    }
    const double grad_norm = opt.clip_grad_norm(o.max_grad_norm);
    const double lr = o.lr * schedule_lr_lambda(o.lr_scheduler, step, warmup, total);
    opt.step(lr);
    const double secs = std::chrono::duration<double>(Clock::now() - ts).count();
    const double loss = acc.loss / denom;
    json row = {{"step", step + 1},
                {"epoch", static_cast<double>(step + 1) / static_cast<double>(spe)},
                {"loss", loss},
                {"lr", lr},
                {"grad_norm", grad_norm},
                {"tokens", acc.input_tokens},
                {"tokens_per_s", secs > 0 ? static_cast<double>(acc.input_tokens) / secs : 0.0},
                {"step_seconds", secs},
                {"cpu_seconds", process_cpu_seconds() - cpu0}};
    const json extra = metrics_of(o.objective, acc);
    for (const auto& [k, v] : extra.items()) row[k] = v;
    metrics << row.dump() << "\n";
    metrics.flush();
    log.push_back(row);
    if (!std::isfinite(loss))
      throw Error("the loss became " + std::to_string(loss) + " at step " + std::to_string(step + 1), out.string(),
                  "lower lr, check the data; the last checkpoint is in checkpoints/");
    sum.tokens += acc.input_tokens;
    if (step == start) sum.first_loss = loss;
    sum.last_loss = loss;
    sum.steps = step + 1;
    bar.draw(step + 1, start, loss, lr, row["tokens_per_s"].get<double>());
    if (!bar.on() && ((step + 1) % log_every == 0 || step + 1 == total))
      spdlog::info("{} step {}/{} loss {:.4f} lr {:.3g} grad_norm {:.3g} {:.0f} tok/s", label, step + 1, total, loss, lr,
                   grad_norm, row["tokens_per_s"].get<double>());
    if (o.save_steps > 0 && (step + 1) % o.save_steps == 0 && step + 1 < total)
      save_checkpoint(out, step + 1, *model, opt, base_name, trainer_state(step + 1, total, spe, o, log), o.save_total_limit);
  }
  bar.finish();
  metrics.close();
  sum.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!log.empty()) sum.last_metrics = log.back();
  // 4. The adapter (or, fully fine-tuned, the model) and the final state.
  if (full) model->full_save(out);
  else model->lora_save(out, base_name);
  json state = trainer_state(total, total, spe, o, log);
  state["train_runtime"] = sum.seconds;
  state["train_tokens"] = sum.tokens;
  state["examples"] = sum.examples;
  state["dropped_long"] = sum.dropped_long;
  state["dropped_long_rows"] = data.dropped_where;
  write_json_file(out / "trainer_state.json", state);
  if (o.save_steps > 0)
    save_checkpoint(out, total, *model, opt, base_name, trainer_state(total, total, spe, o, log), o.save_total_limit);
  return sum;
}

// ---- eval ------------------------------------------------------------------------------------------------

json EvalResult::to_json() const {
  json j = {{"objective", objective}, {"loss", loss}, {"metrics", metrics}};
  if (objective == "sft") j["n_tokens"] = n_tokens, j["n_examples"] = n_examples;
  else if (objective == "kto") j["n_examples"] = n_examples;
  else j["n_pairs"] = n_pairs;
  if (dropped_long) j["dropped_long"] = dropped_long;
  return j;
}

EvalResult train_eval(const EvalRequest& req) {
  const TrainOptions& o = req.options;
  apply_runtime(o.threads);
  auto tokenizer = maybe_tokenizer(req.model_dir);
  Dataset data = read_data(req.data, o, tokenizer.get());
  auto model = TrainModel::load(req.model_dir, o.dtype, o.device);
  if (!req.adapter.empty()) model->lora_load(*open_adapter(req.adapter.string(), "--adapter"));
  if (!req.ref_adapter.empty()) {
    if (!o.needs_reference())
      throw Error("--ref-adapter is set but " + o.objective + " uses no reference model", "--ref-adapter",
                  "drop it (it applies to dpo and kto)");
    model->set_reference(*open_adapter(req.ref_adapter.string(), "--ref-adapter"));
  }
  RefScores ref;
  if (o.needs_reference()) ref = compute_reference(*model, data, o, false);
  Objective objective(o, *model, data, ref);
  torch::NoGradGuard ng;
  Acc acc;
  if (data.kind == DataKind::kto) {  // in dataset order: the KL rows were paired within these chunks
    const std::size_t b = static_cast<std::size_t>(o.batch_size);
    for (std::size_t s = 0; s < data.size(); s += b) {
      std::vector<std::size_t> mb;
      for (std::size_t i = s; i < std::min(data.size(), s + b); ++i) mb.push_back(i);
      objective.micro(mb, 1.0, false, acc);
    }
  } else {
    for (const auto& mb : plan_eval(example_lengths(data), eval_batch(o))) objective.micro(mb, 1.0, false, acc);
  }
  EvalResult r;
  r.objective = o.objective;
  r.dropped_long = data.dropped_long;
  r.metrics = metrics_of(o.objective, acc);
  if (o.objective == "sft") {
    r.n_tokens = acc.tokens;
    r.n_examples = acc.n;
    r.loss = acc.tokens ? acc.loss / static_cast<double>(acc.tokens) : 0.0;
  } else {
    (o.objective == "kto" ? r.n_examples : r.n_pairs) = acc.n;
    r.loss = acc.n ? acc.loss / static_cast<double>(acc.n) : 0.0;
  }
  return r;
}

}  // namespace ecpo::train
