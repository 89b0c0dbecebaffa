// Model::set_motion_module: an AnimateDiff motion adapter on the loaded UNet (text-to-video), with the
// LoRAs its folder may carry (a cross-attention LoRA for clips, motion LoRAs chosen by a phrase).
#include <ATen/ATen.h>

#include <filesystem>

#include "atelier/error.h"
#include "atelier/train_motion.h"
#include "io/json_file.h"
#include "personalize/apply.h"
#include "models/motion_module.h"
#include "runtime/model_impl.h"

namespace atelier {
namespace fs = std::filesystem;

namespace {

// The folder's motion_loras.json; the UNet must already carry the adapter the LoRAs address.
std::vector<Model::Impl::MotionWord> read_motion_words(Model::Impl& m, const fs::path& folder) {
    const fs::path path = folder / kMotionLorasFile;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return {};
    const std::string where = path.string();
    const nlohmann::json j = read_json_object(where);
    const nlohmann::json* list = json_field(j, "motion_loras");
    if (!list || !list->is_array()) throw Error(where + ": expected {\"motion_loras\": [...]}");
    const LoraTargets targets = lora_targets(m);
    std::vector<Model::Impl::MotionWord> words;
    for (size_t i = 0; i < list->size(); ++i) {
        const nlohmann::json& entry = (*list)[i];
        const std::string at = where + ": motion_loras[" + std::to_string(i) + "]";
        if (!entry.is_object()) throw Error(at + " must be an object {\"phrase\", \"file\", \"strength\"}");
        const nlohmann::json* phrase = json_field(entry, "phrase");
        const nlohmann::json* file = json_field(entry, "file");
        const nlohmann::json* strength = json_field(entry, "strength");
        if (!phrase || !phrase->is_string() || phrase->get<std::string>().empty())
            throw Error(at + ": \"phrase\" must be a non-empty string");
        if (!file || !file->is_string() || file->get<std::string>().empty())
            throw Error(at + ": \"file\" must be a non-empty string (a LoRA file, relative to the folder)");
        if (strength && !strength->is_number()) throw Error(at + ": \"strength\" must be a number");
        const fs::path lora_path = folder / file->get<std::string>();
        if (!fs::is_regular_file(lora_path, ec)) throw Error(at + ": file '" + lora_path.string() + "' does not exist");
        Model::Impl::MotionWord word;
        word.phrase = phrase->get<std::string>();
        try {
            word.lora = std::make_shared<const LoraFile>(read_lora(lora_path.string(), targets));
        } catch (const Error& e) {
            throw Error(at + ": " + e.what());
        }
        word.strength = strength ? strength->get<float>() : 1.0f;
        words.push_back(std::move(word));
    }
    return words;
}

}  // namespace

void Model::set_motion_module(const std::string& path, int heads, bool per_frame_groupnorm) {
    Impl& m = *impl_;
    if (path.empty()) {
        m.unet->set_motion_adapter(nullptr);
        m.info.motion_module.clear();
        m.info.motion_max_frames = 0;
        m.info.motion_parameters = 0;
        m.info.motion_text_lora.clear();
        m.info.motion_phrases.clear();
        m.motion_text_lora.reset();
        m.motion_words.clear();
        return;
    }
    std::shared_ptr<MotionAdapter> adapter = MotionAdapter::load(path, heads);
    adapter->set_per_frame_groupnorm(per_frame_groupnorm);
    adapter->to(m.device, m.dtype);
    // Read before the adapter goes in, so a LoRA that does not fit leaves the model unchanged.
    std::shared_ptr<const LoraFile> text_lora;
    std::error_code ec;
    const fs::path lora_path = fs::path(path) / kMotionTextLoraFile;
    if (fs::is_regular_file(lora_path, ec))
        text_lora = std::make_shared<const LoraFile>(read_lora(lora_path.string(), lora_targets(m)));
    const std::shared_ptr<MotionAdapter> previous = m.unet->motion_adapter();
    m.unet->set_motion_adapter(adapter);  // throws, naming tensor and shapes, if it does not fit
    std::vector<Impl::MotionWord> words;
    try {
        if (fs::is_directory(path, ec)) words = read_motion_words(m, path);  // they address the new adapter
    } catch (...) {
        m.unet->set_motion_adapter(previous);
        throw;
    }
    m.motion_text_lora = text_lora;
    m.motion_words = std::move(words);
    m.info.motion_text_lora = text_lora ? lora_path.string() : std::string();
    m.info.motion_phrases.clear();
    for (const Impl::MotionWord& w : m.motion_words) m.info.motion_phrases.push_back(w.phrase);
    m.info.motion_module = path;
    m.info.motion_max_frames = adapter->max_frames();
    m.info.motion_parameters = adapter->parameter_count();
}

}  // namespace atelier
