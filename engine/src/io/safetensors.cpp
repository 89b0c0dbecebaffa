// Safetensors: https://github.com/huggingface/safetensors — format described in its README.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "atelier/error.h"
#include "io/file_util.h"

namespace atelier {

namespace {

// A header above this is not a tensor index but an attack or a broken file (the reference
// implementation caps it at 100 MB too).
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct DTypeInfo {
    DType dtype;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2},   {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo* info_of(DType dtype) {
    for (const auto& info : kDTypes) {
        if (info.dtype == dtype) return &info;
    }
    return nullptr;
}

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// Product of `shape` times `elem_size` in bytes; false on overflow.
bool checked_byte_size(const std::vector<int64_t>& shape, size_t elem_size, uint64_t& out) {
    uint64_t total = elem_size;
    for (int64_t dim : shape) {
        if (dim < 0) return false;
        const uint64_t d = static_cast<uint64_t>(dim);
        if (d != 0 && total > std::numeric_limits<uint64_t>::max() / d) return false;
        total *= d;
    }
    out = total;
    return true;
}

}  // namespace

size_t dtype_size(DType dtype) {
    const DTypeInfo* info = info_of(dtype);
    if (!info) throw Error("invalid dtype value " + std::to_string(static_cast<int>(dtype)));
    return info->size;
}

const char* dtype_name(DType dtype) {
    const DTypeInfo* info = info_of(dtype);
    return info ? info->name : "INVALID";
}

bool try_parse_dtype(const std::string& name, DType& out) {
    for (const auto& info : kDTypes) {
        if (name == info.name) {
            out = info.dtype;
            return true;
        }
    }
    return false;
}

DType parse_dtype(const std::string& name) {
    DType dtype{};
    if (!try_parse_dtype(name, dtype)) {
        throw Error("unknown safetensors dtype \"" + name +
                    "\" (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL)");
    }
    return dtype;
}

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

SafetensorsFile::~SafetensorsFile() {
    if (map_) ::munmap(map_, size_);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->path_ = path;
    const auto fail = [&](const std::string& what) { return Error(path + ": " + what); };

    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw fail(std::string("cannot open (") + std::strerror(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw fail("not a regular file");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    if (size < 8) {
        ::close(fd);
        throw fail("truncated safetensors file: " + std::to_string(size) +
                   " bytes, expected at least 8 (the header length)");
    }
    // Private and writable: a caller that writes into a zero-copy tensor gets copy-on-write pages,
    // never a fault and never a change to the file.
    void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) throw fail(std::string("cannot memory-map (") + std::strerror(errno) + ")");
    file->map_ = map;
    file->size_ = size;
    const auto* bytes = static_cast<const uint8_t*>(map);

    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
    if (header_len > size - 8) {
        throw fail("header length " + std::to_string(header_len) + " bytes runs past the end of the file (" +
                   std::to_string(size - 8) + " bytes after the length field): truncated or not a safetensors file");
    }
    if (header_len > kMaxHeaderBytes) {
        throw fail("header length " + std::to_string(header_len) + " bytes exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes));
    }
    const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
    const uint8_t* data_begin = bytes + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(header_begin, header_begin + header_len);
    } catch (const nlohmann::json::exception& e) {
        throw fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) throw fail("header: expected a JSON object, found " + std::string(header.type_name()));

    struct Range {
        uint64_t begin, end;
        size_t index;
    };
    std::vector<Range> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const nlohmann::json& entry = it.value();
        if (name == "__metadata__") {
            if (!entry.is_object()) {
                throw fail("field __metadata__: expected an object of strings, found " +
                           std::string(entry.type_name()));
            }
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (!m.value().is_string()) {
                    throw fail("field __metadata__.\"" + m.key() + "\": expected a string, found " +
                               std::string(m.value().type_name()));
                }
                file->metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor \"" + name + "\"";
        if (!entry.is_object()) throw fail(where + ": expected an object, found " + std::string(entry.type_name()));
        for (const char* field : {"dtype", "shape", "data_offsets"}) {
            if (!entry.contains(field)) throw fail(where + ": missing field \"" + field + "\"");
        }
        const auto& jd = entry["dtype"];
        if (!jd.is_string()) throw fail(where + ": field \"dtype\": expected a string, found " + jd.type_name());
        TensorView view;
        view.name = name;
        if (!try_parse_dtype(jd.get<std::string>(), view.dtype)) {
            throw fail(where + ": unknown dtype \"" + jd.get<std::string>() +
                       "\" (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL)");
        }
        const auto& js = entry["shape"];
        if (!js.is_array()) throw fail(where + ": field \"shape\": expected an array, found " + js.type_name());
        for (const auto& d : js) {
            if (!d.is_number_integer()) {
                throw fail(where + ": field \"shape\": expected integers, found " + d.dump());
            }
            if (d.is_number_unsigned()) {
                const uint64_t u = d.get<uint64_t>();
                if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                    throw fail(where + ": field \"shape\": dimension " + d.dump() + " is too large");
                }
                view.shape.push_back(static_cast<int64_t>(u));
            } else {
                const int64_t v = d.get<int64_t>();
                if (v < 0) {
                    throw fail(where + ": field \"shape\": negative dimension " + std::to_string(v) +
                               " (expected >= 0)");
                }
                view.shape.push_back(v);
            }
        }
        const auto& jo = entry["data_offsets"];
        if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned()) {
            throw fail(where + ": field \"data_offsets\": expected [begin, end] non-negative integers, found " +
                       jo.dump());
        }
        const uint64_t begin = jo[0].get<uint64_t>();
        const uint64_t end = jo[1].get<uint64_t>();
        if (begin > end) {
            throw fail(where + ": field \"data_offsets\": begin " + std::to_string(begin) + " > end " +
                       std::to_string(end));
        }
        if (end > data_size) {
            throw fail(where + ": field \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(end) +
                       "] lies outside the data area of " + std::to_string(data_size) + " bytes");
        }
        uint64_t expected = 0;
        if (!checked_byte_size(view.shape, dtype_size(view.dtype), expected)) {
            throw fail(where + ": shape " + shape_string(view.shape) + " overflows the byte size");
        }
        if (expected != end - begin) {
            throw fail(where + ": byte length " + std::to_string(end - begin) + " does not match shape " +
                       shape_string(view.shape) + " x " + dtype_name(view.dtype) + " (" +
                       std::to_string(dtype_size(view.dtype)) + " bytes) = " + std::to_string(expected) +
                       " bytes");
        }
        view.data = data_begin + begin;
        view.size_bytes = static_cast<size_t>(end - begin);
        ranges.push_back({begin, end, file->tensors_.size()});
        file->tensors_.push_back(std::move(view));
    }

    // Overlaps: sort by begin; empty tensors cannot overlap anything.
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    const Range* previous = nullptr;
    for (const Range& r : ranges) {
        if (r.begin == r.end) continue;
        if (previous && r.begin < previous->end) {
            throw fail("tensor \"" + file->tensors_[r.index].name + "\" (bytes [" + std::to_string(r.begin) + ", " +
                       std::to_string(r.end) + ")) overlaps tensor \"" + file->tensors_[previous->index].name +
                       "\" (bytes [" + std::to_string(previous->begin) + ", " + std::to_string(previous->end) +
                       ")): expected disjoint data offsets");
        }
        previous = &r;
    }

    std::vector<TensorView> ordered;
    ordered.reserve(ranges.size());
    for (const Range& r : ranges) ordered.push_back(std::move(file->tensors_[r.index]));
    file->tensors_ = std::move(ordered);
    for (size_t i = 0; i < file->tensors_.size(); ++i) file->index_[file->tensors_[i].name] = i;
    return file;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::at(const std::string& name) const {
    const TensorView* view = find(name);
    if (!view) {
        throw Error(path_ + ": tensor \"" + name + "\" not found (the file holds " +
                    std::to_string(tensors_.size()) + " tensors)");
    }
    return *view;
}

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // nlohmann's ordered_json keeps the tensors in the order given (readers do not care, humans do).
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [key, value] : metadata) meta[key] = value;
        header["__metadata__"] = meta;
    }
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const TensorView& t : tensors) {
        const std::string where = path + ": tensor \"" + t.name + "\"";
        if (t.name == "__metadata__") throw Error(where + ": the name is reserved");
        if (!names.insert(t.name).second) throw Error(where + ": duplicate name");
        uint64_t expected = 0;
        if (!checked_byte_size(t.shape, dtype_size(t.dtype), expected)) {
            throw Error(where + ": invalid shape " + shape_string(t.shape));
        }
        if (expected != t.size_bytes) {
            throw Error(where + ": size_bytes " + std::to_string(t.size_bytes) + " does not match shape " +
                        shape_string(t.shape) + " x " + dtype_name(t.dtype) + " = " + std::to_string(expected));
        }
        if (t.size_bytes > 0 && !t.data) throw Error(where + ": no data");
        header[t.name] = {{"dtype", dtype_name(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + t.size_bytes}}};
        offset += t.size_bytes;
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": cannot encode the header (tensor names and metadata must be UTF-8): " + e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<uint8_t> bytes(8 + text.size() + offset);
    const uint64_t header_len = text.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(header_len >> (8 * i));
    std::memcpy(bytes.data() + 8, text.data(), text.size());
    uint8_t* out = bytes.data() + 8 + text.size();
    for (const TensorView& t : tensors) {
        if (t.size_bytes) std::memcpy(out, t.data, t.size_bytes);
        out += t.size_bytes;
    }
    write_file_atomically(path, bytes);
}

}  // namespace atelier
