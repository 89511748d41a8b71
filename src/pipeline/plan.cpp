// The stage table. Every stage is written as the `ecpo` commands a user would type; the recipe sections
// they read are documented in configs/pipeline-defaults.yaml.
#include "pipeline/plan.h"

#include <algorithm>

#include "util/config.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::pipeline {

namespace {

std::string str(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    std::string s = v.dump();
    return s;
  }
  return v.dump();
}

const json& section(const Recipe& r, const char* key) {
  static const json empty = json::object();
  const json* s = r.cfg.find(key);
  return s && s->is_object() ? *s : empty;
}

// The raw-dump file names `ecpo data synth` writes for a domain.
std::pair<std::string, std::string> synth_files(const std::string& domain) {
  if (domain == "book") return {"Books.jsonl", "meta_Books.jsonl"};
  if (domain == "game") return {"Video_Games.jsonl", "meta_Video_Games.jsonl"};
  if (domain == "yelp") return {"yelp_academic_dataset_review.json", "yelp_academic_dataset_business.json"};
  throw Error("unknown domain '" + domain + "'", "recipe key domain", "use book, game or yelp");
}

std::vector<std::string> string_list(const json& v, const std::string& key) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) throw Error("expected a file name or a list of them", "recipe key " + key);
  for (const auto& e : v) out.push_back(str(e));
  return out;
}

// key=value arguments for a verb that takes overrides (ecpo train): every key of the section except the
// ones the pipeline itself interprets.
void append_overrides(Argv& a, const json& sec, const std::vector<std::string>& skip) {
  for (const auto& [k, v] : sec.items()) {
    if (std::find(skip.begin(), skip.end(), k) != skip.end() || v.is_null()) continue;
    a.push_back(k + "=" + str(v));
  }
}

fs::path absolute_of(const fs::path& p) { return p.empty() ? p : fs::absolute(p).lexically_normal(); }

}  // namespace

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> n = {
      "data",  "tasks",     "personas", "index",     "sim-expert", "sgpt",      "student",     "train-sft",
      "sim-sgpt", "rewrite", "pairs",   "train-dpo", "test-base",  "test-sgpt", "test-ecpo",   "test-expert",
      "judge", "report"};
  return n;
}

std::string argv_display(const Argv& a) {
  std::string out = "ecpo";
  for (const auto& s : a) {
    out.push_back(' ');
    const bool plain = !s.empty() && s.find_first_of(" \t\n'\"$\\;&|<>()*?[]{}") == std::string::npos;
    if (plain) {
      out += s;
    } else {
      out.push_back('\'');
      for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out.push_back('\'');
    }
  }
  return out;
}

std::vector<Stage> plan_stages(const Recipe& r) {
  const std::string domain = r.cfg.get<std::string>("domain", "book");
  const std::string seed = std::to_string(r.cfg.get<long long>("seed", 7));
  const bool offline = r.offline;
  const fs::path roles = r.cfg.get<std::string>("roles", "");
  if (!offline && roles.empty())
    throw Error("an online recipe needs a roles file", "recipe key roles",
                "set roles: configs/roles.yaml, or offline: true for heuristic roles");

  const json& data = section(r, "data");
  const json& tasks = section(r, "tasks");
  const json& personas = section(r, "personas");
  const json& index = section(r, "index");
  const json& sim = section(r, "simulate");
  const json& splits = section(r, "splits");
  const json& expert = section(r, "expert");
  const json& student = section(r, "student");
  const json& sgpt = section(r, "sgpt");
  const json& train_sft = section(r, "train_sft");
  const json& rewrite = section(r, "rewrite");
  const json& pairs = section(r, "pairs");
  const json& train_dpo = section(r, "train_dpo");
  const json& judge = section(r, "judge");
  const json& report = section(r, "report");
  const json& evaluate = section(r, "evaluate");

  const std::string user = sim.value("user", std::string("ailo"));
  const std::string expert_agent = expert.value("agent", std::string("actcrs"));
  const std::string student_agent = student.value("agent", std::string("actcrs"));
  if (offline && user != "agenda")
    throw Error("offline recipes need the agenda user (simulate.user: agenda), not '" + user + "'",
                "recipe key simulate.user", "set offline: false and a roles file to use an LLM user");
  if (offline && expert_agent != "rule")
    throw Error("offline recipes need the rule expert (expert.agent: rule), not '" + expert_agent + "'",
                "recipe key expert.agent", "set offline: false and a roles file to use an LLM expert");
  const json roles_json = offline ? json(nullptr) : json(absolute_of(roles).string());
  const std::vector<fs::path> roles_external =
      offline ? std::vector<fs::path>{} : std::vector<fs::path>{absolute_of(roles)};
  const long long threads = r.cfg.get<long long>("threads", 0);

  std::vector<Stage> st;

  // ---- data ---------------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "data";
    s.outputs = {"items.jsonl", "users.jsonl"};
    s.config = {{"data", data}, {"domain", domain}, {"seed", seed}};
    const bool synth = data.contains("synth") && !data["synth"].is_null();
    std::vector<std::string> reviews = string_list(data.value("reviews", json()), "data.reviews");
    std::vector<std::string> meta = string_list(data.value("meta", json()), "data.meta");
    if (!synth && (reviews.empty() || meta.empty()))
      throw Error("no data: give data.synth, or data.reviews and data.meta", "recipe key data",
                  "e.g. data: {source: amazon2023, reviews: raw/Books.jsonl.gz, meta: raw/meta_Books.jsonl.gz}");
    for (const auto& f : reviews) s.external.push_back(absolute_of(f));
    for (const auto& f : meta) s.external.push_back(absolute_of(f));
    const std::string source = domain == "yelp" ? "yelp" : data.value("source", std::string("amazon2023"));
    s.what = synth ? "synthesise " + domain + " reviews, import them" : "import raw " + source + " dumps";
    const json syn = synth ? data["synth"] : json::object();
    const long long min_r = data.value("min_reviews", 0LL), max_r = data.value("max_reviews", 0LL);
    s.commands = [=, exts = s.external](const fs::path& work, const fs::path&, bool) {
      std::vector<Argv> cmds;
      Argv imp = {"data", "import", "--source", source, "--out", work.string(), "--domain", domain};
      if (synth) {
        Argv a = {"data", "synth", "--domain", domain, "--seed", seed, "--out", (work / "raw").string()};
        for (const auto& [k, v] : syn.items()) {
          std::string flag = k;
          std::replace(flag.begin(), flag.end(), '_', '-');
          a.push_back("--" + flag);
          a.push_back(str(v));
        }
        cmds.push_back(a);
        const auto [rf, mf] = synth_files(domain);
        imp.insert(imp.end(), {"--reviews", (work / "raw" / rf).string(), "--meta", (work / "raw" / mf).string()});
      } else {
        imp.push_back("--reviews");
        for (std::size_t i = 0; i < reviews.size(); ++i) imp.push_back(exts[i].string());
        imp.push_back("--meta");
        for (std::size_t i = 0; i < meta.size(); ++i) imp.push_back(exts[reviews.size() + i].string());
      }
      if (min_r > 0) imp.insert(imp.end(), {"--min-reviews", std::to_string(min_r)});
      if (max_r > 0) imp.insert(imp.end(), {"--max-reviews", std::to_string(max_r)});
      cmds.push_back(imp);
      return cmds;
    };
    st.push_back(std::move(s));
  }

  // ---- tasks --------------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "tasks";
    s.what = "users, targets and splits by the paper's protocol; the item database";
    s.deps = {"data"};
    s.config = {{"tasks", tasks}, {"seed", seed}};
    s.outputs = {"tasks_train.jsonl", "tasks_test.jsonl", "items.jsonl"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"tasks", "build", "--data", (run / "data").string(), "--out", work.string(), "--seed", seed};
      for (const auto& [k, v] : tasks.items()) {
        std::string flag = k;
        std::replace(flag.begin(), flag.end(), '_', '-');
        a.insert(a.end(), {"--" + flag, str(v)});
      }
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // ---- personas -----------------------------------------------------------------------------------------
  const bool personas_offline = offline || personas.value("offline", false);
  {
    Stage s;
    s.name = "personas";
    s.what = personas_offline ? "personas from the reviews by rules (heuristic)" : "personas by the persona role";
    s.deps = {"tasks"};
    s.config = {{"personas", personas}, {"offline", personas_offline}, {"roles", roles_json}};
    s.external = personas_offline ? std::vector<fs::path>{} : roles_external;
    s.outputs = {"personas.jsonl"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"persona", "build", "--tasks", (run / "tasks").string(), "--out", (work / "personas.jsonl").string()};
      if (personas_offline) a.push_back("--offline");
      else a.insert(a.end(), {"--roles", absolute_of(roles).string()});
      if (personas.value("limit", 0LL) > 0) a.insert(a.end(), {"--limit", str(personas["limit"])});
      if (!personas_offline && personas.contains("concurrency"))
        a.insert(a.end(), {"--concurrency", str(personas["concurrency"])});
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // ---- index --------------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "index";
    s.what = "retrieval index over the item database";
    s.deps = {"tasks"};
    s.config = {{"index", index}};
    s.outputs = {"index.json"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"index", "build", "--data", (run / "tasks").string(), "--out", work.string()};
      for (const auto& [k, v] : index.items()) {
        std::string flag = k;
        std::replace(flag.begin(), flag.end(), '_', '-');
        a.insert(a.end(), {"--" + flag, str(v)});
      }
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // A simulation stage: `agent` on `split`, tasks [offset, offset + limit), with the agent role either from
  // the recipe's roles file (the expert) or a generated roles file pointing at the student model (+ adapter).
  const long long sgpt_tasks = splits.value("sgpt_tasks", 1000LL);
  const long long ecpo_tasks = splits.value("ecpo_tasks", 500LL);
  const long long test_tasks = splits.value("test_tasks", 100LL);
  const fs::path student_model = student.value("model", std::string(""));
  const bool student_init = student_model.empty();
  auto student_dir = [=](const fs::path& run) { return student_init ? run / "student" : absolute_of(student_model); };

  // The roles file of a student agent: the recipe's roles (online) with `agent` replaced by the local engine.
  // SGPT as full fine-tuning (train_sft.finetuning_type: full) makes train-sft a model directory: the SGPT and
  // ECPO students run on it (ECPO with its DPO adapter; DPO's reference is then that model, no ref_adapter).
  const bool sft_full = section(r, "train_sft").value("finetuning_type", std::string("lora")) == "full";
  auto student_roles = [=](const fs::path& run, const std::string& adapter_stage, const std::string& model_stage) {
    json doc = json::object();
    if (!offline) {
      doc = Config::load(roles).root();
      // Paths inside a roles file are relative to it: pin them before the file moves.
      const fs::path base = absolute_of(roles).parent_path();
      if (doc.contains("prices") && doc["prices"].is_string() && fs::path(doc["prices"].get<std::string>()).is_relative())
        doc["prices"] = (base / doc["prices"].get<std::string>()).lexically_normal().string();
    }
    json agent = {{"backend", "local"},
                  {"model", model_stage.empty() ? student_dir(run).string() : (run / model_stage).string()},
                  {"params", {{"temperature", 0.0}, {"max_tokens", student.value("max_tokens", 96LL)}}}};
    if (!adapter_stage.empty()) agent["adapter"] = (run / adapter_stage).string();
    if (student.contains("chat_template") && !student["chat_template"].get<std::string>().empty())
      agent["chat_template"] = student["chat_template"];
    if (threads > 0) agent["threads"] = threads;
    doc["roles"]["agent"] = agent;
    if (offline) doc["cache"] = {{"enabled", false}};
    return json_to_yaml(doc);
  };

  auto simulate_stage = [&](const std::string& name, const std::string& what, const std::string& split,
                            long long offset, long long limit, const std::string& agent,
                            const std::string& adapter_stage, bool is_student, std::vector<std::string> deps,
                            const std::string& model_stage = "") {
    Stage s;
    s.name = name;
    s.what = what;
    s.resumable = true;
    deps.insert(deps.begin(), {"tasks", "personas", "index"});
    s.deps = deps;
    s.config = {{"simulate", sim},   {"split", split},           {"offset", offset}, {"limit", limit},
                {"agent", agent},    {"student", is_student},    {"seed", seed},     {"roles", roles_json},
                {"student_cfg", is_student ? student : json()}, {"expert_cfg", is_student ? json() : expert}};
    s.external = roles_external;
    s.outputs = {"trajectories.jsonl", "metrics.json"};
    s.hashed = {"trajectories.jsonl"};
    if (is_student)
      s.files = [=](const fs::path& run) {
        return std::vector<std::pair<std::string, std::string>>{{name + ".roles.yaml", student_roles(run, adapter_stage, model_stage)}};
      };
    s.commands = [=](const fs::path& work, const fs::path& run, bool resume) {
      Argv a = {"simulate", "--tasks", (run / "tasks").string(), "--split", split, "--index",
                (run / "index").string(), "--agent", agent, "--user", user, "--personas",
                (run / "personas" / "personas.jsonl").string(), "--out", work.string(),
                "--limit", std::to_string(limit), "--seed", seed};
      if (offset > 0) a.insert(a.end(), {"--offset", std::to_string(offset)});
      if (is_student) a.insert(a.end(), {"--roles", (run / (name + ".roles.yaml")).string()});
      else if (!offline) a.insert(a.end(), {"--roles", absolute_of(roles).string()});
      for (const char* k : {"turns", "top_k", "concurrency"})
        if (sim.contains(k)) {
          std::string flag = k;
          std::replace(flag.begin(), flag.end(), '_', '-');
          a.insert(a.end(), {"--" + flag, str(sim[k])});
        }
      // key=value settings of `ecpo simulate`: the shared ones, then the expert's or the student's own.
      for (const auto& kv : string_list(sim.value("settings", json()), "simulate.settings")) a.push_back(kv);
      for (const auto& kv : string_list((is_student ? student : expert).value("settings", json()),
                                        is_student ? "student.settings" : "expert.settings"))
        a.push_back(kv);
      if (resume) a.push_back("--resume");
      return std::vector<Argv>{a};
    };
    return s;
  };

  // ---- the expert on the SGPT tasks -------------------------------------------------------------------------
  st.push_back(simulate_stage("sim-expert", "expert " + expert_agent + " × " + user + " on the SGPT train tasks",
                              "train", 0, sgpt_tasks, expert_agent, "", false, {}));

  // ---- sgpt ---------------------------------------------------------------------------------------------
  {
    // The rows keep the prompt variant the student is served with: sgpt.prompt, else the agent.prompt of the
    // student's simulations (simulate.settings, then student.settings, the later winning as on the command
    // line) — never the expert's own (a few-shot expert still trains a zero-shot student).
    std::string sgpt_prompt = sgpt.contains("prompt") ? str(sgpt["prompt"]) : "";
    if (sgpt_prompt.empty())
      for (const json* list : {&sim, &student})
        for (const auto& kv : string_list(list->value("settings", json()), "settings"))
          if (starts_with(kv, "agent.prompt=")) sgpt_prompt = kv.substr(13);
    Stage s;
    s.name = "sgpt";
    s.what = "SFT rows from the expert's successful episodes";
    s.deps = {"sim-expert"};
    s.config = {{"sgpt", sgpt}, {"prompt", sgpt_prompt}};
    s.outputs = {"sft.jsonl"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"sgpt", "--run", (run / "sim-expert").string(), "--out", (work / "sft.jsonl").string(), "--format",
                sgpt.value("format", std::string("ecpo"))};
      if (!sgpt_prompt.empty()) a.insert(a.end(), {"--prompt", sgpt_prompt});
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // ---- student ------------------------------------------------------------------------------------------
  if (student_init) {
    const json init = student.value("init", json::object());
    Stage s;
    s.name = "student";
    s.what = "a random student model (ecpo model init)";
    s.deps = {};
    if (init.value("corpus", std::string("")) == "sgpt") s.deps = {"sgpt"};
    s.config = {{"init", init}};
    s.outputs = {"config.json", "model.safetensors", "tokenizer.json"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"model", "init", "--out", work.string()};
      for (const auto& [k, v] : init.items()) {
        if (k == "corpus") {
          if (v == "sgpt") a.insert(a.end(), {"--corpus", (run / "sgpt" / "sft.jsonl").string()});
          else a.insert(a.end(), {"--corpus", absolute_of(str(v)).string()});
          continue;
        }
        std::string flag = k;
        std::replace(flag.begin(), flag.end(), '_', '-');
        a.insert(a.end(), {"--" + flag, str(v)});
      }
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }  // a student.model that is not there yet is refused when a stage needs it (run.cpp), not by the plan
  const std::vector<fs::path> student_external =
      student_init ? std::vector<fs::path>{} : std::vector<fs::path>{absolute_of(student_model)};
  const std::vector<std::string> student_deps =
      student_init ? std::vector<std::string>{"student"} : std::vector<std::string>{};

  // ---- train-sft ----------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "train-sft";
    s.what = sft_full ? "SGPT: SFT of every weight of the student on the SGPT rows (finetuning_type full)"
                      : "SGPT: LoRA SFT of the student on the SGPT rows";
    s.deps = {"sgpt"};
    s.deps.insert(s.deps.end(), student_deps.begin(), student_deps.end());
    s.config = {{"train_sft", train_sft}, {"threads", threads}};
    s.external = student_external;
    const std::string recipe_cfg = train_sft.value("config", std::string(""));
    if (!recipe_cfg.empty()) s.external.push_back(absolute_of(recipe_cfg));
    s.outputs = sft_full ? std::vector<std::string>{"config.json", "model.safetensors", "metrics.jsonl"}
                         : std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors", "metrics.jsonl"};
    s.hashed = sft_full ? std::vector<std::string>{"model.safetensors"}
                        : std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"train", "sft", "--model", student_dir(run).string(), "--data", (run / "sgpt" / "sft.jsonl").string(),
                "--out", work.string()};
      if (!recipe_cfg.empty()) a.insert(a.end(), {"--config", absolute_of(recipe_cfg).string()});
      if (threads > 0) a.push_back("threads=" + std::to_string(threads));
      append_overrides(a, train_sft, {"config"});
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // ---- the SGPT student on the ECPO tasks ----------------------------------------------------------------
  {
    std::vector<std::string> deps = student_deps;
    deps.push_back("train-sft");
    Stage s = simulate_stage("sim-sgpt", "SGPT student × " + user + " on the ECPO train tasks (forward EC)", "train",
                             sgpt_tasks, ecpo_tasks, student_agent, sft_full ? "" : "train-sft", true, deps,
                             sft_full ? "train-sft" : "");
    s.external.insert(s.external.end(), student_external.begin(), student_external.end());
    st.push_back(std::move(s));
  }

  // ---- rewrite ------------------------------------------------------------------------------------------
  const bool rewrite_offline = offline || rewrite.value("offline", false);
  {
    Stage s;
    s.name = "rewrite";
    s.what = rewrite_offline ? "backward expectation derivation (heuristic rewriter)"
                             : "backward expectation derivation (rewriter role)";
    s.deps = {"sim-sgpt"};
    s.config = {{"rewrite", rewrite}, {"offline", rewrite_offline}, {"roles", roles_json}};
    s.external = rewrite_offline ? std::vector<fs::path>{} : roles_external;
    s.outputs = {"pairs.jsonl", "rewrite-report.json"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      std::vector<std::string> lambdas;
      for (const auto& l : rewrite.value("lambda", json::array({1, 2, 3, 4, 5}))) lambdas.push_back(str(l));
      Argv a = {"rewrite", "--run", (run / "sim-sgpt").string(), "--lambda", join(lambdas, ","), "--out", work.string()};
      if (rewrite_offline) a.push_back("--offline");
      else a.insert(a.end(), {"--roles", absolute_of(roles).string()});
      if (rewrite.contains("concurrency")) a.insert(a.end(), {"--concurrency", str(rewrite["concurrency"])});
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // ---- pairs --------------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "pairs";
    s.what = "preference pairs at λ for DPO";
    s.deps = {"rewrite"};
    s.config = {{"pairs", pairs}};
    s.outputs = {"dpo.jsonl"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      return std::vector<Argv>{{"pairs", "export", "--pairs", (run / "rewrite" / "pairs.jsonl").string(), "--lambda",
                                str(pairs.value("lambda", json(5))), "--format",
                                pairs.value("format", std::string("trl-dpo")), "--out", (work / "dpo.jsonl").string()}};
    };
    st.push_back(std::move(s));
  }

  // ---- train-dpo ----------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "train-dpo";
    s.what = sft_full ? "ECPO: DPO (LoRA) on the SGPT model, reference = SGPT"
                      : "ECPO: DPO continuing the SGPT adapter, reference = SGPT";
    s.deps = {"pairs", "train-sft"};
    s.deps.insert(s.deps.end(), student_deps.begin(), student_deps.end());
    s.config = {{"train_dpo", train_dpo}, {"threads", threads}};
    s.external = student_external;
    const std::string recipe_cfg = train_dpo.value("config", std::string(""));
    if (!recipe_cfg.empty()) s.external.push_back(absolute_of(recipe_cfg));
    s.outputs = {"adapter_config.json", "adapter_model.safetensors", "metrics.jsonl"};
    s.hashed = {"adapter_config.json", "adapter_model.safetensors"};
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"train", "dpo", "--model", sft_full ? (run / "train-sft").string() : student_dir(run).string(),
                "--data", (run / "pairs" / "dpo.jsonl").string(), "--out", work.string()};
      if (!recipe_cfg.empty()) a.insert(a.end(), {"--config", absolute_of(recipe_cfg).string()});
      if (!sft_full) {
        a.push_back("ref_adapter=" + (run / "train-sft").string());
        a.push_back("init_adapter=" + (run / "train-sft").string());
      }
      if (threads > 0) a.push_back("threads=" + std::to_string(threads));
      append_overrides(a, train_dpo, {"config"});
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }

  // ---- evaluation on the test split ---------------------------------------------------------------------
  std::vector<std::string> agents;
  for (const auto& a : evaluate.value("agents", json::array({"base", "sgpt", "ecpo", "expert"})))
    agents.push_back(a.get<std::string>());
  for (const auto& who : agents) {
    if (who == "expert") {
      st.push_back(simulate_stage("test-expert", "expert " + expert_agent + " on the test tasks", "test", 0,
                                  test_tasks, expert_agent, "", false, {}));
      continue;
    }
    std::string adapter;
    std::vector<std::string> deps = student_deps;
    if (who == "sgpt") adapter = "train-sft";
    else if (who == "ecpo") adapter = "train-dpo";
    else if (who != "base")
      throw Error("unknown agent '" + who + "' in evaluate.agents", "recipe key evaluate.agents",
                  "use base, sgpt, ecpo and expert");
    if (!adapter.empty()) deps.push_back(adapter);
    std::string model_stage;
    if (sft_full && who != "base") {
      model_stage = "train-sft";
      if (who == "sgpt") adapter.clear();
      else deps.push_back("train-sft");
    }
    Stage s = simulate_stage("test-" + who, who + " student on the test tasks", "test", 0, test_tasks, student_agent,
                             adapter, true, deps, model_stage);
    s.external.insert(s.external.end(), student_external.begin(), student_external.end());
    st.push_back(std::move(s));
  }

  // ---- judge --------------------------------------------------------------------------------------------
  const bool judge_offline = offline || judge.value("offline", false);
  std::vector<std::string> judged;
  for (const auto& who : agents)
    if (who != "expert") judged.push_back(who);
  const bool has_expert = std::find(agents.begin(), agents.end(), "expert") != agents.end();
  if (has_expert && !judged.empty()) {
    Stage s;
    s.name = "judge";
    s.what = std::string("win rate against the expert") + (judge_offline ? " (heuristic judge)" : " (judge role)");
    for (const auto& who : judged) s.deps.push_back("test-" + who);
    s.deps.push_back("test-expert");
    s.config = {{"judge", judge}, {"offline", judge_offline}, {"roles", roles_json}};
    s.external = judge_offline ? std::vector<fs::path>{} : roles_external;
    for (const auto& who : judged) s.outputs.push_back(who + "/wr.json");
    s.commands = [=](const fs::path& work, const fs::path& run, bool) {
      std::vector<Argv> cmds;
      for (const auto& who : judged) {
        Argv a = {"judge", "--a", (run / ("test-" + who)).string(), "--b", (run / "test-expert").string(), "--out",
                  (work / who).string()};
        if (judge_offline) a.push_back("--offline");
        else a.insert(a.end(), {"--roles", absolute_of(roles).string()});
        if (judge.contains("concurrency")) a.insert(a.end(), {"--concurrency", str(judge["concurrency"])});
        cmds.push_back(a);
      }
      return cmds;
    };
    st.push_back(std::move(s));
  }

  // ---- report -------------------------------------------------------------------------------------------
  {
    Stage s;
    s.name = "report";
    s.what = "one self-contained HTML report";
    for (const auto& who : agents) s.deps.push_back("test-" + who);
    for (const char* d : {"judge", "rewrite", "train-sft", "train-dpo"})
      if (std::any_of(st.begin(), st.end(), [&](const Stage& x) { return x.name == d; })) s.deps.push_back(d);
    s.config = {{"report", report}};
    s.outputs = {"report.html"};
    s.commands = [=, deps = s.deps](const fs::path& work, const fs::path& run, bool) {
      Argv a = {"report"};
      for (const auto& d : deps) a.push_back((run / d).string());
      a.insert(a.end(), {"--out", (work / "report.html").string()});
      return std::vector<Argv>{a};
    };
    st.push_back(std::move(s));
  }
  return st;
}

}  // namespace ecpo::pipeline
