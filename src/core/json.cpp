#include "core/json.h"

#include <cmath>

#include "core/error.h"
#include "core/fs.h"

namespace mc {

Json json_parse(const std::string& text, const std::string& source, const std::string& component) {
  // nlohmann stops at a NUL byte and would accept "{}\0garbage"; JSON text never contains one.
  if (auto nul = text.find('\0'); nul != std::string::npos)
    throw Error(component, str(source, ": invalid JSON (NUL byte at offset ", nul, ")"));
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    std::string what = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] "; keep only the readable part.
    auto pos = what.find("] ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    throw Error(component, str(source, ": invalid JSON (", what, ")"));
  }
}

Json json_load(const std::string& path, const std::string& component) {
  return json_parse(read_file(path, component), path, component);
}

static void replace_non_finite(OrderedJson& j) {
  if (j.is_number_float()) {
    if (!std::isfinite(j.get<double>())) j = nullptr;
  } else if (j.is_structured()) {
    for (auto& v : j) replace_non_finite(v);
  }
}

std::string json_dump(const OrderedJson& j, int indent) {
  OrderedJson copy = j;
  replace_non_finite(copy);
  return copy.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mc
