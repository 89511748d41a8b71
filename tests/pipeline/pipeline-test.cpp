// The pipeline runner's contract, with a stand-in binary (tests/assets/pipeline/fake-ecpo.sh) in place of
// ecpo: recipes resolve and refuse unknown keys; a second run skips everything; a changed key reruns exactly
// the stages that read it and, when their bytes are unchanged, nothing after them; a failing stage keeps
// the finished ones; a kill -9 mid-run then the same call ends with the same outputs as an uninterrupted run.
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/plan.h"
#include "pipeline/recipe.h"
#include "pipeline/run.h"
#include "llm/fake-server.h"
#include "pipeline/stamp.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"

namespace fs = std::filesystem;
using namespace ecpo::pipeline;

namespace {

bool ends_with_roles(const std::string& k) { return k.size() > 11 && k.compare(k.size() - 11, 11, ".roles.yaml") == 0; }

const fs::path kFake = fs::path(ECPO_TEST_ASSETS) / "pipeline" / "fake-ecpo.sh";

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ecpo-pipeline-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("ECPO_PIPELINE_DEFAULTS", (fs::path(ECPO_SOURCE_DIR) / "configs" / "pipeline-defaults.yaml").c_str(), 1);
    recipe_ = dir_ / "recipe.yaml";
    ecpo::write_file_atomic(recipe_, R"(name: t
offline: true
data: {synth: {users: 4}}
simulate: {user: agenda, turns: 3}
expert: {agent: rule}
student: {init: {preset: tiny}}
splits: {sgpt_tasks: 10, ecpo_tasks: 5, test_tasks: 4}
train_sft: {config: ""}
train_dpo: {config: ""}
)");
    ::unsetenv("FAKE_FAIL");
    ::unsetenv("FAKE_SLEEP");
    log_ = dir_ / "calls.log";
    ::setenv("FAKE_LOG", log_.c_str(), 1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Recipe load(std::vector<std::string> overrides = {}) {
    overrides.push_back("out_dir=" + (dir_ / "run").string());
    return recipe_load(recipe_, overrides);
  }
  std::vector<StageState> run(const Recipe& r) {
    RunOptions o;
    o.exe = kFake;
    o.echo = false;
    std::ostringstream out;
    return pipeline_run(r, plan_stages(r), o, out);
  }
  static std::map<std::string, std::string> states(const std::vector<StageState>& v) {
    std::map<std::string, std::string> m;
    for (const auto& s : v) m[s.name] = s.state;
    return m;
  }
  // Every output file of the run tree (stamps and logs aside), path → bytes.
  std::map<std::string, std::string> snapshot() {
    std::map<std::string, std::string> m;
    for (auto& e : fs::recursive_directory_iterator(dir_ / "run")) {
      const std::string rel = fs::relative(e.path(), dir_ / "run").string();
      if (!e.is_regular_file() || rel.rfind("logs", 0) == 0 || e.path().filename().string()[0] == '.' ||
          e.path().filename() == "metrics.json" || e.path().filename() == "metrics.jsonl")
        continue;
      m[rel] = ecpo::read_file(e.path());
    }
    return m;
  }
  int calls() {
    std::ifstream in(log_);
    int n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
  }

  fs::path dir_, recipe_, log_;
};

}  // namespace

TEST_F(PipelineTest, RecipeResolvesDefaultsAndOverrides) {
  Recipe r = load({"splits.test_tasks=2", "simulate.turns=4"});
  EXPECT_EQ(r.name, "t");
  EXPECT_TRUE(r.offline);
  EXPECT_EQ(r.cfg.get<int>("splits.test_tasks"), 2);
  EXPECT_EQ(r.cfg.get<int>("simulate.turns"), 4);
  EXPECT_EQ(r.cfg.get<int>("simulate.top_k"), 5);  // from the defaults file
  EXPECT_EQ(r.cfg.get<int>("tasks.min_reviews"), 30);
}

TEST_F(PipelineTest, UnknownKeysAreRefusedWithTheKnownOnes) {
  ecpo::write_file_atomic(recipe_, "name: t\nofline: true\n");
  try {
    load();
    FAIL() << "expected an error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ofline"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("offline"), std::string::npos) << e.what();
  }
  ecpo::write_file_atomic(recipe_, "name: t\noffline: true\ndata: {synth: {users: 4}}\n");
  EXPECT_THROW(recipe_load(recipe_, {"simulat.turns=3"}), ecpo::Error);
}

TEST_F(PipelineTest, OfflineRecipesRefuseLlmRoles) {
  EXPECT_THROW(plan_stages(load({"simulate.user=ailo"})), ecpo::Error);
  EXPECT_THROW(plan_stages(load({"expert.agent=actcrs"})), ecpo::Error);
}

TEST_F(PipelineTest, StagesComeInDependencyOrder) {
  const Recipe r = load();
  const auto stages = plan_stages(r);
  std::vector<std::string> names;
  for (const auto& s : stages) names.push_back(s.name);
  const std::vector<std::string> want = {"data",      "tasks",     "personas",  "index",     "sim-expert",
                                         "sgpt",      "student",   "train-sft", "sim-sgpt",  "rewrite",
                                         "pairs",     "train-dpo", "test-base", "test-sgpt", "test-ecpo",
                                         "test-expert", "judge",   "report"};
  EXPECT_EQ(names, want);
  for (std::size_t i = 0; i < stages.size(); ++i)
    for (const auto& d : stages[i].deps)
      EXPECT_NE(std::find(names.begin(), names.begin() + static_cast<long>(i), d), names.begin() + static_cast<long>(i))
          << stages[i].name << " depends on later stage " << d;
}

TEST_F(PipelineTest, SecondRunSkipsEverything) {
  const Recipe r = load();
  for (const auto& [name, st] : states(run(r))) EXPECT_EQ(st, "ran") << name;
  const int first = calls();
  EXPECT_GT(first, 18);
  for (const auto& [name, st] : states(run(r))) EXPECT_EQ(st, "up to date") << name;
  EXPECT_EQ(calls(), first);
  EXPECT_TRUE(fs::exists(dir_ / "run" / "config.yaml"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "report" / "report.html"));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "data.partial"));
}

TEST_F(PipelineTest, AChangedKeyRerunsOnlyWhatReadsIt) {
  run(load());
  // rewrite.concurrency changes the rewrite stage's config but not its bytes: only rewrite reruns.
  auto s = states(run(load({"rewrite.concurrency=3"})));
  EXPECT_EQ(s["rewrite"], "ran");
  EXPECT_EQ(s["pairs"], "up to date");
  EXPECT_EQ(s["sim-sgpt"], "up to date");
  EXPECT_EQ(s["data"], "up to date");
  // splits.test_tasks changes what the test simulations write: they and everything reading them rerun.
  s = states(run(load({"rewrite.concurrency=3", "splits.test_tasks=3"})));
  EXPECT_EQ(s["test-base"], "ran");
  EXPECT_EQ(s["test-expert"], "ran");
  EXPECT_EQ(s["judge"], "ran");
  EXPECT_EQ(s["report"], "ran");
  EXPECT_EQ(s["train-dpo"], "up to date");
}

TEST_F(PipelineTest, FromAndOnly) {
  const Recipe r = load();
  run(r);
  RunOptions o;
  o.exe = kFake;
  o.echo = false;
  o.only = "pairs";
  std::ostringstream out;
  auto s = states(pipeline_run(r, plan_stages(r), o, out));
  EXPECT_EQ(s["pairs"], "up to date");
  EXPECT_EQ(s["rewrite"], "not selected");
  o.only.clear();
  o.from = "judge";
  s = states(pipeline_run(r, plan_stages(r), o, out));
  EXPECT_EQ(s["judge"], "ran");
  EXPECT_EQ(s["report"], "ran");
  EXPECT_EQ(s["test-ecpo"], "up to date");
  o.from = "no-such-stage";
  EXPECT_THROW(pipeline_run(r, plan_stages(r), o, out), ecpo::Error);
}

TEST_F(PipelineTest, AFailedStageKeepsTheFinishedOnesAndTheRerunContinues) {
  ::setenv("FAKE_FAIL", "rewrite", 1);
  const Recipe r = load();
  try {
    run(r);
    FAIL() << "expected the rewrite stage to fail";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rewrite"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("logs/rewrite.log"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(stamp_read(dir_ / "run" / "sim-sgpt").has_value());
  EXPECT_FALSE(fs::exists(dir_ / "run" / "rewrite"));  // nothing half-written in place
  ::unsetenv("FAKE_FAIL");
  auto s = states(run(r));
  EXPECT_EQ(s["sim-sgpt"], "up to date");
  EXPECT_EQ(s["rewrite"], "ran");
  EXPECT_EQ(s["report"], "ran");
}

TEST_F(PipelineTest, KillMidRunThenSameCommandEndsWithTheSameOutputs) {
  // Reference: an uninterrupted run in another tree.
  const fs::path ref_dir = dir_ / "ref";
  {
    std::vector<std::string> ov = {"out_dir=" + (ref_dir / "run").string()};
    const Recipe r = recipe_load(recipe_, ov);
    RunOptions o;
    o.exe = kFake;
    o.echo = false;
    std::ostringstream out;
    pipeline_run(r, plan_stages(r), o, out);
  }
  ::setenv("FAKE_SLEEP", "simulate", 1);
  const Recipe r = load();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      run(r);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  // Wait until the first simulation is under way (its run.db exists), then kill -9 the pipeline.
  const fs::path db = dir_ / "run" / "sim-expert" / "run.db";
  for (int i = 0; i < 400 && !fs::exists(db); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_TRUE(fs::exists(db));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_FALSE(fs::exists(dir_ / "run" / "sim-expert" / "trajectories.jsonl"));
  ::unsetenv("FAKE_SLEEP");
  const int before = calls();
  auto s = states(run(r));
  EXPECT_EQ(s["index"], "up to date");
  EXPECT_EQ(s["sim-expert"], "ran");
  // The killed simulation was resumed, not restarted.
  std::ifstream in(log_);
  std::string line, sim_line;
  for (int i = 0; std::getline(in, line); ++i)
    if (i >= before && line.rfind("simulate", 0) == 0 && sim_line.empty()) sim_line = line;
  EXPECT_EQ(sim_line, "simulate resume=1");
  // Same outputs as the uninterrupted run.
  std::map<std::string, std::string> got = snapshot(), want;
  for (auto& e : fs::recursive_directory_iterator(ref_dir / "run")) {
    const std::string rel = fs::relative(e.path(), ref_dir / "run").string();
    if (!e.is_regular_file() || rel.rfind("logs", 0) == 0 || e.path().filename().string()[0] == '.' ||
        e.path().filename() == "metrics.json" || e.path().filename() == "metrics.jsonl")
      continue;
    want[rel] = ecpo::read_file(e.path());
  }
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [k, v] : want) {
    if (k == "config.yaml" || ends_with_roles(k)) continue;  // name their own run tree
    EXPECT_EQ(got[k], v) << k;
  }
}

// An online recipe probes every role before the first stage: a dead endpoint stops the run with one error that
// names the role, and nothing of the run tree's stages exists; a reachable one lets the stages run.
TEST_F(PipelineTest, OnlineRecipeChecksEveryRoleBeforeAnyStage) {
  ecpo::llm::FakeServer srv(ecpo::llm::FakeServerOptions{});
  srv.start();
  auto roles = [&](const std::string& name, const std::string& url) {
    const fs::path p = dir_ / name;
    ecpo::write_file_atomic(p, "defaults: {backend: openai, base_url: " + url +
                                   ", api_key_env: \"\", timeout_ms: 3000, retry: {max_attempts: 1}}\n"
                                   "roles:\n  agent: {model: fake-model}\n  judge: {model: no-such-model}\n");
    return p.string();
  };
  const std::vector<std::string> online = {"offline=false", "simulate.user=ailo", "expert.agent=actcrs"};
  auto with = [&](std::vector<std::string> v, const std::string& kv) {
    v.push_back(kv);
    return v;
  };
  // judge's model is not served: the run stops before the first stage, naming the role.
  Recipe bad = load(with(online, "roles=" + roles("bad.yaml", srv.base_url())));
  RunOptions o;
  o.exe = kFake;
  o.echo = false;
  std::ostringstream out;
  try {
    pipeline_run(bad, plan_stages(bad), o, out);
    FAIL() << "a role that cannot be reached must stop the pipeline";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("role 'judge'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "run" / "data")) << "no stage may start before every role answered";
  EXPECT_FALSE(fs::exists(dir_ / "run" / "data.partial"));
  EXPECT_FALSE(fs::exists(log_)) << "the stand-in binary was called";

  // A closed port: named too.
  Recipe dead = load(with(online, "roles=" + roles("dead.yaml", "http://127.0.0.1:1/v1")));
  EXPECT_THROW(pipeline_run(dead, plan_stages(dead), o, out), ecpo::Error);

  // Every role served: the check passes and the first stage runs.
  const fs::path good = dir_ / "good.yaml";
  ecpo::write_file_atomic(good, "defaults: {backend: openai, base_url: " + srv.base_url() +
                                    ", api_key_env: \"\", timeout_ms: 3000}\nroles:\n  agent: {model: fake-model}\n");
  Recipe ok = load(with(online, "roles=" + good.string()));
  o.only = "data";
  auto st = pipeline_run(ok, plan_stages(ok), o, out);
  EXPECT_EQ(states(st)["data"], "ran");
  EXPECT_NE(out.str().find("roles:"), std::string::npos);
}

// train_sft.finetuning_type: full makes train-sft a model directory: the SGPT student runs on it, ECPO's DPO trains
// LoRA on it (no ref/init adapter: its reference is that model), and the ECPO student is that model + the DPO adapter.
TEST_F(PipelineTest, FullSgptMakesTrainSftTheStudentsModel) {
  const Recipe r = load({"train_sft.finetuning_type=full"});
  const fs::path run = dir_ / "run";
  std::map<std::string, Stage> by;
  for (auto& s : plan_stages(r)) by[s.name] = s;
  EXPECT_EQ(by["train-sft"].outputs, (std::vector<std::string>{"config.json", "model.safetensors", "metrics.jsonl"}));
  const auto dpo = by["train-dpo"].commands(run / "work", run, false).at(0);
  const std::string line = ecpo::join(dpo, " ");
  EXPECT_NE(line.find("--model " + (run / "train-sft").string()), std::string::npos) << line;
  EXPECT_EQ(line.find("ref_adapter="), std::string::npos) << line;
  EXPECT_EQ(line.find("init_adapter="), std::string::npos) << line;
  auto roles_of = [&](const std::string& stage) { return by[stage].files(run).at(0).second; };
  EXPECT_NE(roles_of("test-sgpt").find("model: " + (run / "train-sft").string()), std::string::npos) << roles_of("test-sgpt");
  EXPECT_EQ(roles_of("test-sgpt").find("adapter:"), std::string::npos) << roles_of("test-sgpt");
  EXPECT_NE(roles_of("sim-sgpt").find("model: " + (run / "train-sft").string()), std::string::npos);
  EXPECT_NE(roles_of("test-ecpo").find("model: " + (run / "train-sft").string()), std::string::npos);
  EXPECT_NE(roles_of("test-ecpo").find("adapter: " + (run / "train-dpo").string()), std::string::npos);
  const auto& deps = by["test-ecpo"].deps;
  EXPECT_NE(std::find(deps.begin(), deps.end(), "train-sft"), deps.end());
  // the default (LoRA) keeps the adapter chain
  std::map<std::string, Stage> lora;
  for (auto& s : plan_stages(load())) lora[s.name] = s;
  const std::string l = ecpo::join(lora["train-dpo"].commands(run / "work", run, false).at(0), " ");
  EXPECT_NE(l.find("ref_adapter=" + (run / "train-sft").string()), std::string::npos) << l;
}
