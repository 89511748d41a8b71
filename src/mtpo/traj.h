// Trajectory-level baselines (paper §3, Fig. 5): no pairs, whole trajectories as the signal.
//   traj-sft  SFT rows from every agent call of every successful episode of the run (the SGPT row rules of
//             ecpo/sgpt.h: exact prompts re-rendered in the serving template, invalid outputs and re-asks out)
//   traj-kto  KTO rows (TRL unpaired): the agent calls of successful episodes desirable, of unsuccessful
//             ones undesirable — desirable rows first
// The cost is the source run's (no extra sampling); `pairs` in cost.json counts rows.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "ecpo/run-reader.h"

namespace ecpo::mtpo {

struct TrajResult {
  std::size_t rows = 0, desirable = 0, undesirable = 0;
  nlohmann::json report;
};

// Writes `out` (JSONL). `format`: ecpo | trl | llamafactory (traj-sft); `prompt`: the serving prompt variant.
// Throws ecpo::Error, writing nothing, when there is no row to write.
TrajResult traj_sft(const pref::RunData& run, const std::filesystem::path& out, const std::string& format,
                    const std::string& prompt);
TrajResult traj_kto(const pref::RunData& run, const std::filesystem::path& out, const std::string& prompt);

}  // namespace ecpo::mtpo
