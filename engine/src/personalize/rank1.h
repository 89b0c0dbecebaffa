// Key-locked gated rank-1 edits of the cross-attention K and V projections (Perfusion: Tewel et al. 2023,
// "Key-Locked Rank One Editing for Text-to-Image Personalization", arXiv:2305.01644) (internal).
//
// Which part of the paper each piece implements (Sec. 4, "Method"):
//  - ROME-style rank-1 update (their rank-one editing equation, after Meng et al. 2022): for a target input
//    i* (the concept's text encoding) and output o*, W' = W + Lambda (C^-1 i*)^T with
//    Lambda = (o* - W i*) / ((C^-1 i*)^T i*), C the (uncentred) covariance of text encodings. So for any
//    encoding e: W' e = W e + sim(e) (o* - W i*), sim(e) = (C^-1 i*)^T e / ((C^-1 i*)^T i*).
//    `direction` stores C^-1 i* / ((C^-1 i*)^T i*), so sim(e) = direction . e.
//  - The gated rank-1 update (their gating equation): sim(e) is replaced by sigmoid((sim(e) - beta) / tau),
//    bias beta and temperature tau; at inference beta and tau set the fidelity / prompt balance.
//  - Key locking: for W_K the target is o*_K = W_K i_class (the superclass word's encoding), so the concept
//    attends where its class would; for W_V the target o*_V = v* is learned (one vector per cross-attention).
//  - i* follows the concept word's encodings as its word embedding trains (a running mean over training
//    prompts, as the paper keeps the target input in step with the learned embedding).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "models/layers.h"

namespace atelier {

// y + strength * sigmoid((x . direction - bias) / temperature) * (target - base), the gate taken per row
// of x (per text token). target/base: [out]; direction: [in].
class GatedRank1Adapter : public LinearAdapter {
public:
    at::Tensor direction, target, base;
    double bias = 0.75, temperature = 0.1, strength = 1.0;
    at::Tensor apply(const at::Tensor& x, at::Tensor y) const override;
};

struct Rank1Edit {
    std::string token, class_word;
    at::Tensor embedding;    // [1, hidden] the concept word's embedding
    at::Tensor input;        // i* [context dim]
    at::Tensor direction;    // C^-1 i* / (i*^T C^-1 i*) [context dim]
    at::Tensor class_input;  // i_class [context dim]
    std::map<std::string, at::Tensor> values;  // cross-attention name ("...attn2") -> v* [dim]
    double gate_bias = 0.75, gate_temperature = 0.1;
};

// Tensors `embedding`, `input`, `direction`, `class_input`, `values.<attn2 name>`; metadata
// atelier.method = rank1, atelier.token, atelier.class_word, atelier.gate_bias, atelier.gate_temperature.
void write_rank1(const std::string& path, const Rank1Edit& edit, std::map<std::string, std::string> metadata = {});
Rank1Edit read_rank1(const std::string& path);

}  // namespace atelier
