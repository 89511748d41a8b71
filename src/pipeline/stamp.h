// Stage stamps: the record a finished stage leaves in its directory (`.stage.json`), and the fingerprints
// that decide whether it is still up to date. A stage's fingerprint hashes its name, its part of the resolved
// config, the content hash of every upstream stage's outputs and of every outside input file. Its stamp also
// stores the content hash of its own outputs, so a downstream stage stays skipped when an upstream stage
// reran and produced the same bytes.
// Not here: deciding the order of stages or running them (run.h).
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo::pipeline {

struct Stamp {
  std::string stage;
  std::string fingerprint;   // of the inputs and config that produced the outputs
  std::string outputs_hash;  // of the outputs' bytes
  double seconds = 0;        // wall time of the run that produced it
  std::string finished_at;   // UTC, ISO 8601
  nlohmann::json summary = nlohmann::json::object();  // what the stage reported (counts, metrics)
};

inline constexpr const char* kStampFile = ".stage.json";

// SHA-256 of a byte string, lower-case hex.
std::string sha256_hex(std::string_view bytes);
// SHA-256 over the named files and directories (recursively, in sorted path order, each path relative to
// `root` hashed with its content; the stamp file itself and dot-files are skipped). Missing paths hash as
// absent, so they change the result.
std::string hash_paths(const std::filesystem::path& root, const std::vector<std::string>& relative_paths);
// SHA-256 of outside input files by content (a directory: every file below it). Each file's digest is reused
// while its size and mtime are unchanged (in memory, and in the cache file set below).
std::string hash_external(const std::vector<std::filesystem::path>& paths);
// Keeps external files' digests in `file` across processes (the pipeline uses runs/<name>/.external-hashes.json).
void set_external_hash_cache(const std::filesystem::path& file);

std::optional<Stamp> stamp_read(const std::filesystem::path& stage_dir);
void stamp_write(const std::filesystem::path& stage_dir, const Stamp& s);

}  // namespace ecpo::pipeline
