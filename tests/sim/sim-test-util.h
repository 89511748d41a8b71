// Helpers for the simulator tests: a task view over the bundled sample and a fake server with a script.
#pragma once
#include <memory>

#include "data/records-io.h"
#include "episode/sample-fixture.h"
#include "llm/fake-server.h"
#include "sim/catalog.h"
#include "sim/user-sim.h"

namespace ecpo::test {

struct SimEnv {
  std::shared_ptr<sim::ItemCatalog> catalog;
  std::vector<data::Task> tasks;
  std::vector<data::User> users;
  sim::TaskView view(std::size_t i, std::optional<sim::Persona> persona = std::nullopt) const {
    sim::TaskView v;
    v.task_id = tasks[i].task_id;
    v.domain = "book";
    v.target = catalog->at(tasks[i].target_item_id);
    v.catalog = catalog.get();
    v.seed = 1000 + i;
    v.persona = persona;
    return v;
  }
};

inline const SimEnv& sim_env() {
  static SimEnv e = [] {
    const Sample& s = book_sample();
    SimEnv x;
    x.catalog = std::make_shared<sim::ItemCatalog>(sim::ItemCatalog::load(s.tasks / "items.jsonl"));
    x.tasks = data::read_tasks(s.tasks / "tasks_test.jsonl");
    x.users = data::read_users(s.tasks / "users.jsonl");
    return x;
  }();
  return e;
}

inline std::unique_ptr<llm::FakeServer> scripted_server(const std::vector<nlohmann::json>& sequence) {
  llm::FakeServerOptions o;
  o.script.sequence = sequence;
  o.threads = 8;
  auto s = std::make_unique<llm::FakeServer>(o);
  s->start();
  return s;
}

inline sim::Persona test_persona(const std::string& user_id) {
  sim::Persona p;
  p.user_id = user_id;
  p.activities = "ACTIVITIES-MARKER Efficiency-Seeking";
  p.interests = "INTERESTS-MARKER";
  p.language = {"DENSITY-MARKER", "STYLE-MARKER", "TONE-MARKER"};
  p.orientations = "ORIENTATIONS-MARKER";
  p.interaction_type = "efficiency";
  p.source = "llm";
  return p;
}

}  // namespace ecpo::test
