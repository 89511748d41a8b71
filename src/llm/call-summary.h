// Totals over call records, grouped by role, model, episode, turn (episode + turn) or preference pair:
// calls, cache hits, failures, retries, repairs, tokens, dollars, mean latency — what a run reports.
// Pure aggregation over records already stored; it reads no files and prices nothing itself.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "llm/call-log.h"
#include "util/table.h"

namespace ecpo::llm {

enum class CallGroup { role, model, episode, turn, pair, all };
CallGroup call_group_from_name(const std::string& name, const std::string& where);

struct CallTotals {
  std::string key;  // group value ("" = untagged calls); "episode#turn" for CallGroup::turn
  std::uint64_t calls = 0, cache_hits = 0, failures = 0, retries = 0, repairs = 0;
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0, latency_ms_sum = 0;
  double mean_latency_ms() const { return calls ? latency_ms_sum / static_cast<double>(calls) : 0; }
};

// One row per group value, sorted by key.
std::vector<CallTotals> summarize_calls(const std::vector<CallRecord>& records, CallGroup by);
// A printable table of those rows (plus a total row).
Table call_totals_table(const std::vector<CallTotals>& rows, const std::string& key_header);

}  // namespace ecpo::llm
