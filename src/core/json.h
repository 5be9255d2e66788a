// JSON helpers over nlohmann::json: parsing that names the file on error, and printing that turns
// NaN/Inf into null (DESIGN.md: --json output never contains NaN).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace mc {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

/// Parses `text`; on failure throws mc::Error([component] "<source>: invalid JSON (...)").
Json json_parse(const std::string& text, const std::string& source, const std::string& component = "json");
/// Reads and parses a JSON file.
Json json_load(const std::string& path, const std::string& component = "json");
/// Serialises with NaN/Inf replaced by null.
std::string json_dump(const OrderedJson& j, int indent = 2);

}  // namespace mc
