// Stage stamps and content fingerprints (SHA-256 through OpenSSL's EVP interface, files read in 1 MiB
// blocks so large datasets never sit in memory).
#include "pipeline/stamp.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>

#include <openssl/evp.h>

#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;

namespace ecpo::pipeline {

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(std::string_view s) { EVP_DigestUpdate(ctx_.get(), s.data(), s.size()); }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void field(std::string_view s) {
    const std::string n = std::to_string(s.size()) + ":";
    update(n);
    update(s);
  }
  void file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error("cannot read file for fingerprinting", p.string());
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0) update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
    }
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
      out.push_back(d[md[i] >> 4]);
      out.push_back(d[md[i] & 15]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

bool hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

// Every regular file at or below `p`, sorted, skipping dot-files and dot-directories.
std::vector<fs::path> files_below(const fs::path& p) {
  std::vector<fs::path> out;
  if (fs::is_regular_file(p)) {
    out.push_back(p);
  } else if (fs::is_directory(p)) {
    for (auto it = fs::recursive_directory_iterator(p); it != fs::recursive_directory_iterator(); ++it) {
      if (hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) out.push_back(it->path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Outside inputs (raw dumps, a student's multi-GB weights) are hashed once per (path, size, mtime): in memory
// for this process, and in a cache file when set_external_hash_cache names one (the run tree's), so a rerun of
// a finished pipeline does not read gigabytes again. A file rewritten in place changes its mtime.
struct ExternalCache {
  std::mutex mu;
  fs::path file;
  nlohmann::json entries = nlohmann::json::object();  // path → {size, mtime_ns, sha256}
};
ExternalCache& external_cache() {
  static ExternalCache c;
  return c;
}

std::string file_digest(const fs::path& f) {
  const auto size = fs::file_size(f);
  const auto mtime = static_cast<long long>(fs::last_write_time(f).time_since_epoch().count());
  const std::string key = fs::absolute(f).lexically_normal().string();
  ExternalCache& c = external_cache();
  {
    std::lock_guard lk(c.mu);
    if (auto it = c.entries.find(key); it != c.entries.end() && it->value("size", 0ULL) == size &&
                                        it->value("mtime_ns", 0LL) == mtime)
      return (*it)["sha256"].get<std::string>();
  }
  Sha256 h;
  h.file(f);
  const std::string d = h.hex();
  std::lock_guard lk(c.mu);
  c.entries[key] = {{"size", size}, {"mtime_ns", mtime}, {"sha256", d}};
  if (!c.file.empty()) {
    try {
      write_file_atomic(c.file, c.entries.dump());
    } catch (const std::exception&) {  // a cache that cannot be written only costs time
    }
  }
  return d;
}

}  // namespace

void set_external_hash_cache(const fs::path& file) {
  ExternalCache& c = external_cache();
  std::lock_guard lk(c.mu);
  c.file = file;
  if (fs::exists(file)) {
    try {
      auto j = nlohmann::json::parse(read_file(file));
      if (j.is_object()) c.entries.update(j);
    } catch (const std::exception&) {  // unreadable: start afresh
    }
  }
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex();
}

std::string hash_paths(const fs::path& root, const std::vector<std::string>& relative_paths) {
  Sha256 h;
  std::vector<std::string> rels = relative_paths;
  std::sort(rels.begin(), rels.end());
  for (const auto& rel : rels) {
    const fs::path p = root / rel;
    h.field(rel);
    if (!fs::exists(p)) {
      h.field("<absent>");
      continue;
    }
    for (const auto& f : files_below(p)) {
      h.field(fs::relative(f, root).generic_string());
      h.field(std::to_string(fs::file_size(f)));
      h.file(f);
    }
  }
  return h.hex();
}

std::string hash_external(const std::vector<fs::path>& paths) {
  Sha256 h;
  for (const auto& p : paths) {
    h.field(p.generic_string());
    if (!fs::exists(p)) {
      h.field("<absent>");
      continue;
    }
    for (const auto& f : files_below(p)) {
      h.field(fs::relative(f, fs::is_directory(p) ? p : p.parent_path()).generic_string());
      h.field(file_digest(f));
    }
  }
  return h.hex();
}

std::optional<Stamp> stamp_read(const fs::path& stage_dir) {
  const fs::path f = stage_dir / kStampFile;
  if (!fs::exists(f)) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(read_file(f));
    Stamp s;
    s.stage = j.at("stage").get<std::string>();
    s.fingerprint = j.at("fingerprint").get<std::string>();
    s.outputs_hash = j.at("outputs_hash").get<std::string>();
    s.seconds = j.value("seconds", 0.0);
    s.finished_at = j.value("finished_at", "");
    s.summary = j.value("summary", nlohmann::json::object());
    return s;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged stamp is no stamp: the stage reruns
  }
}

void stamp_write(const fs::path& stage_dir, const Stamp& s) {
  nlohmann::json j = {{"stage", s.stage},           {"fingerprint", s.fingerprint},
                      {"outputs_hash", s.outputs_hash}, {"seconds", s.seconds},
                      {"finished_at", s.finished_at}, {"summary", s.summary}};
  write_file_atomic(stage_dir / kStampFile, j.dump(2) + "\n");
}

}  // namespace ecpo::pipeline
