// Helpers for the agent tests: deps over the bundled sample, a fake server with a script, and running
// turns on a hand-made dialogue.
#pragma once
#include <memory>

#include "agent/agent.h"
#include "episode/sample-fixture.h"
#include "llm/fake-server.h"
#include "retrieval/index.h"
#include "sim/catalog.h"

namespace ecpo::test {

struct AgentEnv {
  std::shared_ptr<sim::ItemCatalog> catalog;
  std::unique_ptr<retrieval::Retriever> retriever;
  agent::AgentDeps deps() const {
    agent::AgentDeps d;
    d.domain = "book";
    d.retriever = retriever.get();
    d.catalog = catalog.get();
    return d;
  }
};

inline AgentEnv agent_env() {
  const Sample& s = book_sample();
  AgentEnv e;
  e.catalog = std::make_shared<sim::ItemCatalog>(sim::ItemCatalog::load(s.tasks / "items.jsonl"));
  e.retriever = retrieval::open_retriever(s.index);
  return e;
}

inline std::unique_ptr<llm::FakeServer> fake_server(const std::vector<nlohmann::json>& sequence,
                                                    std::vector<llm::FakeScript::Rule> rules = {}) {
  llm::FakeServerOptions o;
  o.script.sequence = sequence;
  o.script.rules = std::move(rules);
  o.threads = 8;
  auto s = std::make_unique<llm::FakeServer>(o);
  s->start();
  return s;
}

}  // namespace ecpo::test
