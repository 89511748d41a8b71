// Streaming JSONL I/O. Readers take plain or gzip files (detected from content), one line at a time, in
// bounded memory, and report errors as file:line. Writers are atomic: rows go to a temp file that is
// renamed over the target on commit(); a writer destroyed without commit() removes its temp file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ecpo {

using json = nlohmann::json;

// Reads lines from a plain or .gz file (zlib reads both transparently).
class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its '\n' (and '\r'); false at end of file. Throws ecpo::Error on a read error.
  bool next(std::string& line);
  std::uint64_t line_number() const { return line_; }        // 1-based number of the last line returned
  std::uint64_t bytes_read() const { return bytes_; }         // uncompressed bytes returned so far
  const std::filesystem::path& path() const { return path_; }

 private:
  bool fill();
  std::filesystem::path path_;
  void* gz_ = nullptr;
  std::unique_ptr<char[]> buf_;
  std::size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  std::uint64_t line_ = 0, bytes_ = 0;
};

enum class BadLinePolicy { skip, fail };

// Reads one JSON value per line, skipping blank lines. A malformed line either throws ecpo::Error with
// file:line (BadLinePolicy::fail) or is reported to on_bad and skipped (BadLinePolicy::skip).
class JsonlReader {
 public:
  using BadLineHandler = std::function<void(const Error&)>;
  explicit JsonlReader(const std::filesystem::path& path, BadLinePolicy policy = BadLinePolicy::fail,
                       BadLineHandler on_bad = {});
  bool next(json& value);
  std::uint64_t line_number() const { return lines_.line_number(); }
  std::uint64_t bytes_read() const { return lines_.bytes_read(); }
  std::uint64_t bad_lines() const { return bad_; }
  const std::filesystem::path& path() const { return lines_.path(); }
  // "file:line" of the last value returned, for error messages about its content.
  std::string where() const;

 private:
  LineReader lines_;
  BadLinePolicy policy_;
  BadLineHandler on_bad_;
  std::string line_;
  std::uint64_t bad_ = 0;
};

// Writes one compact JSON value per line to a temp file; commit() renames it to the target path.
class JsonlWriter {
 public:
  explicit JsonlWriter(const std::filesystem::path& path);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  void write(const json& value);
  void write_line(std::string_view line);  // `line` must hold one JSON value and no newline
  void commit();
  std::uint64_t rows() const { return rows_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_, tmp_;
  std::FILE* f_ = nullptr;
  std::uint64_t rows_ = 0;
  bool committed_ = false;
};

// Parses a whole small JSON file with a file-located error on failure.
json read_json_file(const std::filesystem::path& path);
// Writes pretty JSON atomically.
void write_json_file(const std::filesystem::path& path, const json& value, int indent = 2);

}  // namespace ecpo
