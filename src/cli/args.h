// A small, strict command-line parser: flags with values (--out DIR / --out=DIR / -o DIR), boolean
// switches, positionals, and generated --help. Unknown flags and missing values are usage errors.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mc::cli {

struct OptionSpec {
  std::string long_name;   // "out" for --out
  char        short_name;  // 'o' for -o, 0 for none
  std::string value_name;  // "DIR"; empty for a boolean switch
  std::string help;
};

class Args {
 public:
  /// `usage` is the synopsis line ("mc model info PATH [options]"), `description` a paragraph.
  Args(std::string usage, std::string description, std::vector<OptionSpec> options,
       std::vector<std::string> positional_names, std::string examples = "");
  /// Parses argv tokens (after the command words). Returns false when --help was asked for (help is
  /// printed to stdout). Throws mc::Error([cli] ...) on bad usage.
  bool parse(const std::vector<std::string>& tokens);

  bool flag(const std::string& name) const;
  std::optional<std::string> value(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& def) const;
  /// An integer option >= lo (default `def` when absent); a usage error otherwise.
  int64_t int_value(const std::string& name, int64_t def, int64_t lo) const;
  /// A number option in [lo, hi] (default `def` when absent); a usage error otherwise.
  double double_value(const std::string& name, double def, double lo, double hi) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  std::string help() const;

 private:
  std::string usage_, description_, examples_;
  std::vector<OptionSpec> options_;
  std::vector<std::string> positional_names_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

}  // namespace mc::cli
