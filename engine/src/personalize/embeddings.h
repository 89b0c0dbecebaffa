// Textual inversion (Gal et al. 2022, "An Image is Worth One Word", arXiv:2208.01618): embedding files in
// the A1111 and diffusers formats, and the prompt expansion of multi-vector tokens (internal).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace atelier {

struct TextualInversion {
    std::string token;
    at::Tensor vectors;  // [N, hidden] float32
};

// A1111 (`emb_params` [N, dim] or `string_to_param.*`; token = `token` or the file name without extension)
// or diffusers (`learned_embeds.safetensors`: one or more {token: [N, dim] or [dim]}; `token`, if given,
// renames a single entry). `hidden`: the text encoder's width (checked; 0 skips). Errors name file and key.
std::vector<TextualInversion> read_embeddings(const std::string& path, const std::string& token, int64_t hidden);

void write_embedding_a1111(const std::string& path, const TextualInversion& ti,
                           std::map<std::string, std::string> metadata = {});
void write_embedding_diffusers(const std::string& path, const TextualInversion& ti,
                               const std::map<std::string, std::string>& metadata = {});

// The prompt words of a token with N vectors: "tok" (N = 1) or "tok tok_1 ... tok_{N-1}" (diffusers'
// maybe_convert_prompt), and the vocabulary entries they need.
std::vector<std::string> expanded_tokens(const std::string& token, int64_t vectors);
std::string expand_token_in_prompt(const std::string& prompt, const std::string& token, int64_t vectors);

}  // namespace atelier
