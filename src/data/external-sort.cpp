// External merge sort, spill folder, run files and key/payload encodings (see external-sort.h).
#include "data/external-sort.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace fs = std::filesystem;

namespace ecpo::data {

namespace {

int compare_bytes(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  if (n) {
    int c = std::memcmp(a.data(), b.data(), n);
    if (c) return c;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

std::uint64_t key_prefix(std::string_view k) {
  unsigned char b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(b, k.data(), std::min<std::size_t>(8, k.size()));
  std::uint64_t v = 0;
  for (unsigned char c : b) v = v << 8 | c;
  return v;
}

const char* kDiskHint = "free disk space, or pass --tmp DIR on a disk with more room";

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// SpillDir

namespace {
std::string host_name() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "host";
  std::string h(host);
  for (char& c : h)
    if (c == '-' || c == '/' || c == '.') c = '_';
  return h;
}
}  // namespace

SpillDir::SpillDir(const fs::path& parent, const std::string& tag) {
  std::error_code ec;
  fs::create_directories(parent, ec);
  // Folders of earlier runs on this host that were killed before they could clean up: "<prefix><pid>-XXXXXX"
  // whose process no longer exists. Others (live, or another host's) are left alone.
  const std::string prefix = ".ecpo-" + tag + "-" + host_name() + "-";
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove_all(e.path(), ignored);
    }
  }
  std::string tmpl = (parent / (prefix + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw Error(std::string("cannot create a temp folder: ") + std::strerror(errno), parent.string(),
                "pass --tmp DIR with a writable folder");
  path_ = tmpl;
}

SpillDir::~SpillDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path SpillDir::new_file(const std::string& stem) { return path_ / (stem + "." + std::to_string(counter_++)); }

OutputDirGuard::OutputDirGuard(const fs::path& dir) : dir_(dir) {
  std::error_code ec;
  created_ = !fs::exists(dir_, ec);
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create directory: " + ec.message(), dir_.string());
}

OutputDirGuard::~OutputDirGuard() {
  std::error_code ec;
  if (!done_ && created_ && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
}

// ---------------------------------------------------------------------------------------------------------
// Run files

RunWriter::RunWriter(fs::path path, std::size_t buffer) : path_(std::move(path)), cap_(std::max<std::size_t>(buffer, 4096)) {
  f_ = std::fopen(path_.c_str(), "wb");
  if (!f_) throw Error(std::string("cannot open for writing: ") + std::strerror(errno), path_.string(), kDiskHint);
  buf_.reserve(cap_);
}

RunWriter::~RunWriter() {
  if (f_) std::fclose(f_);
}

void RunWriter::add(std::string_view key, std::string_view payload) {
  put_varint(buf_, key.size());
  put_varint(buf_, payload.size());
  buf_.append(key);
  buf_.append(payload);
  ++records_;
  if (buf_.size() >= cap_) flush();
}

void RunWriter::flush() {
  if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
    throw Error(std::string("write failed: ") + std::strerror(errno), path_.string(), kDiskHint);
  buf_.clear();
}

void RunWriter::close() {
  if (!f_) return;
  flush();
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fclose(f) != 0) throw Error(std::string("close failed: ") + std::strerror(errno), path_.string(), kDiskHint);
}

RunReader::RunReader(fs::path path, std::size_t buffer)
    : path_(std::move(path)), buf_(new char[std::max<std::size_t>(buffer, 4096)]), cap_(std::max<std::size_t>(buffer, 4096)) {
  f_ = std::fopen(path_.c_str(), "rb");
  if (!f_) throw Error(std::string("cannot open a temp file: ") + std::strerror(errno), path_.string());
}

RunReader::~RunReader() {
  if (f_) std::fclose(f_);
}

bool RunReader::fill(std::size_t need) {
  if (len_ - pos_ >= need) return true;
  std::memmove(buf_.get(), buf_.get() + pos_, len_ - pos_);
  len_ -= pos_;
  pos_ = 0;
  while (len_ < need && len_ < cap_) {
    std::size_t n = std::fread(buf_.get() + len_, 1, cap_ - len_, f_);
    if (n == 0) {
      if (std::ferror(f_)) throw Error(std::string("read failed: ") + std::strerror(errno), path_.string());
      break;
    }
    len_ += n;
  }
  return len_ - pos_ >= need;
}

bool RunReader::next() {
  fill(20);  // two varints at most
  if (pos_ == len_) return false;
  Cursor c(std::string_view(buf_.get() + pos_, len_ - pos_));
  const std::uint64_t ks = c.varint(), ps = c.varint();
  const std::size_t head = c.position();
  const std::size_t total = head + ks + ps;
  if (total <= cap_) {
    if (!fill(total)) throw Error("truncated temp file", path_.string());
    const char* p = buf_.get() + pos_ + head;
    key_ = {p, ks};
    payload_ = {p + ks, ps};
    pos_ += total;
    return true;
  }
  // Larger than the buffer: gather it in big_.
  big_.resize(ks + ps);
  pos_ += head;
  std::size_t got = std::min<std::size_t>(len_ - pos_, big_.size());
  std::memcpy(big_.data(), buf_.get() + pos_, got);
  pos_ += got;
  if (got < big_.size()) {
    std::size_t n = std::fread(big_.data() + got, 1, big_.size() - got, f_);
    if (n != big_.size() - got) throw Error("truncated temp file", path_.string());
  }
  key_ = {big_.data(), ks};
  payload_ = {big_.data() + ks, ps};
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// ExternalSorter

struct ExternalSorter::Merge {
  std::vector<std::unique_ptr<RunReader>> readers;
  std::vector<std::size_t> heap;  // reader indexes; front = smallest (key, index)
  bool started = false;

  bool greater(std::size_t a, std::size_t b) const {  // heap order: "a after b"
    int c = compare_bytes(readers[a]->key(), readers[b]->key());
    return c > 0 || (c == 0 && a > b);
  }
  void open(const std::vector<fs::path>& runs, std::size_t buffer) {
    for (const auto& p : runs) readers.push_back(std::make_unique<RunReader>(p, buffer));
    for (std::size_t i = 0; i < readers.size(); ++i)
      if (readers[i]->next()) heap.push_back(i);
    auto cmp = [this](std::size_t a, std::size_t b) { return greater(a, b); };
    std::make_heap(heap.begin(), heap.end(), cmp);
  }
  // Moves to the next record; the current one is readers[heap.front()].
  bool next() {
    auto cmp = [this](std::size_t a, std::size_t b) { return greater(a, b); };
    if (started && !heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      std::size_t i = heap.back();
      heap.pop_back();
      if (readers[i]->next()) {
        heap.push_back(i);
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    }
    started = true;
    return !heap.empty();
  }
  const RunReader& top() const { return *readers[heap.front()]; }
};

ExternalSorter::ExternalSorter(SpillDir& dir, std::string name, SortOptions options)
    : dir_(dir), name_(std::move(name)), opt_(options) {
  opt_.fan_in = std::max<std::size_t>(opt_.fan_in, 2);
  opt_.memory = std::max<std::size_t>(opt_.memory, 1024);
}

ExternalSorter::~ExternalSorter() {
  merge_.reset();
  std::error_code ec;
  for (const auto& r : runs_) fs::remove(r, ec);
}

char* ExternalSorter::reserve(std::size_t n) {
  const std::size_t chunk = std::clamp<std::size_t>(opt_.memory / 16, 4096, 8u << 20);
  if (chunk_index_ >= chunks_.size() || chunk_used_ + n > chunks_[chunk_index_].size) {
    // Next chunk: reuse one kept from before the last spill when it is big enough, else allocate.
    if (chunk_index_ < chunks_.size() && chunk_used_ > 0) ++chunk_index_;
    if (chunk_index_ < chunks_.size() && chunks_[chunk_index_].size < n) chunks_.resize(chunk_index_);
    if (chunk_index_ >= chunks_.size()) {
      const std::size_t size = std::max(chunk, n);
      chunks_.push_back({std::unique_ptr<char[]>(new char[size]), size});
    }
    chunk_used_ = 0;
  }
  char* p = chunks_[chunk_index_].data.get() + chunk_used_;
  chunk_used_ += n;
  return p;
}

void ExternalSorter::add(std::string_view key, std::string_view payload) {
  if (finished_) throw Error("internal: add() after finish()", name_);
  const std::size_t need = key.size() + payload.size();
  // Entries count twice: the index itself and stable_sort's scratch copy (or the vector's spare capacity).
  if (!entries_.empty() && buffered_bytes_ + need + 2 * sizeof(Entry) > opt_.memory) spill();
  char* p = reserve(need);
  if (!key.empty()) std::memcpy(p, key.data(), key.size());
  if (!payload.empty()) std::memcpy(p + key.size(), payload.data(), payload.size());
  entries_.push_back({key_prefix(key), p, static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(payload.size())});
  buffered_bytes_ += need + 2 * sizeof(Entry);
  ++added_;
}

void ExternalSorter::sort_buffer() {
  auto less = [](const Entry& a, const Entry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return compare_bytes({a.data, a.key_size}, {b.data, b.key_size}) < 0;
  };
  if (std::is_sorted(entries_.begin(), entries_.end(), less)) return;
  if (opt_.stable) std::stable_sort(entries_.begin(), entries_.end(), less);
  else std::sort(entries_.begin(), entries_.end(), less);
}

void ExternalSorter::clear_buffer(bool release) {
  entries_.clear();
  chunk_index_ = 0;
  chunk_used_ = 0;
  buffered_bytes_ = 0;
  if (release) {  // reading from now on: give the memory back
    entries_.shrink_to_fit();
    chunks_.clear();
  }
}

void ExternalSorter::spill() {
  sort_buffer();
  RunWriter w(dir_.new_file(name_), opt_.io_buffer);
  for (const Entry& e : entries_) w.add({e.data, e.key_size}, {e.data + e.key_size, e.payload_size});
  w.close();
  runs_.push_back(w.path());
  ++runs_written_;
  clear_buffer(/*release=*/finished_);  // while adding, keep the chunks and index for the next run
}

void ExternalSorter::finish() {
  if (finished_) return;
  finished_ = true;
  if (runs_.empty()) {  // everything fits: sort in memory, no files
    sort_buffer();
    return;
  }
  if (!entries_.empty()) spill();
  clear_buffer(/*release=*/true);
  // Merge consecutive groups (keeps equal keys in insertion order) until one final merge suffices.
  while (runs_.size() > opt_.fan_in) {
    std::vector<fs::path> next;
    for (std::size_t i = 0; i < runs_.size(); i += opt_.fan_in) {
      std::vector<fs::path> group(runs_.begin() + static_cast<std::ptrdiff_t>(i),
                                  runs_.begin() + static_cast<std::ptrdiff_t>(std::min(i + opt_.fan_in, runs_.size())));
      if (group.size() == 1) {
        next.push_back(group[0]);
        continue;
      }
      Merge m;
      m.open(group, opt_.io_buffer);
      RunWriter w(dir_.new_file(name_), opt_.io_buffer);
      while (m.next()) w.add(m.top().key(), m.top().payload());
      w.close();
      ++runs_written_;
      m.readers.clear();
      std::error_code ec;
      for (const auto& p : group) fs::remove(p, ec);
      next.push_back(w.path());
    }
    runs_ = std::move(next);
    ++merge_passes_;
  }
  merge_ = std::make_unique<Merge>();
  merge_->open(runs_, opt_.io_buffer);
}

bool ExternalSorter::next(std::string_view& key, std::string_view& payload) {
  if (!finished_) finish();
  if (!merge_) {
    if (mem_pos_ >= entries_.size()) return false;
    const Entry& e = entries_[mem_pos_++];
    key = {e.data, e.key_size};
    payload = {e.data + e.key_size, e.payload_size};
    return true;
  }
  if (!merge_->next()) return false;
  key = merge_->top().key();
  payload = merge_->top().payload();
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Encodings

KeyWriter& KeyWriter::str(std::string_view s) {
  if (std::memchr(s.data(), 0, s.size()) == nullptr) {
    out_.append(s);
  } else {
    for (char c : s) {
      out_ += c;
      if (c == 0) out_ += '\xff';
    }
  }
  out_ += '\0';
  out_ += '\x01';
  return *this;
}

KeyWriter& KeyWriter::u64(std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  return *this;
}

KeyWriter& KeyWriter::i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v) ^ (1ull << 63)); }

std::string_view KeyReader::str(std::string& scratch) {
  const std::size_t start = pos_;
  std::size_t i = pos_;
  bool escaped = false;
  for (;;) {
    const void* z = std::memchr(s_.data() + i, 0, s_.size() - i);
    if (!z) throw Error("internal: corrupt sort key");
    i = static_cast<std::size_t>(static_cast<const char*>(z) - s_.data());
    if (i + 1 >= s_.size()) throw Error("internal: corrupt sort key");
    if (s_[i + 1] == '\x01') break;
    escaped = true;
    i += 2;
  }
  pos_ = i + 2;
  if (!escaped) return s_.substr(start, i - start);
  scratch.clear();
  for (std::size_t j = start; j < i; ++j) {
    scratch += s_[j];
    if (s_[j] == 0) ++j;  // skip the 0xFF escape
  }
  return scratch;
}

std::uint64_t KeyReader::u64() {
  if (pos_ + 8 > s_.size()) throw Error("internal: corrupt sort key");
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(s_[pos_++]);
  return v;
}

std::int64_t KeyReader::i64() { return static_cast<std::int64_t>(u64() ^ (1ull << 63)); }

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void put_double(std::string& out, double v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

std::uint64_t Cursor::varint() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= s_.size()) throw Error("internal: corrupt record");
    const auto b = static_cast<unsigned char>(s_[pos_++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw Error("internal: corrupt record");
}

double Cursor::f64() {
  if (pos_ + 8 > s_.size()) throw Error("internal: corrupt record");
  double v;
  std::memcpy(&v, s_.data() + pos_, 8);
  pos_ += 8;
  return v;
}

std::string_view Cursor::bytes() {
  const std::uint64_t n = varint();
  if (pos_ + n > s_.size()) throw Error("internal: corrupt record");
  std::string_view v = s_.substr(pos_, n);
  pos_ += n;
  return v;
}

}  // namespace ecpo::data
