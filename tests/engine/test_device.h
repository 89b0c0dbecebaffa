// The device the model-loading tests run on: the CPU, unless ATELIER_TEST_DEVICE names another
// ("cuda:0"), so that the same parity tests check the CUDA path on a machine that has a GPU.
#pragma once
#include <cstdlib>
#include <string>

inline std::string test_device() {
    const char* d = std::getenv("ATELIER_TEST_DEVICE");
    return d && *d ? d : "cpu";
}
