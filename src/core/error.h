// Errors and exit codes. User, input and environment problems throw mc::Error with a component and a
// one-line message; the CLI prints `mc: error: [component] message` and exits with the error's code.
// Programmer errors (broken invariants) use MC_CHECK, which is always on and aborts.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mc {

/// Process exit codes (DESIGN.md).
enum class ExitCode : int {
  Ok                = 0,
  BadInput          = 1,  // path, argument, file format
  Cancelled         = 2,
  MissingDependency = 3,
  Runtime           = 4,
  Internal          = 5,
};

class Error : public std::runtime_error {
 public:
  Error(std::string component, std::string message, ExitCode code = ExitCode::BadInput)
      : std::runtime_error("[" + component + "] " + message),
        component_(std::move(component)),
        code_(code) {}
  const std::string& component() const { return component_; }
  ExitCode code() const { return code_; }

 private:
  std::string component_;
  ExitCode code_;
};

/// Concatenates any streamable values into one string: str("tensor ", name, " has ", n, " bytes").
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace mc

/// Always-on invariant check for programmer errors: prints file:line, the condition and context, aborts.
#define MC_CHECK(cond, ...)                                                            \
  do {                                                                                 \
    if (!(cond)) ::mc::check_failed(__FILE__, __LINE__, #cond, ::mc::str(__VA_ARGS__)); \
  } while (0)
