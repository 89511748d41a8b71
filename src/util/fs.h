// File-system helpers shared by every module: atomic whole-file writes (temp file + rename),
// reading a whole small file, and checking inputs exist with a clear ecpo::Error.
// Large inputs are never read whole: use util/jsonl.h streaming readers for those.
#pragma once
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace ecpo {

// Writes `content` to `path` atomically: a temp file in the same directory, fsync-free rename.
// Creates parent directories. Throws ecpo::Error on failure; never leaves a partial `path`.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Streaming variant for large binary files: `fill` writes the content to a temp file in the same directory,
// which is renamed over `path` once the stream is flushed without error. Exceptions from `fill` propagate
// after the temp file is removed.
void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::ostream&)>& fill);

// Renames a finished temp file (from temp_path_for) over `path`; on failure removes `tmp` and throws
// ecpo::Error naming `path`. The last step of every atomic writer.
void commit_temp_file(const std::filesystem::path& tmp, const std::filesystem::path& path);

// Reads a whole (small) file; throws ecpo::Error naming the file when it cannot.
std::string read_file(const std::filesystem::path& path);

// Throws ecpo::Error("<what> not found", path, hint) when `path` does not exist.
void require_exists(const std::filesystem::path& path, const std::string& what, const std::string& hint = {});

// A unique temp path next to `path` (same directory, so rename is atomic).
std::filesystem::path temp_path_for(const std::filesystem::path& path);

}  // namespace ecpo
