#include "core/log.h"

#include <cstdio>

namespace mc {

static LogLevel g_level = LogLevel::Info;

void log_set_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_info(const std::string& msg) {
  if (g_level >= LogLevel::Info) std::fprintf(stderr, "mc: %s\n", msg.c_str());
}
void log_warn(const std::string& msg) { std::fprintf(stderr, "mc: warning: %s\n", msg.c_str()); }
void log_debug(const std::string& msg) {
  if (g_level >= LogLevel::Debug) std::fprintf(stderr, "mc: debug: %s\n", msg.c_str());
}

}  // namespace mc
