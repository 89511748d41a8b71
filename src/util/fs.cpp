// Atomic file writes and small-file reads (see fs.h).
#include "util/fs.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "util/error.h"

namespace fs = std::filesystem;

namespace ecpo {

fs::path temp_path_for(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  fs::path p = path;
  p += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  return p;
}

void commit_temp_file(const fs::path& tmp, const fs::path& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot rename temp file into place: " + ec.message(), path.string());
  }
}

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& fill) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error("cannot create directory: " + ec.message(), path.parent_path().string());
  }
  fs::path tmp = temp_path_for(path);
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(std::string("cannot open for writing: ") + std::strerror(errno), tmp.string());
    fill(out);
    out.flush();
    if (!out) throw Error("write failed (disk full?)", tmp.string());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  commit_temp_file(tmp, path);
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(content.data(), static_cast<std::streamsize>(content.size())); });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string("cannot open: ") + std::strerror(errno), path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void require_exists(const fs::path& path, const std::string& what, const std::string& hint) {
  if (!fs::exists(path)) throw Error(what + " not found", path.string(), hint);
}

}  // namespace ecpo
