// Textual-inversion files: A1111 (`emb_params`, token from the file name) and diffusers
// (`learned_embeds.safetensors`, {token: vectors}), as AUTOMATIC1111's textual_inversion.py and diffusers
// v0.25.1 `loaders/textual_inversion.py` read them.
#include "personalize/embeddings.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "atelier/error.h"
#include "io/safetensors.h"
#include "runtime/tensors.h"

namespace atelier {
namespace {

std::string shape_text(at::IntArrayRef shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

at::Tensor as_vectors(const std::string& path, const std::string& key, const at::Tensor& t, int64_t hidden) {
    if (!at::isFloatingType(t.scalar_type()))
        throw Error("embedding file " + path + ": tensor '" + key + "' has a non-floating dtype");
    at::Tensor v = t.to(at::kFloat);
    if (v.dim() == 1) v = v.unsqueeze(0);
    if (v.dim() != 2 || v.size(0) < 1 || (hidden > 0 && v.size(1) != hidden))
        throw Error("embedding file " + path + ": tensor '" + key + "' has shape " + shape_text(t.sizes()) +
                    ", expected [N, " + (hidden > 0 ? std::to_string(hidden) : std::string("dim")) +
                    "] for this text encoder");
    return v.clone();
}

}  // namespace

std::vector<TextualInversion> read_embeddings(const std::string& path, const std::string& token, int64_t hidden) {
    const TensorMap tensors = load_tensors(path);
    std::vector<TextualInversion> out;
    const std::string stem = std::filesystem::path(path).stem().string();
    auto a1111 = tensors.find("emb_params");
    if (a1111 == tensors.end())
        for (auto it = tensors.begin(); it != tensors.end(); ++it)
            if (it->first.rfind("string_to_param.", 0) == 0) { a1111 = it; break; }
    if (a1111 != tensors.end()) {
        if (tensors.size() != 1)
            throw Error("embedding file " + path + ": an A1111 embedding ('" + a1111->first +
                        "') must be the only tensor, found " + std::to_string(tensors.size()));
        out.push_back({token.empty() ? stem : token, as_vectors(path, a1111->first, a1111->second, hidden)});
        return out;
    }
    if (tensors.empty()) throw Error("embedding file " + path + ": no tensors");
    for (const char* sdxl : {"clip_l", "clip_g"})
        if (tensors.count(sdxl))
            throw Error("embedding file " + path + ": key '" + sdxl + "' is an SDXL embedding (not supported)");
    if (!token.empty() && tensors.size() > 1)
        throw Error("embedding file " + path + " holds " + std::to_string(tensors.size()) +
                    " tokens: a token name cannot rename them all");
    for (const auto& [key, t] : tensors) out.push_back({token.empty() ? key : token, as_vectors(path, key, t, hidden)});
    return out;
}

void write_embedding_a1111(const std::string& path, const TextualInversion& ti,
                           std::map<std::string, std::string> metadata) {
    metadata.emplace("name", ti.token);
    save_tensors(path, {{"emb_params", ti.vectors.detach().to(at::kCPU, at::kFloat).contiguous()}}, metadata);
}

void write_embedding_diffusers(const std::string& path, const TextualInversion& ti,
                               const std::map<std::string, std::string>& metadata) {
    save_tensors(path, {{ti.token, ti.vectors.detach().to(at::kCPU, at::kFloat).contiguous()}}, metadata);
}

std::vector<std::string> expanded_tokens(const std::string& token, int64_t vectors) {
    std::vector<std::string> words{token};
    for (int64_t i = 1; i < vectors; ++i) words.push_back(token + "_" + std::to_string(i));
    return words;
}

std::string expand_token_in_prompt(const std::string& prompt, const std::string& token, int64_t vectors) {
    if (vectors <= 1 || token.empty()) return prompt;
    std::string joined;
    for (const std::string& w : expanded_tokens(token, vectors)) joined += (joined.empty() ? "" : " ") + w;
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = prompt.find(token, pos)) != std::string::npos; pos = hit + token.size())
        out += prompt.substr(pos, hit - pos) + joined;
    return out + prompt.substr(pos);
}

}  // namespace atelier
