// Logging to stderr. Results go to stdout; logs and progress go to stderr (DESIGN.md).
#pragma once
#include <string>

namespace mc {

enum class LogLevel { Quiet = 0, Info = 1, Debug = 2 };

void log_set_level(LogLevel level);
LogLevel log_level();
void log_info(const std::string& msg);   // "mc: msg"
void log_warn(const std::string& msg);   // "mc: warning: msg"
void log_debug(const std::string& msg);  // only at LogLevel::Debug

}  // namespace mc
