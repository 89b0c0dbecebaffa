// at::Tensor <-> safetensors files, on top of io/safetensors (zero-copy where alignment allows).
#include "runtime/tensors.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>

#include "atelier/error.h"
#include "io/safetensors.h"

namespace atelier {

namespace {

at::ScalarType to_scalar_type(DType dtype) {
    switch (dtype) {
        case DType::F32: return at::kFloat;
        case DType::F16: return at::kHalf;
        case DType::BF16: return at::kBFloat16;
        case DType::F64: return at::kDouble;
        case DType::I64: return at::kLong;
        case DType::I32: return at::kInt;
        case DType::I16: return at::kShort;
        case DType::I8: return at::kChar;
        case DType::U8: return at::kByte;
        case DType::BOOL: return at::kBool;
    }
    throw Error("invalid dtype value " + std::to_string(static_cast<int>(dtype)));
}

bool to_dtype(at::ScalarType type, DType& out) {
    switch (type) {
        case at::kFloat: out = DType::F32; return true;
        case at::kHalf: out = DType::F16; return true;
        case at::kBFloat16: out = DType::BF16; return true;
        case at::kDouble: out = DType::F64; return true;
        case at::kLong: out = DType::I64; return true;
        case at::kInt: out = DType::I32; return true;
        case at::kShort: out = DType::I16; return true;
        case at::kChar: out = DType::I8; return true;
        case at::kByte: out = DType::U8; return true;
        case at::kBool: out = DType::BOOL; return true;
        default: return false;
    }
}

}  // namespace

TensorMap load_tensors(const std::string& path) {
    const std::shared_ptr<SafetensorsFile> file = SafetensorsFile::open(path);
    TensorMap out;
    for (const TensorView& view : file->tensors()) {
        const at::ScalarType type = to_scalar_type(view.dtype);
        const auto options = at::TensorOptions().dtype(type).device(at::kCPU);
        const size_t align = dtype_size(view.dtype);
        if (view.size_bytes == 0) {
            out[view.name] = at::empty(view.shape, options);
        } else if (reinterpret_cast<uintptr_t>(view.data) % align == 0) {
            // The deleter owns a reference to the mapping: the tensor keeps the file mapped.
            std::shared_ptr<SafetensorsFile> keep = file;
            out[view.name] = at::from_blob(const_cast<uint8_t*>(view.data), view.shape,
                                           [keep](void*) mutable { keep.reset(); }, options);
        } else {
            at::Tensor t = at::empty(view.shape, options);
            std::memcpy(t.data_ptr(), view.data, view.size_bytes);
            out[view.name] = t;
        }
    }
    return out;
}

void save_tensors(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
    std::vector<at::Tensor> keep;  // contiguous CPU copies, alive until written
    std::vector<TensorView> views;
    keep.reserve(tensors.size());
    views.reserve(tensors.size());
    for (const auto& [name, tensor] : tensors) {
        if (!tensor.defined()) throw Error(path + ": tensor \"" + name + "\" is undefined");
        TensorView view;
        view.name = name;
        if (!to_dtype(tensor.scalar_type(), view.dtype)) {
            throw Error(path + ": tensor \"" + name + "\" has dtype " + std::string(c10::toString(tensor.scalar_type())) +
                        ", which safetensors cannot store (expected float32/16, bfloat16, float64, int64/32/16/8, "
                        "uint8 or bool)");
        }
        at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
        keep.push_back(cpu);
        view.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
        view.data = static_cast<const uint8_t*>(cpu.data_ptr());
        view.size_bytes = cpu.numel() * cpu.element_size();
        views.push_back(std::move(view));
    }
    write_safetensors(path, views, metadata);
}

float relative_l2(const at::Tensor& a, const at::Tensor& reference) {
    if (!a.sizes().equals(reference.sizes())) {
        throw Error("relative_l2: shapes differ: " + c10::str(a.sizes()) + " vs reference " +
                    c10::str(reference.sizes()));
    }
    const at::Tensor x = a.detach().to(at::kCPU, at::kDouble);
    const at::Tensor r = reference.detach().to(at::kCPU, at::kDouble);
    const double ref_norm = r.norm().item<double>();
    const double diff_norm = (x - r).norm().item<double>();
    if (ref_norm == 0.0) return static_cast<float>(diff_norm);
    return static_cast<float>(diff_norm / ref_norm);
}

}  // namespace atelier
