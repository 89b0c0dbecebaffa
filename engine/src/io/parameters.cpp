// A1111's "parameters" text (the PNG tEXt chunk of stable-diffusion-webui), written and read the way
// webui's modules/infotext_utils.py (parse_generation_parameters, quote/unquote) does. Torch-free.
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <regex>
#include <sstream>

#include "atelier/engine.h"
#include "atelier/error.h"

namespace atelier {
namespace {

struct SamplerName {
    const char* ours;
    const char* a1111;
    const char* schedule;  // "Schedule type" written with it, or nullptr
};

// Our sampler names and webui's labels (modules/sd_samplers_kdiffusion.py, sd_samplers_timesteps.py,
// sd_schedulers.py). DPM++ 2M Karras is written the webui >= 1.9 way: "DPM++ 2M" + "Schedule type: Karras".
constexpr SamplerName kSamplers[] = {
    {"ddim", "DDIM", nullptr},          {"euler", "Euler", nullptr},
    {"euler_a", "Euler a", nullptr},    {"dpmpp_2m", "DPM++ 2M", nullptr},
    {"dpmpp_2m_karras", "DPM++ 2M", "Karras"}, {"lcm", "LCM", nullptr},
};

std::string format_number(double value) {
    // Shortest text that reads back to the same float: 7 -> "7", 7.5 -> "7.5", 0.75f -> "0.75".
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, static_cast<float>(value));
    return std::string(buffer, result.ptr);
}

// webui quote(): JSON-quote values holding ',', '\n' or ':' so the parameter line stays parseable.
std::string quote(const std::string& text) {
    if (text.find_first_of(",\n:") == std::string::npos) return text;
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string unquote(const std::string& text) {
    if (text.size() < 2 || text.front() != '"' || text.back() != '"') return text;
    try {
        return nlohmann::json::parse(text).get<std::string>();
    } catch (const std::exception&) {
        return text;  // webui also keeps the raw text when json.loads fails
    }
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// webui re_param_code: \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
const std::regex& param_regex() {
    static const std::regex re(R"re(\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$))re");
    return re;
}

std::vector<std::pair<std::string, std::string>> find_params(const std::string& line) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), param_regex()); it != std::sregex_iterator(); ++it) {
        out.emplace_back((*it)[1].str(), (*it)[2].str());
    }
    return out;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream in(text);
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    if (lines.empty()) lines.emplace_back();
    return lines;
}

template <typename T>
T parse_int(const std::string& key, const std::string& value) {
    T out{};
    const std::string v = trim(value);
    const auto result = std::from_chars(v.data(), v.data() + v.size(), out);
    if (result.ec != std::errc() || result.ptr != v.data() + v.size()) {
        throw Error("parameters: field \"" + key + "\": expected an integer, found \"" + value + "\"");
    }
    return out;
}

float parse_float(const std::string& key, const std::string& value) {
    const std::string v = trim(value);
    char* end = nullptr;
    const double out = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(out)) {
        throw Error("parameters: field \"" + key + "\": expected a number, found \"" + value + "\"");
    }
    return static_cast<float>(out);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::string format_parameters(const GenerationParams& params) {
    std::string out = params.prompt;
    if (!params.negative_prompt.empty()) out += "\nNegative prompt: " + params.negative_prompt;

    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back("Steps", std::to_string(params.steps));
    std::string sampler = params.sampler, schedule;
    for (const SamplerName& s : kSamplers) {
        if (params.sampler == s.ours) {
            sampler = s.a1111;
            schedule = s.schedule ? s.schedule : "";
        }
    }
    if (!sampler.empty()) fields.emplace_back("Sampler", quote(sampler));
    if (!schedule.empty()) fields.emplace_back("Schedule type", schedule);
    fields.emplace_back("CFG scale", format_number(params.guidance));
    fields.emplace_back("Seed", std::to_string(params.seed));
    fields.emplace_back("Size", std::to_string(params.width) + "x" + std::to_string(params.height));
    if (!params.model_id.empty()) fields.emplace_back("Model hash", quote(params.model_id));
    if (!params.model_name.empty()) fields.emplace_back("Model", quote(params.model_name));
    if (params.strength < 1.0f) fields.emplace_back("Denoising strength", format_number(params.strength));
    if (params.clip_skip > 1) fields.emplace_back("Clip skip", std::to_string(params.clip_skip));
    // Not a webui field (webui keeps unknown fields): our diffusers-style timestep spacing.
    if (!params.timestep_spacing.empty()) fields.emplace_back("Timestep spacing", params.timestep_spacing);
    // Video frames (AnimateDiff webui extensions write similar fields; ours are plain).
    if (params.frames > 1) {
        fields.emplace_back("Frames", std::to_string(params.frames));
        fields.emplace_back("Frame", std::to_string(params.frame_index));
        fields.emplace_back("FPS", format_number(params.fps));
        if (!params.motion_module.empty()) fields.emplace_back("Motion module", quote(params.motion_module));
    }

    std::string line;
    for (const auto& [key, value] : fields) line += (line.empty() ? "" : ", ") + key + ": " + value;
    return out + "\n" + line;
}

GenerationParams parse_parameters(const std::string& text) {
    // webui: the last line is the parameter line if it holds at least 3 "key: value" pairs; lines before
    // it are the prompt, and from "Negative prompt:" on the negative prompt (each line stripped).
    std::vector<std::string> lines = split_lines(trim(text));
    std::string last = lines.back();
    lines.pop_back();
    std::vector<std::pair<std::string, std::string>> fields = find_params(last);
    if (fields.size() < 3) {
        throw Error("parameters: no parameter line (\"Steps: ..., Sampler: ..., CFG scale: ...\") in the text; "
                    "found last line \"" + last.substr(0, 80) + "\"");
    }
    GenerationParams params;
    params.strength = 1.0f;
    bool negative = false;
    for (std::string line : lines) {
        line = trim(line);
        if (line.rfind("Negative prompt:", 0) == 0) {
            negative = true;
            line = trim(line.substr(16));
        }
        std::string& target = negative ? params.negative_prompt : params.prompt;
        target += (target.empty() ? "" : "\n") + line;
    }

    std::string sampler, schedule;
    for (auto& [key, raw] : fields) {
        const std::string value = unquote(trim(raw));
        if (key == "Steps") {
            params.steps = parse_int<int>(key, value);
        } else if (key == "Sampler") {
            sampler = value;
        } else if (key == "Schedule type") {
            schedule = value;
        } else if (key == "CFG scale") {
            params.guidance = parse_float(key, value);
        } else if (key == "Seed") {
            const std::string v = trim(value);
            if (!v.empty() && v[0] == '-') throw Error("parameters: field \"Seed\": expected a non-negative integer, found \"" + value + "\"");
            params.seed = parse_int<uint64_t>(key, v);
        } else if (key == "Size") {
            const size_t x = value.find('x');
            if (x == std::string::npos) throw Error("parameters: field \"Size\": expected WIDTHxHEIGHT, found \"" + value + "\"");
            params.width = parse_int<int>(key, value.substr(0, x));
            params.height = parse_int<int>(key, value.substr(x + 1));
        } else if (key == "Model hash") {
            params.model_id = value;
        } else if (key == "Model") {
            params.model_name = value;
        } else if (key == "Denoising strength") {
            params.strength = parse_float(key, value);
        } else if (key == "Clip skip") {
            params.clip_skip = parse_int<int>(key, value);
        } else if (key == "Timestep spacing") {
            params.timestep_spacing = value;
        } else if (key == "Frames") {
            params.frames = parse_int<int>(key, value);
        } else if (key == "Frame") {
            params.frame_index = parse_int<int>(key, value);
        } else if (key == "FPS") {
            params.fps = parse_float(key, value);
        } else if (key == "Motion module") {
            params.motion_module = value;
        }
    }

    // Sampler label -> our name. Older webui wrote "DPM++ 2M Karras"; newer "DPM++ 2M" + "Schedule type".
    const std::string label = lower(sampler), sched = lower(schedule);
    params.sampler = sampler;  // unknown samplers are kept as written (generate() then names the choices)
    if (label == "ddim") params.sampler = "ddim";
    else if (label == "euler") params.sampler = "euler";
    else if (label == "euler a" || label == "euler_a") params.sampler = "euler_a";
    else if (label == "lcm") params.sampler = "lcm";
    else if (label == "dpm++ 2m karras") params.sampler = "dpmpp_2m_karras";
    else if (label == "dpm++ 2m") params.sampler = sched == "karras" ? "dpmpp_2m_karras" : "dpmpp_2m";
    return params;
}

}  // namespace atelier
