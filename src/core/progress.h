// Run-time plumbing of long commands: a one-line progress display on stderr (redrawn in place on a
// terminal, a plain line every few seconds otherwise), a Ctrl-C flag that lets a loop stop at a safe
// point instead of dying mid-write, and the process's peak resident memory.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace mc {

class Progress {
 public:
  /// total: the number of units (steps) expected; 0 when unknown.
  explicit Progress(int64_t total, bool enabled = true);
  ~Progress();
  /// Shows `done` of total with a free-form status ("loss 2.31 | eval 2.10 | 1234 tok/s") and the ETA.
  void update(int64_t done, const std::string& status);
  /// Ends the line (call before printing anything else to stderr).
  void finish();

 private:
  int64_t total_;
  bool    enabled_, tty_, open_ = false;
  int64_t first_done_ = -1;
  std::chrono::steady_clock::time_point start_, last_print_;
};

/// "1h02m", "3m12s", "42s".
std::string format_duration(double seconds);

/// Installs a SIGINT/SIGTERM handler that only sets a flag (the second signal kills as usual).
void interrupt_install();
bool interrupt_requested();
/// Clears the flag and restores default handlers.
void interrupt_reset();

/// Peak resident set size of this process in MiB (VmHWM), 0 when unknown.
double peak_rss_mib();

}  // namespace mc
