// One scratch folder per use: fresh and unique (mkdtemp), removed with the object. Paths built from
// the process id are not enough: CI machines reuse ids across runs and /tmp keeps the last run's files.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name = "test") {
        std::string pattern = (std::filesystem::temp_directory_path() / ("atelier-" + name + "-XXXXXX")).string();
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a scratch folder " + pattern);
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string str() const { return path.string(); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};
