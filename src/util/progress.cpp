// Progress bar implementation (see progress.h).
#include "util/progress.h"

#include <cmath>
#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

namespace ecpo {
namespace {
std::atomic<Progress::Mode> g_mode{Progress::Mode::automatic};
}

void Progress::set_default_mode(Mode m) { g_mode = m; }
Progress::Mode Progress::default_mode() { return g_mode; }

std::string human_count(double v) {
  const char* suffix[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (std::fabs(v) >= 1000.0 && i < 4) {
    v /= 1000.0;
    ++i;
  }
  return i == 0 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}{}", v, suffix[i]);
}

std::string human_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, static_cast<int>((t % 3600) / 60));
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, static_cast<int>(t % 60));
  return fmt::format("{}s", t);
}

Progress::Progress(std::string label, std::uint64_t total, Mode mode, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  if (mode == Mode::automatic) mode = g_mode.load();
  enabled_ = mode == Mode::on || (mode == Mode::automatic && ::isatty(STDERR_FILENO));
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::set_total(std::uint64_t total) { total_ = total; }

void Progress::add(std::uint64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::uint64_t done = done_, total = total_;
  double rate = elapsed > 0 ? done / elapsed : 0.0;
  std::string line;
  if (total > 0) {
    double frac = std::min(1.0, static_cast<double>(done) / total);
    int width = 24, fill = static_cast<int>(frac * width);
    std::string bar(fill, '#');
    bar.resize(width, '.');
    double eta = rate > 0 ? (total - std::min(done, total)) / rate : -1;
    line = fmt::format("\r{} [{}] {}/{} {:3.0f}% {}{}/s eta {}", label_, bar, human_count(done), human_count(total),
                       frac * 100, human_count(rate), unit_, final ? human_duration(0) : human_duration(eta));
  } else {
    line = fmt::format("\r{} {} {} {}{}/s {}", label_, human_count(done), unit_, human_count(rate), unit_,
                       human_duration(elapsed));
  }
  line += "\x1b[K";
  if (final) line += "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace ecpo
