// Reading JSON config files (internal): errors name the file.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace atelier {

// The file parsed as a JSON object; throws Error "<path>: not valid JSON (...)" or "<path>: expected a JSON object".
nlohmann::json read_json_object(const std::string& path);

// The field `name` of `object`, or nullptr when it is missing or null (diffusers writes null for "default").
inline const nlohmann::json* json_field(const nlohmann::json& object, const char* name) {
    const auto it = object.find(name);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace atelier
