#include "atelier/prompt_travel.h"

#include "atelier/error.h"

#include <cctype>

namespace atelier {

namespace {

std::string trim(const std::string& text, const char* outer = " \t\r\n") {
    const size_t begin = text.find_first_not_of(outer);
    if (begin == std::string::npos) return {};
    return text.substr(begin, text.find_last_not_of(outer) - begin + 1);
}

// The separators a user leaves at the ends of a prompt part ("a red star,").
std::string trim_part(const std::string& text) { return trim(text, " \t\r\n,"); }

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return lines;
}

// "15: on the left" -> frame 15, text "on the left". The colon must be followed by a space or the end of
// the line, so that "16:9 framing" stays an ordinary line.
bool keyframe_line(const std::string& line, int& frame, std::string& text) {
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos || !std::isdigit(static_cast<unsigned char>(line[i]))) return false;
    const size_t digits = i;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    const std::string number = line.substr(digits, i - digits);
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size() || line[i] != ':') return false;
    ++i;
    if (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) return false;
    if (number.size() > 6) throw Error("prompt travel: frame " + number + " is out of range (line \"" + trim(line) + "\")");
    frame = std::stoi(number);
    text = trim_part(line.substr(i));
    return true;
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& part : parts) {
        if (part.empty()) continue;
        out += (out.empty() ? "" : ", ") + part;
    }
    return out;
}

}  // namespace

PromptTravel::Position PromptTravel::at(int frame) const {
    Position p;
    for (size_t k = 0; k < keyframes.size() && keyframes[k].frame <= frame; ++k) p.before = k;
    p.after = p.before;
    if (frame > keyframes[p.before].frame && p.before + 1 < keyframes.size()) {
        p.after = p.before + 1;
        p.t = double(frame - keyframes[p.before].frame) / double(keyframes[p.after].frame - keyframes[p.before].frame);
    }
    return p;
}

std::optional<PromptTravel> parse_prompt_travel(const std::string& text) {
    enum class Part { head, keyframes, tail } part = Part::head;
    std::vector<std::string> head, tail;
    std::vector<std::pair<int, std::string>> keyframes;
    for (const std::string& line : lines_of(text)) {
        if (trim(line).empty()) continue;
        int frame = 0;
        std::string keyframe_text;
        if (keyframe_line(line, frame, keyframe_text)) {
            if (part == Part::tail)
                throw Error("prompt travel: the keyframe line \"" + trim(line) +
                            "\" comes after a tail line; keyframe lines (FRAME: text) must follow one another");
            if (!keyframes.empty() && frame <= keyframes.back().first)
                throw Error("prompt travel: keyframe " + std::to_string(frame) + " comes after keyframe " +
                            std::to_string(keyframes.back().first) + "; frames must ascend (line \"" + trim(line) + "\")");
            part = Part::keyframes;
            keyframes.emplace_back(frame, keyframe_text);
        } else {
            if (part == Part::keyframes) part = Part::tail;
            (part == Part::head ? head : tail).push_back(trim_part(line));
        }
    }
    if (keyframes.empty()) return std::nullopt;
    const std::string head_text = join(head), tail_text = join(tail);
    PromptTravel travel;
    for (const auto& [frame, keyframe_text] : keyframes)
        travel.keyframes.push_back({frame, join({head_text, keyframe_text, tail_text})});
    return travel;
}

void check_prompt_travel(const PromptTravel& travel, int frames) {
    const PromptKeyframe& last = travel.keyframes.back();
    if (last.frame >= frames)
        throw Error("prompt travel: keyframe " + std::to_string(last.frame) + " is beyond the clip's " +
                    std::to_string(frames) + " frames (frames count from 0 to " + std::to_string(frames - 1) + ")");
}

std::string first_frame_prompt(const std::string& text) {
    const std::optional<PromptTravel> travel = parse_prompt_travel(text);
    return travel ? travel->keyframes.front().prompt : text;
}

std::string append_to_prompt(const std::string& text, const std::string& phrase) {
    const std::string trimmed = trim(text, " \t\r\n,.;");
    if (trimmed.empty()) return phrase;
    if (parse_prompt_travel(trimmed)) {
        // After a keyframe line a new line starts the tail; after a tail line the phrase joins it.
        const std::vector<std::string> lines = lines_of(trimmed);
        int frame = 0;
        std::string ignored;
        if (keyframe_line(lines.back(), frame, ignored)) return trimmed + "\n" + phrase;
    }
    return trimmed + ", " + phrase;
}

}  // namespace atelier
