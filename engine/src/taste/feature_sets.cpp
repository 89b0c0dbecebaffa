// The feature sets offered by name: one place decides which extractor a profile's taste is learnt with.
#include <filesystem>

#include "atelier/system.h"
#include "atelier/taste.h"

namespace atelier::taste {

namespace {
constexpr const char* kBasic = "atelier-basic-v1";
constexpr const char* kWorld = "world-attributes-v1";

std::string world_encoder_path() {
    const std::string dir = taste_encoder_dir();
    return dir.empty() ? std::string() : (std::filesystem::path(dir) / (std::string(kWorld) + ".safetensors")).string();
}
}  // namespace

std::vector<std::string> available_feature_sets() {
    std::vector<std::string> sets{kBasic};
    if (!world_encoder_path().empty()) sets.push_back(kWorld);
    return sets;
}

std::string default_feature_set() { return world_encoder_path().empty() ? kBasic : kWorld; }

std::unique_ptr<FeatureExtractor> make_feature_extractor(const std::string& feature_set) {
    const std::string name = feature_set.empty() ? default_feature_set() : feature_set;
    if (name == kBasic) return make_basic_features();
    if (name == kWorld && !world_encoder_path().empty()) return make_world_attribute_features(world_encoder_path());
    std::string available;
    for (const std::string& s : available_feature_sets()) available += (available.empty() ? "" : ", ") + s;
    throw Error("taste features: no feature set '" + name + "' here (available: " + available + ")");
}

}  // namespace atelier::taste
