// CLI verb `ecpo chat` (see commands.h): a person plays the user against any agent in the terminal.
//   ecpo chat --agent A --task ID --tasks DIR --index DIR [--roles FILE] [--out RUNDIR] [--turns N]
//             [--top-k K] [--no-scores] [key=value]...
// The agent's replies stream as they are generated (searches shown as "(searching: ...)"); after each
// reply the person may score it (EC 0-5 + reason). The episode is stored in RUNDIR/run.db and exported to
// trajectories.jsonl like a simulated one (user "human"), so human-rated turns feed the ECPO stages.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "agent/agent.h"
#include "data/records-io.h"
#include "episode/run-store.h"
#include "episode/runner.h"
#include "episode/simulate.h"
#include "llm/roles.h"
#include "retrieval/index.h"
#include "sim/catalog.h"
#include "sim/human-user.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"

#include <cctype>

namespace ecpo::cli {

namespace {

// Prints a generated action as it streams: "Ask[...]" → "agent> ..." (the closing ']' held back and
// dropped), "Search[...]" → "  (searching: ...)", anything else as it comes.
class ReplyPrinter {
 public:
  void feed(std::string_view delta) {
    for (char c : delta) {
      if (state_ == State::undecided) {
        buf_ += c;
        if (c == '[') {
          std::string kw = to_lower_ascii(trim(buf_.substr(0, buf_.size() - 1)));
          state_ = kw == "search" ? State::search : State::action;
          std::fputs(state_ == State::search ? "  (searching: " : "agent> ", stdout);
        } else if (!std::isalpha(static_cast<unsigned char>(c)) && c != ' ') {
          state_ = State::plain;
          std::fputs(("agent> " + buf_).c_str(), stdout);
        }
      } else if (state_ == State::plain) {
        std::fputc(c, stdout);
      } else if (c == ']') {
        held_ += c;
      } else {
        std::fputs(held_.c_str(), stdout);
        held_.clear();
        std::fputc(c, stdout);
      }
    }
    std::fflush(stdout);
  }
  void finish() {
    if (state_ == State::undecided && !buf_.empty()) std::fputs(("agent> " + buf_).c_str(), stdout);
    if (held_.size() > 1) std::fputs(held_.substr(1).c_str(), stdout);  // a title's own brackets
    std::fputs(state_ == State::search ? ")\n" : "\n", stdout);
    std::fflush(stdout);
  }

 private:
  enum class State { undecided, plain, action, search };
  State state_ = State::undecided;
  std::string buf_, held_;
};

// Streams every free-text agent call through a ReplyPrinter (structured calls are not shown).
class StreamingModel : public llm::ChatModel {
 public:
  explicit StreamingModel(std::shared_ptr<llm::ChatModel> inner) : inner_(std::move(inner)) {}
  llm::ChatResult chat(const std::vector<llm::Message>& m, const llm::ChatParams& p) override {
    if (!p.json_schema.is_null()) return inner_->chat(m, p);
    ReplyPrinter printer;
    llm::ChatParams q = p;
    q.on_delta = [&](std::string_view d) {
      printer.feed(d);
      return true;
    };
    auto r = inner_->chat(m, q);
    printer.finish();
    return r;
  }
  std::string model_name() const override { return inner_->model_name(); }

 private:
  std::shared_ptr<llm::ChatModel> inner_;
};

// A rule agent does not generate: its reply is printed after the turn.
class PrintingAgent : public agent::Agent {
 public:
  explicit PrintingAgent(std::unique_ptr<agent::Agent> inner) : inner_(std::move(inner)) {}
  std::string kind() const override { return inner_->kind(); }
  agent::AgentTurn act(const sim::Dialogue& d) override {
    agent::AgentTurn t = inner_->act(d);
    for (const auto& s : t.steps)
      if (!s.query.empty()) std::printf("  (searching: %s)\n", s.query.c_str());
    std::printf("agent> %s\n", t.reply.c_str());
    return t;
  }

 private:
  std::unique_ptr<agent::Agent> inner_;
};

struct ChatOpts {
  std::string agent, task, tasks, index, roles, out = "runs/chat";
  int turns = 10;
  std::size_t top_k = 5;
  bool no_scores = false;
  std::vector<std::string> overrides;
};

void run_chat(const ChatOpts& o) {
  namespace fs = std::filesystem;
  if (!agent::agent_known(o.agent))
    throw Error("unknown agent '" + o.agent + "'", "--agent", "use actcrs, react, chatrec, macrs or rule");
  require_exists(fs::path(o.tasks) / "items.jsonl", "item database", "pass an `ecpo tasks build` directory as --tasks");
  data::Task task;
  bool found = false;
  for (const char* split : {"test", "train"}) {
    fs::path f = fs::path(o.tasks) / (std::string("tasks_") + split + ".jsonl");
    if (!fs::exists(f) || found) continue;
    for (auto& t : data::read_tasks(f))
      if (t.task_id == o.task) {
        task = t;
        found = true;
        break;
      }
  }
  if (!found) throw Error("no task '" + o.task + "'", o.tasks, "task ids are the task_id fields of tasks_test.jsonl / tasks_train.jsonl");
  sim::ItemCatalog catalog = sim::ItemCatalog::load(fs::path(o.tasks) / "items.jsonl");
  auto retriever = retrieval::open_retriever(o.index);
  agent::AgentDeps deps;
  deps.domain = catalog.domain();
  deps.retriever = retriever.get();
  deps.catalog = &catalog;
  deps.options.top_k = o.top_k;
  for (const auto& kv : o.overrides)
    if (starts_with(kv, "agent.prompt=")) deps.options.prompt = kv.substr(13);
  std::unique_ptr<llm::RoleSet> roles;
  std::vector<std::string> role_overrides;
  for (const auto& kv : o.overrides)
    if (!starts_with(kv, "agent.")) role_overrides.push_back(kv);
  std::string model_name = "rule";
  auto calls = std::make_shared<llm::MemoryCallSink>();
  if (agent::agent_uses_llm(o.agent)) {
    fs::path rp = o.roles.empty() ? llm::default_roles_path() : fs::path(o.roles);
    llm::RoleSetOptions rso;
    rso.sink = calls;
    roles = std::make_unique<llm::RoleSet>(llm::load_roles(rp, role_overrides), rso);
    if (!roles->has("agent")) throw Error("the roles file has no role 'agent'", rp.string(), "add roles.agent");
    deps.model = std::make_shared<StreamingModel>(roles->model("agent"));
    deps.params = roles->spec("agent").params;
    model_name = deps.model->model_name();
  }
  std::unique_ptr<agent::Agent> ag = agent::make_agent(o.agent, deps);
  if (!agent::agent_uses_llm(o.agent)) ag = std::make_unique<PrintingAgent>(std::move(ag));
  const data::Item& target = catalog.at(task.target_item_id);
  std::printf("You play a user looking for:\n  %s\n  %s\nChat with the %s agent. Type /end to finish.%s\n\n",
              target.title.c_str(), sim::item_line(target, 300).c_str(), o.agent.c_str(),
              o.no_scores ? "" : " After each reply you may score it 0-5 (Enter skips).");
  auto user = sim::make_human_user(std::cin, std::cout, !o.no_scores);
  episode::RunStore store(o.out);
  std::size_t index = store.episode_count();
  episode::EpisodeSetup setup;
  setup.episode_id = "chat-" + std::to_string(index);
  setup.task_index = index;
  setup.task = task;
  setup.target = target;
  setup.agent_kind = o.agent;
  setup.user_kind = "human";
  setup.max_turns = o.turns;
  episode::EpisodeRecord rec = episode::run_episode(setup, *ag, *user);
  rec.models = {{"agent", model_name}, {"user_sim", "human"}, {"ec_rater", "human"}};
  rec.call_records = calls->records();
  store.commit_episode(rec);
  auto s = episode::export_run(o.out, roles ? roles->config().prices.get() : nullptr);
  std::printf("\n%s%s. Saved to %s (%zu conversations there).\n", rec.success ? "The agent found it" : "Not found",
              rec.failed ? (" (failed: " + rec.error + ")").c_str() : "", o.out.c_str(), s.metrics.episodes);
}

}  // namespace

void register_chat_commands(CLI::App& app) {
  auto o = std::make_shared<ChatOpts>();
  auto* chat = app.add_subcommand("chat", "play the user yourself against an agent in the terminal");
  chat->add_option("--agent", o->agent, "actcrs, react, chatrec, macrs or rule")->required();
  chat->add_option("--task", o->task, "task_id (from tasks_test.jsonl or tasks_train.jsonl)")->required();
  chat->add_option("--tasks", o->tasks, "tasks directory (ecpo tasks build)")->required();
  chat->add_option("--index", o->index, "retrieval index directory")->required();
  chat->add_option("--roles", o->roles, "roles YAML (the agent role)");
  chat->add_option("--out", o->out, "run directory the conversation is added to")->capture_default_str();
  chat->add_option("--turns", o->turns, "agent turns at most")->capture_default_str();
  chat->add_option("--top-k", o->top_k, "items per retrieval")->capture_default_str();
  chat->add_flag("--no-scores", o->no_scores, "do not ask for a score after each reply");
  chat->add_option("settings", o->overrides, "key=value: agent.prompt=..., roles.agent.model=...");
  chat->callback([o] { run_chat(*o); });
}

}  // namespace ecpo::cli
