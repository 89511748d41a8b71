// A progress bar on stderr: count/total, percentage, rate and ETA; redrawn at most 10 times a second.
// Shown when stderr is a TTY or when forced (--progress); otherwise silent. Thread-safe add().
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace ecpo {

class Progress {
 public:
  enum class Mode { automatic, on, off };
  // total == 0 means unknown (no percentage or ETA, only count and rate).
  Progress(std::string label, std::uint64_t total, Mode mode = Mode::automatic, std::string unit = "it");
  ~Progress();
  void add(std::uint64_t n = 1);
  void set_total(std::uint64_t total);
  void finish();  // draws the final state and a newline (idempotent)
  bool enabled() const { return enabled_; }
  // Global default set by the CLI's --progress / --no-progress.
  static void set_default_mode(Mode m);
  static Mode default_mode();

 private:
  void draw(bool final);
  std::string label_, unit_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> total_;
  bool enabled_;
  bool finished_ = false;
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1.2k", "3.4M" etc. and "1h02m", "35s" for rates and durations.
std::string human_count(double v);
std::string human_duration(double seconds);

}  // namespace ecpo
