// Versions and paths that need no torch.
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>

#include "atelier/system.h"
#include "atelier_build_config.h"

namespace fs = std::filesystem;

namespace atelier {

std::string version() { return ATELIER_VERSION_STRING; }

std::string sqlite_version() { return sqlite3_libversion(); }

std::string data_dir(const std::string& override_dir) {
    if (!override_dir.empty()) return override_dir;
    if (const char* env = std::getenv("ATELIER_DATA_DIR"); env && *env) return env;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return (fs::path(xdg) / "atelier").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home && *home ? home : ".") / ".local/share/atelier").string();
}

std::string default_profile_name() {
    for (const char* name : {"ATELIER_PROFILE", "USER"})
        if (const char* env = std::getenv(name); env && *env) return env;
    return "me";
}

namespace {
// Resources are looked up installed first, then in the source tree (developer builds).
std::string find_resource(const std::string& relative, const std::string& must_contain) {
    for (const fs::path& base : {fs::path(ATELIER_INSTALL_DATADIR), fs::path(ATELIER_SOURCE_RESOURCES_DIR)}) {
        fs::path candidate = base / relative;
        std::error_code ec;
        if (fs::exists(candidate / must_contain, ec)) return candidate.string();
    }
    return {};
}
}  // namespace

std::string default_model_dir() {
    if (const char* env = std::getenv("ATELIER_DEFAULT_MODEL"); env && *env) return env;
    return find_resource("models/atelier-tiny", "model_index.json");
}

std::string taste_encoder_dir() { return find_resource("taste", "world-attributes-v1.safetensors"); }

std::string clip_vocab_dir() { return find_resource("clip", "vocab.json"); }

}  // namespace atelier
