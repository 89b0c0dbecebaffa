// One float tensor in a safetensors file, without torch (latents in and out of the CLI).
#include <cmath>
#include <cstring>

#include "atelier/engine.h"
#include "atelier/error.h"
#include "io/safetensors.h"

namespace atelier {
namespace {

float half_to_float(uint16_t h) {
    const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float value;
    if (exponent == 0) value = std::ldexp(float(mantissa), -24);
    else if (exponent == 31) value = mantissa ? NAN : INFINITY;
    else value = std::ldexp(float(mantissa | 0x400), exponent - 25);
    return sign ? -value : value;
}

float bf16_to_float(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

}  // namespace

FloatTensor read_tensor_file(const std::string& path, const std::string& name) {
    const std::shared_ptr<SafetensorsFile> file = SafetensorsFile::open(path);
    const TensorView* view = nullptr;
    if (!name.empty()) {
        view = &file->at(name);
    } else if (file->tensors().size() == 1) {
        view = &file->tensors().front();
    } else {
        throw Error(path + ": expected exactly one tensor, found " + std::to_string(file->tensors().size()) +
                    " (name the one to use)");
    }
    FloatTensor out;
    out.shape = view->shape;
    const int64_t n = view->numel();
    out.data.resize(static_cast<size_t>(n));
    const uint8_t* p = view->data;
    for (int64_t i = 0; i < n; ++i) {
        switch (view->dtype) {
            case DType::F32: std::memcpy(&out.data[i], p + 4 * i, 4); break;
            case DType::F64: {
                double d;
                std::memcpy(&d, p + 8 * i, 8);
                out.data[i] = static_cast<float>(d);
                break;
            }
            case DType::F16: case DType::BF16: {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out.data[i] = view->dtype == DType::F16 ? half_to_float(h) : bf16_to_float(h);
                break;
            }
            default:
                throw Error(path + ": tensor \"" + view->name + "\" has dtype " + dtype_name(view->dtype) +
                            " (expected F32, F16, BF16 or F64)");
        }
    }
    return out;
}

void write_tensor_file(const std::string& path, const std::string& name, const FloatTensor& tensor) {
    int64_t numel = 1;
    for (int64_t d : tensor.shape) numel *= d;
    if (numel != static_cast<int64_t>(tensor.data.size())) {
        throw Error(path + ": tensor \"" + name + "\" has " + std::to_string(tensor.data.size()) +
                    " values but its shape holds " + std::to_string(numel));
    }
    TensorView view;
    view.name = name;
    view.dtype = DType::F32;
    view.shape = tensor.shape;
    view.data = reinterpret_cast<const uint8_t*>(tensor.data.data());
    view.size_bytes = tensor.data.size() * sizeof(float);
    write_safetensors(path, {view});
}

}  // namespace atelier
