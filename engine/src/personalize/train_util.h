// Small helpers the model trainers share (internal).
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "atelier/error.h"
#include "models/layers.h"

namespace atelier {

using train_clock = std::chrono::steady_clock;

inline double seconds_since(train_clock::time_point t) {
    return std::chrono::duration<double>(train_clock::now() - t).count();
}

// FNV-1a 64 of a name: per-tensor seeds, so a tensor's initial values do not depend on the others'.
inline uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
    return h;
}

// A config or marker file, creating its folder.
inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw Error(path.string() + ": cannot write");
}

// Removes the adapters it attached (LoRA deltas, rank-1 edits on the UNet's Linears) when it goes out of scope.
struct AdapterGuard {
    std::vector<std::pair<Linear*, size_t>> attached;
    void attach(Linear& l, std::shared_ptr<const LinearAdapter> a) {
        attached.push_back({&l, l.adapters.size()});
        l.adapters.push_back(std::move(a));
    }
    ~AdapterGuard() {
        for (auto it = attached.rbegin(); it != attached.rend(); ++it) it->first->adapters.resize(it->second);
    }
};

}  // namespace atelier
