// SGPT rows (see sgpt.h).
#include "ecpo/sgpt.h"

#include <algorithm>

#include "ecpo/formats.h"
#include "ecpo/run-reader.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::pref {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& sft_formats() {
  static const std::vector<std::string> v = {"ecpo", "trl", "llamafactory"};
  return v;
}

json to_json(const RowStats& s) {
  return {{"steps", s.steps},
          {"rows", s.rows},
          {"skipped_invalid", s.skipped_invalid},
          {"skipped_reask", s.skipped_reask},
          {"skipped_empty", s.skipped_empty},
          {"converted", s.converted},
          {"variants_seen", s.variants_seen}};
}

std::vector<CallRow> episode_call_rows(const json& e, const PromptConverter& conv, RowStats& st) {
  std::vector<CallRow> out;
  const std::string eid = e.value("episode_id", std::string());
  for (const auto& t : e["turns"]) {
    int si = 0;
    for (const auto& s : t["steps"]) {
      const int step = si++;
      st.steps++;
      const std::string kind = s.value("kind", std::string());
      if (!s.value("valid", true)) {
        st.skipped_invalid++;
        continue;
      }
      std::vector<llm::Message> msgs = llm::messages_from_json(s["agent_state"]["messages"]);
      const std::string output = s.value("output", std::string());
      if (msgs.empty() || output.empty()) {
        st.skipped_empty++;
        continue;
      }
      const bool grammar = kind == "action" || kind == "thought_action" || kind == "rule";
      if (grammar && std::any_of(msgs.begin(), msgs.end(), [](const llm::Message& m) { return m.role == "assistant"; })) {
        st.skipped_reask++;
        continue;
      }
      CallRow r;
      r.episode_id = eid;
      r.task_id = e.value("task_id", std::string());
      r.kind = kind;
      r.turn = t.value("index", 0);
      r.step = step;
      std::string from;
      r.prompt = conv.convert(msgs, kind, eid + " turn " + std::to_string(r.turn) + " step " + std::to_string(step), &from);
      if (!from.empty()) {
        st.variants_seen[from] = st.variants_seen.value(from, 0) + 1;
        if (from != conv.target() && conv.target() != "as-run") st.converted++;
      }
      r.output = output;
      st.rows++;
      out.push_back(std::move(r));
    }
  }
  return out;
}

json sft_row(const CallRow& r, const std::string& format) {
  if (format == "ecpo") {
    json j = ecpo_sft_row(r.prompt, r.output);
    j["episode_id"] = r.episode_id;
    j["task_id"] = r.task_id;
    j["turn"] = r.turn;
    j["step"] = r.step;
    return j;
  }
  if (format == "trl") return trl_sft_row(r.prompt, r.output);
  if (format == "llamafactory")
    return alpaca_sft_row(r.prompt, r.output, r.episode_id + " turn " + std::to_string(r.turn));
  throw Error("unknown SFT format '" + format + "'", "--format", "use ecpo, trl or llamafactory");
}

SgptSummary sgpt_build(const SgptOptions& o) {
  const auto& fm = sft_formats();
  if (std::find(fm.begin(), fm.end(), o.format) == fm.end())
    throw Error("unknown format '" + o.format + "'", "--format", "use ecpo, trl or llamafactory");
  RunData run = load_run(o.run);
  PromptConverter conv(run.domain, o.prompt);
  SgptSummary s;
  s.episodes = run.episodes.size();
  s.heuristic_roles = run.heuristic_roles;
  std::vector<json> rows;
  for (const auto& e : run.episodes) {
    if (!e.value("success", false) || e.value("failed", false)) continue;
    s.successful++;
    for (const auto& r : episode_call_rows(e, conv, s.stats)) rows.push_back(sft_row(r, o.format));
  }
  if (s.successful == 0)
    throw Error("the run has no successful episode (of " + std::to_string(s.episodes) + "): no SGPT rows written",
                o.run.string(), "SGPT trains on successful dialogues only; simulate more tasks or a stronger agent");
  if (rows.empty())
    throw Error("the successful episodes hold no trainable agent call", o.run.string(),
                "every output was invalid or empty; check the run's agent");
  JsonlWriter w(o.out);
  for (const auto& r : rows) w.write(r);
  w.commit();
  s.out = o.out;
  s.meta = fs::path(o.out).replace_extension(".meta.json");
  json meta{{"run", fs::absolute(o.run).lexically_normal().string()},
            {"format", o.format},
            {"prompt", o.prompt},
            {"episodes", s.episodes},
            {"successful_episodes", s.successful},
            {"rows", to_json(s.stats)},
            {"heuristic_roles", s.heuristic_roles}};
  if (o.format == "llamafactory") {
    s.dataset_info = write_dataset_info(fs::absolute(o.out).parent_path(), dataset_name_for(o.out),
                                        llamafactory_entry(o.out.filename().string(), DatasetKind::sft));
    meta["dataset_info"] = s.dataset_info.string();
  }
  write_json_file(s.meta, meta);
  return s;
}

}  // namespace ecpo::pref
