#include "runtime/device.h"

#include <ATen/Context.h>

#include "atelier/error.h"

namespace atelier {

c10::Device resolve_device(const std::string& d) {
    if (d.empty() || d == "auto") return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
    if (d == "cpu") return c10::kCPU;
    if (d == "cuda" || d.rfind("cuda:", 0) == 0) {
        if (!at::hasCUDA())
            throw Error("device \"" + d + "\": this libtorch has no CUDA or no GPU is present (use \"cpu\" or \"auto\")");
        return d == "cuda" ? c10::Device(c10::kCUDA, 0) : c10::Device(d);
    }
    throw Error("device \"" + d + "\" is not supported (expected auto, cpu, cuda or cuda:N)");
}

}  // namespace atelier
