// Perfusion's key-locked gated rank-1 edits (Tewel et al. 2023, arXiv:2305.01644): the adapter and the file.
#include "personalize/rank1.h"

#include <ATen/ATen.h>

#include "atelier/error.h"
#include "io/safetensors.h"
#include "runtime/tensors.h"

namespace atelier {

at::Tensor GatedRank1Adapter::apply(const at::Tensor& x, at::Tensor y) const {
    // gated rank-1 update: W' e = W e + sigmoid((sim(e) - beta) / tau) (o* - W i*)
    const at::Tensor sim = at::matmul(x, direction.to(x.dtype()));
    const at::Tensor gate = at::sigmoid((sim - bias) / temperature) * strength;
    return y + gate.unsqueeze(-1) * (target - base).to(y.dtype());
}

void write_rank1(const std::string& path, const Rank1Edit& edit, std::map<std::string, std::string> metadata) {
    auto cpu = [](const at::Tensor& t) { return t.detach().to(at::kCPU, at::kFloat).contiguous(); };
    TensorMap out{{"embedding", cpu(edit.embedding)}, {"input", cpu(edit.input)},
                  {"direction", cpu(edit.direction)}, {"class_input", cpu(edit.class_input)}};
    for (const auto& [name, v] : edit.values) out["values." + name] = cpu(v);
    metadata["atelier.method"] = "rank1";
    metadata["atelier.token"] = edit.token;
    metadata["atelier.class_word"] = edit.class_word;
    metadata["atelier.gate_bias"] = std::to_string(edit.gate_bias);
    metadata["atelier.gate_temperature"] = std::to_string(edit.gate_temperature);
    save_tensors(path, out, metadata);
}

Rank1Edit read_rank1(const std::string& path) {
    const TensorMap tensors = load_tensors(path);
    const auto meta = SafetensorsFile::open(path)->metadata();
    Rank1Edit e;
    auto need = [&](const char* key) {
        const auto it = tensors.find(key);
        if (it == tensors.end()) throw Error("rank-1 edit file " + path + ": missing tensor '" + key + "'");
        return it->second.to(at::kFloat);
    };
    e.embedding = need("embedding");
    e.input = need("input");
    e.direction = need("direction");
    e.class_input = need("class_input");
    if (e.embedding.dim() != 2 || e.embedding.size(0) != 1)
        throw Error("rank-1 edit file " + path + ": tensor 'embedding' must be [1, hidden]");
    for (const at::Tensor* t : {&e.input, &e.direction, &e.class_input})
        if (t->dim() != 1 || t->size(0) != e.input.size(0))
            throw Error("rank-1 edit file " + path + ": 'input', 'direction' and 'class_input' must be vectors of one size");
    for (const auto& [key, t] : tensors)
        if (key.rfind("values.", 0) == 0) e.values[key.substr(7)] = t.to(at::kFloat);
    if (e.values.empty()) throw Error("rank-1 edit file " + path + ": no 'values.*' tensors");
    auto text = [&](const char* key) {
        const auto it = meta.find(key);
        return it == meta.end() ? std::string() : it->second;
    };
    e.token = text("atelier.token");
    e.class_word = text("atelier.class_word");
    if (!text("atelier.gate_bias").empty()) e.gate_bias = std::stod(text("atelier.gate_bias"));
    if (!text("atelier.gate_temperature").empty()) e.gate_temperature = std::stod(text("atelier.gate_temperature"));
    return e;
}

}  // namespace atelier
