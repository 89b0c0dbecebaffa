// The caption rule shared by the CLI's PICTURE.txt files and the Concepts page (torch-free).
#include <cctype>

#include "atelier/concepts.h"
#include "atelier/error.h"

namespace atelier {

std::string concept_caption(const std::string& text, const std::string& token) {
    const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    size_t begin = 0, end = text.size();
    while (begin < end && space(text[begin])) ++begin;
    while (end > begin && space(text[end - 1])) --end;
    std::string caption = text.substr(begin, end - begin);
    if (caption.find("{}") != std::string::npos) return caption;
    const size_t at = token.empty() ? std::string::npos : caption.find(token);
    if (at == std::string::npos)
        throw Error("the caption \"" + caption + "\" names neither {} nor the token " + token +
                    ": write one of them where the concept goes");
    caption.replace(at, token.size(), "{}");
    return caption;
}

}  // namespace atelier
