// The resumable persona batch builder (see persona-build.h).
#include "sim/persona-build.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "data/records-io.h"
#include "llm/call-context.h"
#include "sim/persona.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/log.h"

namespace ecpo::sim {

namespace fs = std::filesystem;

PersonaBuildSummary build_personas(const PersonaBuildOptions& o, llm::RoleSet* roles) {
  require_exists(o.tasks / "users.jsonl", "users file", "pass the output directory of `ecpo tasks build` as --tasks");
  require_exists(o.tasks / "items.jsonl", "item database", "pass the output directory of `ecpo tasks build` as --tasks");
  if (!o.offline && (!roles || !roles->has("persona")))
    throw Error("the roles file has no role 'persona'", roles ? roles->config().source : "--roles",
                "add roles.persona, or pass --offline for rule-based personas");
  ItemCatalog catalog = ItemCatalog::load(o.tasks / "items.jsonl");
  std::string domain = o.domain.empty() ? catalog.domain() : o.domain;
  if (domain.empty()) throw Error("cannot tell the domain of the item database", (o.tasks / "items.jsonl").string(), "pass --domain");
  std::vector<data::User> users = data::read_users(o.tasks / "users.jsonl");
  if (o.limit > 0 && users.size() > o.limit) users.resize(o.limit);
  PersonaBuildSummary s;
  s.users = users.size();

  // What exists: a finished OUT and/or a partial file from a killed run.
  std::map<std::string, Persona> have;
  if (fs::exists(o.out)) have = read_personas(o.out);
  const fs::path partial = fs::path(o.out.string() + ".partial");
  if (fs::exists(partial)) {
    JsonlReader r(partial, BadLinePolicy::skip);  // a line cut by the kill is skipped
    nlohmann::json j;
    while (r.next(j)) {
      try {
        Persona p = persona_from_json(j, r.where());
        have[p.user_id] = p;
      } catch (const Error&) {
      }
    }
  }
  std::vector<const data::User*> todo;
  for (const auto& u : users)
    if (have.count(u.user_id)) s.kept++;
    else todo.push_back(&u);
  if (todo.empty() && fs::exists(o.out) && !fs::exists(partial)) {
    s.complete = true;
    return s;  // nothing to do
  }
  if (!o.out.parent_path().empty()) fs::create_directories(o.out.parent_path());
  std::FILE* f = std::fopen(partial.string().c_str(), "ab");
  if (!f) throw Error("cannot append to the partial personas file", partial.string(), "check the directory is writable");
  std::mutex mu;
  std::atomic<std::size_t> next{0};
  std::shared_ptr<llm::ChatModel> model;
  llm::ChatParams params;
  if (!o.offline) {
    model = roles->model("persona");
    params = roles->spec("persona").params;
  }
  auto worker = [&] {
    for (;;) {
      std::size_t k = next.fetch_add(1);
      if (k >= todo.size()) return;
      const data::User& u = *todo[k];
      try {
        llm::CallContextScope scope({"persona:" + u.user_id, -1, "", false});
        Persona p = o.offline ? build_persona_offline(u, catalog, domain)
                              : build_persona_llm(*model, params, u, catalog, domain, o.token_budget);
        std::string line = to_json(p).dump() + "\n";
        std::lock_guard lk(mu);
        std::fwrite(line.data(), 1, line.size(), f);
        std::fflush(f);
        have[p.user_id] = std::move(p);
        s.built++;
      } catch (const std::exception& ex) {
        std::lock_guard lk(mu);
        s.failed++;
        s.failures.push_back(u.user_id + ": " + ex.what());
      }
    }
  };
  std::vector<std::thread> threads;
  std::size_t n = std::max<std::size_t>(1, std::min(o.concurrency, todo.size()));
  for (std::size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  std::fclose(f);
  if (s.failed) {
    spdlog::warn("{} of {} personas failed; rerun the same command to retry them", s.failed, todo.size());
    return s;
  }
  // Every user done: OUT in user order (personas of users beyond --limit that OUT held are kept after them).
  JsonlWriter w(o.out);
  std::set<std::string> written;
  for (const auto& u : users) {
    w.write(to_json(have.at(u.user_id)));
    written.insert(u.user_id);
  }
  for (const auto& [id, p] : have)
    if (!written.count(id)) w.write(to_json(p));
  w.commit();
  fs::remove(partial);
  s.complete = true;
  return s;
}

}  // namespace ecpo::sim
