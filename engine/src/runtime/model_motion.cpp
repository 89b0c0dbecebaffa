// Model::set_motion_module: an AnimateDiff motion adapter on the loaded UNet (text-to-video).
#include <ATen/ATen.h>

#include <filesystem>

#include "atelier/error.h"
#include "atelier/train_motion.h"
#include "personalize/apply.h"
#include "models/motion_module.h"
#include "runtime/model_impl.h"

namespace atelier {

void Model::set_motion_module(const std::string& path, int heads, bool per_frame_groupnorm) {
    Impl& m = *impl_;
    if (path.empty()) {
        m.unet->set_motion_adapter(nullptr);
        m.info.motion_module.clear();
        m.info.motion_max_frames = 0;
        m.info.motion_parameters = 0;
        m.info.motion_text_lora.clear();
        m.motion_text_lora.reset();
        return;
    }
    std::shared_ptr<MotionAdapter> adapter = MotionAdapter::load(path, heads);
    adapter->set_per_frame_groupnorm(per_frame_groupnorm);
    adapter->to(m.device, m.dtype);
    // Read before the adapter goes in, so a LoRA that does not fit leaves the model unchanged.
    std::shared_ptr<const LoraFile> text_lora;
    std::error_code ec;
    const std::filesystem::path lora_path = std::filesystem::path(path) / kMotionTextLoraFile;
    if (std::filesystem::is_regular_file(lora_path, ec))
        text_lora = std::make_shared<const LoraFile>(read_lora(lora_path.string(), lora_targets(m)));
    m.unet->set_motion_adapter(adapter);  // throws, naming tensor and shapes, if it does not fit
    m.motion_text_lora = text_lora;
    m.info.motion_text_lora = text_lora ? lora_path.string() : std::string();
    m.info.motion_module = path;
    m.info.motion_max_frames = adapter->max_frames();
    m.info.motion_parameters = adapter->parameter_count();
}

}  // namespace atelier
