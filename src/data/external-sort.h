// Sorting more records than fit in memory (the import and the task builder at full scale). A record is a
// key and a payload (bytes). ExternalSorter buffers records up to a byte budget, sorts them by key (bytewise,
// memcmp order; equal keys keep insertion order) and spills them as a run file into a SpillDir; reading
// merges the runs, at most fan_in files at a time (extra passes when there are more), so memory stays near
// the budget plus fan_in read buffers whatever the input size. Inputs that fit never touch the disk.
// Unless SortOptions::stable is turned off for keys that are unique or whose ties do not matter.
// Keys that sort as tuples are built with KeyWriter (order-preserving encodings of strings and integers).
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::data {

struct SortOptions {
  std::size_t memory = 64u << 20;      // bytes of buffered records (keys, payloads, index) before a spill
  std::size_t fan_in = 64;             // runs merged at once; more runs cost an extra merge pass
  std::size_t io_buffer = 256u << 10;  // buffer of each open run file
  bool stable = true;                  // false: equal keys may come out in any order (a faster sort)
};

// A private temp folder (<parent>/.ecpo-<tag>-<host>-<pid>-XXXXXX) removed with everything in it when
// destroyed, also while an exception unwinds. `parent` must exist or be creatable. Creating one also removes
// the folders of earlier runs on this host whose process is gone (killed before it could clean up).
class SpillDir {
 public:
  SpillDir(const std::filesystem::path& parent, const std::string& tag);
  ~SpillDir();
  SpillDir(const SpillDir&) = delete;
  SpillDir& operator=(const SpillDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path new_file(const std::string& stem);  // a fresh name inside the folder

 private:
  std::filesystem::path path_;
  std::uint64_t counter_ = 0;
};

// Creates an output folder when missing and, unless done() is called, removes it again on destruction when it
// is still empty: a failed run leaves no empty folder behind (nor anything else: temps clean up themselves).
class OutputDirGuard {
 public:
  explicit OutputDirGuard(const std::filesystem::path& dir);
  ~OutputDirGuard();
  OutputDirGuard(const OutputDirGuard&) = delete;
  OutputDirGuard& operator=(const OutputDirGuard&) = delete;
  void done() { done_ = true; }

 private:
  std::filesystem::path dir_;
  bool created_ = false, done_ = false;
};

// Sequential record file: per record varint(key size), varint(payload size), key, payload.
class RunWriter {
 public:
  RunWriter(std::filesystem::path path, std::size_t buffer);
  ~RunWriter();
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;
  void add(std::string_view key, std::string_view payload);
  void close();  // flushes; throws ecpo::Error on a write failure (disk full)
  const std::filesystem::path& path() const { return path_; }
  std::uint64_t records() const { return records_; }

 private:
  void flush();
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  std::string buf_;
  std::size_t cap_;
  std::uint64_t records_ = 0;
};

class RunReader {
 public:
  RunReader(std::filesystem::path path, std::size_t buffer);
  ~RunReader();
  RunReader(const RunReader&) = delete;
  RunReader& operator=(const RunReader&) = delete;
  // Advances to the next record; false at the end. key()/payload() stay valid until the next call.
  bool next();
  std::string_view key() const { return key_; }
  std::string_view payload() const { return payload_; }

 private:
  bool fill(std::size_t need);  // makes `need` bytes available from pos_ when the file has them
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_, pos_ = 0, len_ = 0;
  std::string big_;  // a record larger than the buffer
  std::string_view key_, payload_;
};

class ExternalSorter {
 public:
  ExternalSorter(SpillDir& dir, std::string name, SortOptions options = {});
  ~ExternalSorter();
  ExternalSorter(const ExternalSorter&) = delete;
  ExternalSorter& operator=(const ExternalSorter&) = delete;

  void add(std::string_view key, std::string_view payload = {});
  // Ends the input (called by the first next() when omitted). Spills the buffer when runs exist, then merges
  // down to at most fan_in runs.
  void finish();
  // The records in key order; equal keys in the order they were added. Views valid until the next call.
  bool next(std::string_view& key, std::string_view& payload);

  std::uint64_t size() const { return added_; }
  std::uint64_t runs_written() const { return runs_written_; }  // every run file, intermediate merges too
  std::uint64_t merge_passes() const { return merge_passes_; }  // intermediate passes (0 when runs <= fan_in)

 private:
  struct Entry {
    std::uint64_t prefix;  // first 8 key bytes, big-endian, zero padded: most comparisons end here
    const char* data;      // key then payload
    std::uint32_t key_size, payload_size;
  };
  void spill();
  void sort_buffer();
  void clear_buffer(bool release);
  char* reserve(std::size_t n);

  SpillDir& dir_;
  std::string name_;
  SortOptions opt_;
  struct Chunk {
    std::unique_ptr<char[]> data;
    std::size_t size;
  };
  std::vector<Chunk> chunks_;
  std::size_t chunk_index_ = 0, chunk_used_ = 0, buffered_bytes_ = 0;
  std::vector<Entry> entries_;
  std::vector<std::filesystem::path> runs_;
  std::uint64_t added_ = 0, runs_written_ = 0, merge_passes_ = 0;
  bool finished_ = false;
  // reading
  std::size_t mem_pos_ = 0;
  struct Merge;
  std::unique_ptr<Merge> merge_;
};

// Builds keys whose bytewise order is the tuple order of the values put in.
class KeyWriter {
 public:
  explicit KeyWriter(std::string& out) : out_(out) {}
  KeyWriter& str(std::string_view s);  // 0x00 → 0x00 0xFF, then a 0x00 0x01 terminator
  KeyWriter& i64(std::int64_t v);      // 8 bytes big-endian, sign bit flipped
  KeyWriter& u64(std::uint64_t v);     // 8 bytes big-endian

 private:
  std::string& out_;
};

class KeyReader {
 public:
  explicit KeyReader(std::string_view key) : s_(key) {}
  std::string_view str(std::string& scratch);  // a view into the key when it holds no 0x00, else into scratch
  std::int64_t i64();
  std::uint64_t u64();

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

// Payload encoding: varints, raw doubles and length-prefixed bytes (a Cursor reads them back in order).
void put_varint(std::string& out, std::uint64_t v);
void put_double(std::string& out, double v);
void put_bytes(std::string& out, std::string_view s);
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  std::uint64_t varint();
  double f64();
  std::string_view bytes();
  bool done() const { return pos_ >= s_.size(); }
  std::size_t position() const { return pos_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace ecpo::data
