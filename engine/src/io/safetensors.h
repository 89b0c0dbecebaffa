// Safetensors reader (memory-mapped, validated) and writer (internal, torch-free).
// Format: https://github.com/huggingface/safetensors (8-byte little-endian header length, JSON header, data).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace atelier {

// Element types of the safetensors format. 0 is invalid.
enum class DType { F32 = 1, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);              // bytes per element
const char* dtype_name(DType dtype);         // "F32", "BF16", ...
// The dtype named `name` ("F32", ...); throws atelier::Error for an unknown name.
DType parse_dtype(const std::string& name);
// As above, but returns false instead of throwing.
bool try_parse_dtype(const std::string& name, DType& out);

// One tensor inside a file (or, for the writer, anywhere in memory). `data` is not owned.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;
    size_t size_bytes = 0;

    int64_t numel() const;
};

// A validated, memory-mapped safetensors file (a private copy-on-write mapping: the file is never modified).
// shared_ptr; TensorView::data points into it. Thread-safe for concurrent reads.
class SafetensorsFile {
public:
    // Maps and validates `path`: header length within the file, valid JSON, known dtypes,
    // non-negative shapes, offsets inside the data area, sizes = product(shape) x dtype size,
    // no overlapping tensors, string-to-string `__metadata__`. Throws atelier::Error naming the
    // file and the tensor/field, with what was expected and found.
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);

    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    // In the order of their data offsets.
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find(const std::string& name) const;
    // Throws atelier::Error naming the file and the tensor when absent.
    const TensorView& at(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::string& path() const { return path_; }
    size_t file_size_bytes() const { return size_; }

private:
    SafetensorsFile() = default;

    std::string path_;
    void* map_ = nullptr;
    size_t size_ = 0;
    std::vector<TensorView> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any order; written in the given order) with optional string metadata, in the
// standard layout (header padded with spaces to a multiple of 8), atomically. Throws atelier::Error
// on duplicate names, a size that does not match the shape, or a write failure.
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace atelier
