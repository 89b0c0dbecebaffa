// atelier/error.h - the one exception type of the engine.
#pragma once
#include <stdexcept>
#include <string>

namespace atelier {

// Every failure the engine reports: the message names what was wrong and where
// (file, tensor, field), and what was expected versus found.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace atelier
