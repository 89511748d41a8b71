// Streaming JSONL reader/writer (see jsonl.h). gzip via zlib's transparent gzread.
#include "util/jsonl.h"

#include "util/json-read.h"

#include <cerrno>
#include <cstring>
#include <zlib.h>

#include "util/fs.h"

namespace fs = std::filesystem;

namespace ecpo {
namespace {
constexpr std::size_t kBufSize = 1 << 18;
}

LineReader::LineReader(const fs::path& path) : path_(path), buf_(new char[kBufSize]) {
  if (!fs::exists(path))
    throw Error("file not found", path.string(), "check the path; .jsonl and .jsonl.gz are both accepted");
  if (fs::is_directory(path)) throw Error("expected a file, got a directory", path.string());
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) throw Error(std::string("cannot open: ") + std::strerror(errno), path.string());
  gzbuffer(gz, kBufSize);
  gz_ = gz;
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::fill() {
  if (eof_) return false;
  int n = gzread(static_cast<gzFile>(gz_), buf_.get(), static_cast<unsigned>(kBufSize));
  if (n < 0) {
    int errnum = 0;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &errnum);
    throw Error(std::string("read error: ") + (msg ? msg : "unknown"), error_location(path_.string(), line_ + 1),
                "the file may be truncated or not valid gzip");
  }
  if (n == 0) {
    // A truncated gzip stream reads as EOF with an error status; surface it.
    int errnum = 0;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END)
      throw Error(std::string("read error: ") + (msg ? msg : "unknown"),
                  error_location(path_.string(), line_ + 1), "the file may be truncated or not valid gzip");
    eof_ = true;
    return false;
  }
  pos_ = 0;
  len_ = static_cast<std::size_t>(n);
  return true;
}

bool LineReader::next(std::string& line) {
  line.clear();
  bool any = false;
  for (;;) {
    if (pos_ >= len_ && !fill()) break;
    any = true;
    const char* start = buf_.get() + pos_;
    const void* nl = std::memchr(start, '\n', len_ - pos_);
    if (nl) {
      std::size_t n = static_cast<const char*>(nl) - start;
      line.append(start, n);
      pos_ += n + 1;
      bytes_ += n + 1;
      ++line_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
    line.append(start, len_ - pos_);
    bytes_ += len_ - pos_;
    pos_ = len_;
  }
  if (!any || line.empty()) return false;
  ++line_;  // last line without a trailing newline
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

JsonlReader::JsonlReader(const fs::path& path, BadLinePolicy policy, BadLineHandler on_bad)
    : lines_(path), policy_(policy), on_bad_(std::move(on_bad)) {}

std::string JsonlReader::where() const { return error_location(lines_.path().string(), lines_.line_number()); }

bool JsonlReader::next(json& value) {
  while (lines_.next(line_)) {
    std::size_t i = line_.find_first_not_of(" \t");
    if (i == std::string::npos) continue;
    value = json::parse(line_, nullptr, /*allow_exceptions=*/false);
    if (!value.is_discarded()) return true;
    ++bad_;
    // Find the parse error text for the message.
    std::string detail;
    try {
      json ignored = json::parse(line_);
      (void)ignored;
    } catch (const json::exception& e) {  // a syntax error, or a number beyond double's range
      detail = e.what();
      auto p = detail.find("] ");
      if (p != std::string::npos) detail = detail.substr(p + 2);
    }
    Error err("malformed JSON line" + (detail.empty() ? std::string() : ": " + detail), where(),
              policy_ == BadLinePolicy::fail ? "fix or remove the line, or run without --strict to skip it"
                                             : "");
    if (policy_ == BadLinePolicy::fail) throw err;
    if (on_bad_) on_bad_(err);
  }
  return false;
}

JsonlWriter::JsonlWriter(const fs::path& path) : path_(path) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error("cannot create directory: " + ec.message(), path.parent_path().string());
  }
  tmp_ = temp_path_for(path);
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw Error(std::string("cannot open for writing: ") + std::strerror(errno), tmp_.string());
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 16);
}

JsonlWriter::~JsonlWriter() {
  if (f_) std::fclose(f_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void JsonlWriter::write_line(std::string_view line) {
  if (!f_) throw Error("write after commit", path_.string());
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fputc('\n', f_) == EOF)
    throw Error("write failed (disk full?)", tmp_.string());
  ++rows_;
}

void JsonlWriter::write(const json& value) {
  write_line(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

void JsonlWriter::commit() {
  if (committed_) return;
  if (std::fclose(f_) != 0) {
    f_ = nullptr;
    throw Error("close failed (disk full?)", tmp_.string());
  }
  f_ = nullptr;
  commit_temp_file(tmp_, path_);
  committed_ = true;
}

json read_json_file(const fs::path& path) {
  return parse_json_text(read_file(path), path.string());
}

void write_json_file(const fs::path& path, const json& value, int indent) {
  write_file_atomic(path, value.dump(indent, ' ', false, json::error_handler_t::replace) + "\n");
}

}  // namespace ecpo
