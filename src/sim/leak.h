// Target leakage (defect D3, protocol §14): a simulated user must not name the target before the agent
// has recommended it. A leak is detected in the UTTERANCE only (never the private reason) by fuzzy title
// match; the caller regenerates once, and if the retry still leaks, the sentences naming the target are
// redacted. Each step is recorded as an event; the episode is never dropped.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace ecpo::sim {

// Removes every sentence of `utterance` that names `title` (match >= threshold); when nothing is left,
// returns `fallback`.
std::string redact_title(const std::string& utterance, const std::string& title, double threshold,
                         const std::string& fallback);

// Checks `utterance`; on a leak calls `regenerate` once and checks again, then redacts. Appends
// {type:"leak", score, action:"regenerated"|"redacted", original} to `events`. Returns the utterance to use.
std::string guard_leak(const std::string& utterance, const std::string& title, double threshold,
                       const std::function<std::string()>& regenerate, const std::string& fallback,
                       nlohmann::json& events);

}  // namespace ecpo::sim
