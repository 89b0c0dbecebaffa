// Tensors from and to safetensors files, and the comparison measure used by the parity tests (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace atelier {

using TensorMap = std::map<std::string, at::Tensor>;

// All tensors of a safetensors file, on the CPU with their stored dtype. Zero-copy where the data
// is aligned for its dtype: such tensors view the file mapping, which they keep alive. The mapping
// is private copy-on-write, so writing into a returned tensor in place is safe: it copies the
// touched pages and never reaches the file (nor other load_tensors results). Misaligned tensors
// are copied. Throws atelier::Error naming the file and tensor.
TensorMap load_tensors(const std::string& path);

// Writes contiguous CPU copies of `tensors` (F32/F16/BF16/F64/I64/I32/I16/I8/U8/BOOL) atomically.
void save_tensors(const std::string& path, const TensorMap& tensors,
                  const std::map<std::string, std::string>& metadata = {});

// ||a - reference|| / ||reference|| in float64; shapes must match (throws atelier::Error otherwise).
// Returns ||a|| when the reference is all zeros.
float relative_l2(const at::Tensor& a, const at::Tensor& reference);

}  // namespace atelier
