#include "io/json_file.h"

#include "atelier/error.h"
#include "io/file_util.h"

namespace atelier {

nlohmann::json read_json_object(const std::string& path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file_text(path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) throw Error(path + ": expected a JSON object");
    return j;
}

}  // namespace atelier
