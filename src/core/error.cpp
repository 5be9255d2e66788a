#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace mc {

void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "mc: internal error: %s:%d: MC_CHECK(%s) failed%s%s\n", file, line, cond,
               msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace mc
