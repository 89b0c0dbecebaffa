// Model::set_motion_module: an AnimateDiff motion adapter on the loaded UNet (text-to-video).
#include <ATen/ATen.h>

#include "atelier/error.h"
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
        return;
    }
    std::shared_ptr<MotionAdapter> adapter = MotionAdapter::load(path, heads);
    adapter->set_per_frame_groupnorm(per_frame_groupnorm);
    adapter->to(m.device, m.dtype);
    m.unet->set_motion_adapter(adapter);  // throws, naming tensor and shapes, if it does not fit
    m.info.motion_module = path;
    m.info.motion_max_frames = adapter->max_frames();
    m.info.motion_parameters = adapter->parameter_count();
}

}  // namespace atelier
