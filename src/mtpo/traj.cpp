// Trajectory-level baselines (see traj.h).
#include "mtpo/traj.h"

#include "ecpo/formats.h"
#include "ecpo/sgpt.h"
#include "util/error.h"
#include "util/jsonl.h"

namespace ecpo::mtpo {

using nlohmann::json;

TrajResult traj_sft(const pref::RunData& run, const std::filesystem::path& out, const std::string& format,
                    const std::string& prompt) {
  pref::PromptConverter conv(run.domain, prompt);
  pref::RowStats st;
  std::vector<json> rows;
  std::size_t ok = 0;
  for (const auto& e : run.episodes) {
    if (!e.value("success", false) || e.value("failed", false)) continue;
    ok++;
    for (const auto& r : pref::episode_call_rows(e, conv, st)) rows.push_back(pref::sft_row(r, format));
  }
  if (rows.empty())
    throw Error("no successful episode with a trainable agent call: no traj-sft rows", run.dir.string(),
                "trajectory SFT trains on successful dialogues only");
  JsonlWriter w(out);
  for (const auto& r : rows) w.write(r);
  w.commit();
  TrajResult t;
  t.rows = t.desirable = rows.size();
  t.report = {{"successful_episodes", ok}, {"rows", pref::to_json(st)}, {"format", format}, {"prompt", prompt}};
  return t;
}

TrajResult traj_kto(const pref::RunData& run, const std::filesystem::path& out, const std::string& prompt) {
  pref::PromptConverter conv(run.domain, prompt);
  pref::RowStats good, bad;
  std::vector<json> pos, neg;
  std::size_t ok = 0, failed = 0;
  for (const auto& e : run.episodes) {
    const bool success = e.value("success", false) && !e.value("failed", false);
    (success ? ok : failed)++;
    for (const auto& r : pref::episode_call_rows(e, conv, success ? good : bad))
      (success ? pos : neg).push_back(pref::trl_kto_row(r.prompt, r.output, success));
  }
  if (pos.empty() || neg.empty())
    throw Error(std::string("traj-kto needs successful and unsuccessful episodes; this run has ") +
                    (pos.empty() ? "no successful" : "no unsuccessful") + " one with a trainable agent call",
                run.dir.string(), "simulate more tasks");
  JsonlWriter w(out);
  for (const auto& r : pos) w.write(r);
  for (const auto& r : neg) w.write(r);
  w.commit();
  TrajResult t;
  t.desirable = pos.size();
  t.undesirable = neg.size();
  t.rows = pos.size() + neg.size();
  t.report = {{"successful_episodes", ok},
              {"unsuccessful_episodes", failed},
              {"desirable_rows", pos.size()},
              {"undesirable_rows", neg.size()},
              {"rows_desirable", pref::to_json(good)},
              {"rows_undesirable", pref::to_json(bad)},
              {"prompt", prompt}};
  return t;
}

}  // namespace ecpo::mtpo
