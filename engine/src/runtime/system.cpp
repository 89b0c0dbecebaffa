// Versions, devices and threads as libtorch sees them.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <thread>

#include "atelier/system.h"

namespace atelier {

std::string torch_version() { return TORCH_VERSION; }

std::vector<DeviceInfo> available_devices() {
    std::vector<DeviceInfo> devices;
    if (at::hasCUDA()) {
        const int count = at::detail::getCUDAHooks().getNumGPUs();
        for (int i = 0; i < count; ++i) {
            devices.push_back({"cuda:" + std::to_string(i), "CUDA device " + std::to_string(i), "float16"});
        }
    }
    const unsigned cpus = std::thread::hardware_concurrency();
    devices.push_back({"cpu", std::to_string(cpus) + " CPUs, " + std::to_string(compute_threads()) + " threads",
                       "float32"});
    return devices;
}

int compute_threads() { return at::get_num_threads(); }

void set_compute_threads(int threads) {
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
}

}  // namespace atelier
