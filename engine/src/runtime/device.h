// Which device a request's "device" string names (internal): one parser for the loader and the trainers.
#pragma once
#include <c10/core/Device.h>

#include <string>

namespace atelier {

// "auto" or "" (CUDA when this libtorch has it and a GPU is present, else the CPU), "cpu", "cuda", "cuda:N".
// Throws atelier::Error for anything else, and for cuda when there is none.
c10::Device resolve_device(const std::string& name);

}  // namespace atelier
