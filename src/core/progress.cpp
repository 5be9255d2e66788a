#include "core/progress.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace mc {

namespace {
/// Non-terminal output prints at most one progress line per this many seconds.
constexpr double kPlainLineSeconds = 10.0;
/// Terminal redraws are throttled to this many seconds.
constexpr double kRedrawSeconds = 0.2;

std::atomic<int> g_interrupts{0};

extern "C" void on_interrupt(int sig) {
  if (g_interrupts.fetch_add(1) >= 1) {  // second signal: default action
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}
}  // namespace

Progress::Progress(int64_t total, bool enabled)
    : total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1) {
  start_ = last_print_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(t / 3600),
                               static_cast<long long>(t % 3600 / 60));
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(t / 60),
                                  static_cast<long long>(t % 60));
  else std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(t));
  return buf;
}

void Progress::update(int64_t done, const std::string& status) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (first_done_ < 0) {
    first_done_ = done;
    start_ = now;
  }
  const double since = std::chrono::duration<double>(now - last_print_).count();
  const bool last = total_ > 0 && done >= total_;
  if (!last && since < (tty_ ? kRedrawSeconds : kPlainLineSeconds)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::ostringstream line;
  line << "step " << done;
  if (total_ > 0) line << "/" << total_;
  if (!status.empty()) line << " | " << status;
  if (total_ > 0 && done > first_done_) {
    const double per = elapsed / static_cast<double>(done - first_done_);
    line << " | ETA " << format_duration(per * static_cast<double>(total_ - done));
  }
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.str().c_str());
    open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line.str().c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (open_) std::fprintf(stderr, "\n");
  open_ = false;
}

void interrupt_install() {
  g_interrupts = 0;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

bool interrupt_requested() { return g_interrupts.load() > 0; }

void interrupt_reset() {
  g_interrupts = 0;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      f >> kb;
      return kb / 1024.0;
    }
    std::string rest;
    std::getline(f, rest);
  }
  return 0.0;
}

}  // namespace mc
