#include "cli/args.h"

#include <cstdio>
#include <exception>

#include "core/error.h"

namespace mc::cli {

Args::Args(std::string usage, std::string description, std::vector<OptionSpec> options,
           std::vector<std::string> positional_names, std::string examples)
    : usage_(std::move(usage)),
      description_(std::move(description)),
      examples_(std::move(examples)),
      options_(std::move(options)),
      positional_names_(std::move(positional_names)) {
  options_.push_back({"help", 'h', "", "show this help and exit"});
}

bool Args::parse(const std::vector<std::string>& tokens) {
  bool only_positionals = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (only_positionals || t.size() < 2 || t[0] != '-') {
      positionals_.push_back(t);
      continue;
    }
    if (t == "--") {
      only_positionals = true;
      continue;
    }
    const OptionSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (t.rfind("--", 0) == 0) {
      std::string name = t.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      for (const auto& o : options_)
        if (o.long_name == name) spec = &o;
    } else if (t.size() == 2) {
      for (const auto& o : options_)
        if (o.short_name == t[1]) spec = &o;
    }
    if (!spec) throw Error("cli", str("unknown option '", t, "' (see --help)"));
    if (spec->long_name == "help") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (spec->value_name.empty()) {
      if (inline_value) throw Error("cli", str("option --", spec->long_name, " takes no value"));
      values_[spec->long_name] = "1";
    } else if (inline_value) {
      values_[spec->long_name] = *inline_value;
    } else {
      if (i + 1 >= tokens.size())
        throw Error("cli", str("option --", spec->long_name, " needs a value (", spec->value_name, ")"));
      values_[spec->long_name] = tokens[++i];
    }
  }
  if (positionals_.size() < positional_names_.size())
    throw Error("cli", str("missing argument ", positional_names_[positionals_.size()], " (usage: ", usage_, ")"));
  if (positionals_.size() > positional_names_.size())
    throw Error("cli", str("unexpected argument '", positionals_[positional_names_.size()], "' (usage: ", usage_, ")"));
  return true;
}

bool Args::flag(const std::string& name) const { return values_.count(name) != 0; }

std::optional<std::string> Args::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::value_or(const std::string& name, const std::string& def) const {
  auto v = value(name);
  return v ? *v : def;
}

int64_t Args::int_value(const std::string& name, int64_t def, int64_t lo) const {
  auto v = value(name);
  if (!v) return def;
  size_t pos = 0;
  long long x = 0;
  try {
    x = std::stoll(*v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos != v->size() || v->empty() || x < lo)
    throw Error("cli", str("--", name, " needs an integer >= ", lo, ", got '", *v, "'"));
  return x;
}

double Args::double_value(const std::string& name, double def, double lo, double hi) const {
  auto v = value(name);
  if (!v) return def;
  size_t pos = 0;
  double x = 0;
  try {
    x = std::stod(*v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos != v->size() || v->empty() || !(x >= lo && x <= hi))
    throw Error("cli", str("--", name, " needs a number in [", lo, ", ", hi, "], got '", *v, "'"));
  return x;
}

std::string Args::help() const {
  std::string h = "usage: " + usage_ + "\n\n" + description_ + "\n\noptions:\n";
  for (const auto& o : options_) {
    std::string left = "  ";
    left += o.short_name ? std::string("-") + o.short_name + ", " : "    ";
    left += "--" + o.long_name;
    if (!o.value_name.empty()) left += " " + o.value_name;
    if (left.size() < 28) left.resize(28, ' ');
    else left += "  ";
    // a help text of several lines continues under its first line
    std::string text = o.help;
    for (size_t p = text.find('\n'); p != std::string::npos; p = text.find('\n', p + 1 + 28))
      text.insert(p + 1, std::string(28, ' '));
    h += left + text + "\n";
  }
  if (!examples_.empty()) h += "\nexamples:\n" + examples_ + "\n";
  return h;
}

}  // namespace mc::cli
