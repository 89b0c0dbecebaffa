// labels: fast
// The CLIP text encoder against transformers v4.35's CLIPTextModel (fixture text_encoder.last_hidden_state),
// from the diffusers folder and from the original single-file checkpoint.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "atelier/error.h"
#include "models/clip_text.h"
#include "runtime/tensors.h"
#include "temp_dir.h"

using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;
constexpr float kTolerance = 1e-4f;  // fixtures README: a correct float32 implementation agrees to ~1e-5..1e-4

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-sd-a-reference.safetensors");
    return ref;
}

const TensorMap& folder_weights() {
    static const TensorMap w = load_tensors(kFixtures + "/tiny-sd-a/text_encoder/model.safetensors");
    return w;
}

// A plain re-statement of the CLIP forward pass with the causal mask optional, to measure how far the
// reference is from a model that forgot it.
at::Tensor forward_by_hand(const TensorMap& w, const at::Tensor& ids, int heads, bool causal) {
    const auto W = [&](const std::string& n) { return w.at("text_model." + n); };
    at::Tensor h = at::embedding(W("embeddings.token_embedding.weight"), ids);
    const int64_t B = h.size(0), T = h.size(1), C = h.size(2), D = C / heads;
    h = h + W("embeddings.position_embedding.weight").slice(0, 0, T);
    for (int l = 0; w.count("text_model.encoder.layers." + std::to_string(l) + ".mlp.fc1.weight"); ++l) {
        const std::string p = "encoder.layers." + std::to_string(l) + ".";
        at::Tensor x = at::layer_norm(h, {C}, W(p + "layer_norm1.weight"), W(p + "layer_norm1.bias"), 1e-5);
        const auto proj = [&](const char* n) {
            return at::linear(x, W(p + "self_attn." + n + ".weight"), W(p + "self_attn." + n + ".bias"))
                .view({B, T, heads, D}).transpose(1, 2);
        };
        at::Tensor scores = at::matmul(proj("q_proj"), proj("k_proj").transpose(-1, -2)) / std::sqrt(double(D));
        if (causal) scores = scores.masked_fill(at::ones({T, T}, at::kBool).triu(1), -1e30);
        at::Tensor a = at::matmul(at::softmax(scores, -1), proj("v_proj")).transpose(1, 2).reshape({B, T, C});
        h = h + at::linear(a, W(p + "self_attn.out_proj.weight"), W(p + "self_attn.out_proj.bias"));
        x = at::layer_norm(h, {C}, W(p + "layer_norm2.weight"), W(p + "layer_norm2.bias"), 1e-5);
        x = at::linear(x, W(p + "mlp.fc1.weight"), W(p + "mlp.fc1.bias"));
        x = x * at::sigmoid(1.702 * x);
        h = h + at::linear(x, W(p + "mlp.fc2.weight"), W(p + "mlp.fc2.bias"));
    }
    return at::layer_norm(h, {C}, W("final_layer_norm.weight"), W("final_layer_norm.bias"), 1e-5);
}

}  // namespace

TEST_CASE("config from config.json and inferred from the tensors agree") {
    const ClipTextConfig c = ClipTextConfig::from_json_file(kFixtures + "/tiny-sd-a/text_encoder/config.json");
    CHECK(c.vocab_size == 49408);
    CHECK(c.hidden_size == 32);
    CHECK(c.intermediate_size == 37);
    CHECK(c.num_hidden_layers == 2);
    CHECK(c.num_attention_heads == 4);
    CHECK(c.max_position_embeddings == 77);
    CHECK(c.hidden_act == "quick_gelu");
    CHECK(c.layer_norm_eps == doctest::Approx(1e-5));
    const ClipTextConfig inferred = ClipTextConfig::infer(folder_weights());
    CHECK(inferred.vocab_size == c.vocab_size);
    CHECK(inferred.hidden_size == c.hidden_size);
    CHECK(inferred.intermediate_size == c.intermediate_size);
    CHECK(inferred.num_hidden_layers == c.num_hidden_layers);
    CHECK(inferred.num_attention_heads == c.num_attention_heads);
    CHECK(inferred.max_position_embeddings == c.max_position_embeddings);
    CHECK(inferred.hidden_act == c.hidden_act);
}

TEST_CASE("last_hidden_state matches the reference: diffusers folder and single file") {
    const at::Tensor ids = reference().at("tokenizer.input_ids");
    const at::Tensor expected = reference().at("text_encoder.last_hidden_state");
    const ClipTextConfig config = ClipTextConfig::from_json_file(kFixtures + "/tiny-sd-a/text_encoder/config.json");

    const ClipTextModel folder(config, folder_weights());
    CHECK(folder.parameter_count() == 49408 * 32 + 77 * 32 + 2 * 32 +
                                          2 * (4 * (32 * 32 + 32) + 4 * 32 + 37 * 32 + 37 + 32 * 37 + 32));
    const at::Tensor out = folder.forward(ids);
    REQUIRE(out.sizes().equals(expected.sizes()));
    const float err_folder = relative_l2(out, expected);
    std::cout << "text encoder (diffusers folder): relative L2 " << err_folder << "\n";
    CHECK(err_folder < kTolerance);
    for (int64_t i = 0; i < 3; ++i) {
        const float err = relative_l2(out[i], expected[i]);
        std::cout << "  prompt " << i << ": " << err << "\n";
        CHECK(err < kTolerance);
    }
    // The pipeline's embeddings of the empty negative prompt are the same computation.
    CHECK(relative_l2(folder.forward(reference().at("pipeline.negative_prompt_ids")),
                      reference().at("pipeline.negative_prompt_embeds")) < kTolerance);

    const TensorMap checkpoint = load_tensors(kFixtures + "/tiny-sd-a-original.safetensors");
    const TensorMap converted = clip_text_weights_from_checkpoint(checkpoint);
    CHECK(converted.size() == folder_weights().size());  // position_ids dropped, nothing else
    for (const auto& [name, tensor] : folder_weights()) {
        CAPTURE(name);
        REQUIRE(converted.count(name) == 1);
        CHECK(at::equal(converted.at(name), tensor));
    }
    const ClipTextModel single(ClipTextConfig::infer(converted), converted);
    const float err_single = relative_l2(single.forward(ids), expected);
    std::cout << "text encoder (single file, inferred config): relative L2 " << err_single << "\n";
    CHECK(err_single < kTolerance);
}

TEST_CASE("the comparison would catch a wrong epsilon, a missing causal mask or a wrong activation") {
    const at::Tensor ids = reference().at("tokenizer.input_ids");
    const at::Tensor expected = reference().at("text_encoder.last_hidden_state");
    const ClipTextConfig good = ClipTextConfig::from_json_file(kFixtures + "/tiny-sd-a/text_encoder/config.json");

    ClipTextConfig eps = good;
    eps.layer_norm_eps = 1e-3;  // a plausible mistake (other norms in SD use 1e-6 / 1e-5)
    const float err_eps = relative_l2(ClipTextModel(eps, folder_weights()).forward(ids), expected);
    ClipTextConfig act = good;
    act.hidden_act = "gelu";
    const float err_act = relative_l2(ClipTextModel(act, folder_weights()).forward(ids), expected);
    ClipTextConfig heads = good;
    heads.num_attention_heads = 2;
    const float err_heads = relative_l2(ClipTextModel(heads, folder_weights()).forward(ids), expected);
    std::cout << "perturbed: eps 1e-3 " << err_eps << ", gelu " << err_act << ", 2 heads " << err_heads << "\n";
    CHECK(err_eps > kTolerance);
    CHECK(err_act > kTolerance);
    CHECK(err_heads > kTolerance);

    const float err_by_hand = relative_l2(forward_by_hand(folder_weights(), ids, 4, true), expected);
    const float err_no_mask = relative_l2(forward_by_hand(folder_weights(), ids, 4, false), expected);
    std::cout << "by hand: with causal mask " << err_by_hand << ", without " << err_no_mask << "\n";
    CHECK(err_by_hand < kTolerance);
    CHECK(err_no_mask > kTolerance);

    // Without the causal mask, early tokens would see later ones: compare a prefix-only computation.
    // With the mask, the hidden states of the first k tokens do not depend on the tokens after them.
    const ClipTextModel model(good, folder_weights());
    const at::Tensor full = model.forward(ids);
    const at::Tensor prefix = model.forward(ids.slice(1, 0, 5));
    CHECK(relative_l2(prefix, full.slice(1, 0, 5)) < 1e-6f);
    // ... and the test data is sensitive to such leakage: changing a late token changes nothing early
    // but does change its own position.
    at::Tensor changed_ids = ids.clone();
    changed_ids.index_put_({0, 10}, 1000);
    const at::Tensor changed = model.forward(changed_ids);
    CHECK(relative_l2(changed.slice(1, 0, 10), full.slice(1, 0, 10)) < 1e-6f);
    CHECK(relative_l2(changed.slice(1, 10, 11), full.slice(1, 10, 11)) > 1e-2f);
}

TEST_CASE("clip skip uses the penultimate layer through the final LayerNorm") {
    const ClipTextModel model(ClipTextConfig::infer(folder_weights()), folder_weights());
    const at::Tensor ids = reference().at("tokenizer.input_ids");
    const at::Tensor last = model.forward(ids, 1);
    const at::Tensor skip2 = model.forward(ids, 2);
    CHECK(relative_l2(skip2, last) > 1e-2f);
    // Reference for clip skip 2 on this 2-layer model: a model truncated to its first layer.
    ClipTextConfig one_layer = model.config();
    one_layer.num_hidden_layers = 1;
    const ClipTextModel truncated(one_layer, folder_weights());
    CHECK(relative_l2(skip2, truncated.forward(ids)) < 1e-7f);
    CHECK_THROWS_AS(model.forward(ids, 3), Error);
    CHECK_THROWS_AS(model.forward(ids, 0), Error);
}

TEST_CASE("textual-inversion rows: ids past the vocabulary use the extra embeddings") {
    ClipTextModel model(ClipTextConfig::infer(folder_weights()), folder_weights());
    const at::Tensor ids = reference().at("tokenizer.input_ids").slice(0, 0, 1);
    // A new row equal to the embedding of "cat</w>" (2368): swapping that id for 49408 changes nothing.
    model.set_extra_embeddings(folder_weights().at("text_model.embeddings.token_embedding.weight").slice(0, 2368, 2369));
    CHECK(model.extra_embedding_count() == 1);
    at::Tensor swapped = ids.clone();
    swapped.index_put_({0, 5}, 49408);
    REQUIRE(ids[0][5].item<int64_t>() == 2368);
    CHECK(relative_l2(model.forward(swapped), model.forward(ids)) < 1e-7f);
    // forward_embeddings with the embedded tokens is forward.
    CHECK(relative_l2(model.forward_embeddings(model.embed_tokens(ids)), model.forward(ids)) < 1e-7f);
    model.set_extra_embeddings(at::Tensor());
    CHECK_THROWS_AS(model.forward(swapped), Error);
    CHECK_THROWS_AS(model.set_extra_embeddings(at::zeros({1, 31})), Error);
}

TEST_CASE("missing or mis-shaped tensors are clear errors") {
    const ClipTextConfig config = ClipTextConfig::infer(folder_weights());
    TensorMap missing = folder_weights();
    missing.erase("text_model.encoder.layers.1.mlp.fc2.weight");
    try {
        ClipTextModel model(config, missing);
        FAIL("no error");
    } catch (const Error& e) {
        const std::string m = e.what();
        CHECK(m.find("text_model.encoder.layers.1.mlp.fc2.weight") != std::string::npos);
        CHECK(m.find("[32, 37]") != std::string::npos);
    }
    TensorMap wrong = folder_weights();
    wrong["text_model.final_layer_norm.weight"] = at::ones({31});
    try {
        ClipTextModel model(config, wrong);
        FAIL("no error");
    } catch (const Error& e) {
        const std::string m = e.what();
        CHECK(m.find("text_model.final_layer_norm.weight") != std::string::npos);
        CHECK(m.find("[31]") != std::string::npos);
        CHECK(m.find("expected [32]") != std::string::npos);
    }
    CHECK_THROWS_AS(ClipTextConfig::infer(TensorMap{}), Error);
}

TEST_CASE("tensors: save/load round trip of every dtype, zero-copy views are safe to write") {
    const TempDir dir("tensors");
    const std::string path = dir / "all.safetensors";
    TensorMap tensors;
    tensors["f32"] = at::randn({3, 4});
    tensors["f16"] = at::randn({5}).to(at::kHalf);
    tensors["bf16"] = at::randn({2, 2}).to(at::kBFloat16);
    tensors["f64"] = at::randn({7}, at::kDouble);
    tensors["i64"] = at::arange(10, at::kLong);
    tensors["i32"] = at::arange(-3, 3, at::kInt);
    tensors["i16"] = at::arange(4, at::kShort);
    tensors["i8"] = at::arange(-4, 4, at::kChar);
    tensors["u8"] = at::arange(250, 256, at::kByte);
    tensors["bool"] = at::arange(5) > 2;
    tensors["strided"] = at::randn({4, 6}).t();  // non-contiguous input
    save_tensors(path, tensors, {{"k", "v"}});
    TensorMap back = load_tensors(path);
    REQUIRE(back.size() == tensors.size());
    for (const auto& [name, t] : tensors) {
        CAPTURE(name);
        CHECK((back.at(name).scalar_type() == t.scalar_type()));
        CHECK(at::equal(back.at(name), t));
    }
    // The map is written in name order, so e.g. "f16" follows 13 bytes of bf16 + bool: misaligned, copied.
    // A file with one aligned float32 tensor is loaded zero-copy; writing into it works (copy-on-write
    // pages) and changes neither the file nor a second load.
    const at::Tensor original = at::randn({64, 64});
    save_tensors(path, {{"w", original}});
    at::Tensor mapped = load_tensors(path).at("w");
    const at::Tensor again = load_tensors(path).at("w");
    mapped.mul_(0);
    CHECK(mapped.abs().sum().item<float>() == 0.0f);
    CHECK(at::equal(again, original));
    CHECK(at::equal(load_tensors(path).at("w"), original));
    std::remove(path.c_str());
    CHECK_THROWS_AS(load_tensors(path), Error);
    CHECK(relative_l2(at::ones({4}), at::ones({4})) == 0.0f);
    CHECK(relative_l2(at::full({4}, 1.1), at::ones({4})) == doctest::Approx(0.1).epsilon(1e-4));
    CHECK_THROWS_AS(relative_l2(at::ones({4}), at::ones({5})), Error);
}

TEST_CASE("SD2 OpenCLIP checkpoint layout converts to the Hugging Face names (fused in_proj split)") {
    // Build an OpenCLIP-layout checkpoint from the tiny weights: q/k/v fused into in_proj, plus one more
    // resblock at the end, which SD2 never uses (it takes the penultimate layer) and diffusers drops.
    const TensorMap& hf = folder_weights();
    const auto W = [&](const std::string& n) { return hf.at("text_model." + n); };
    TensorMap oc;
    const std::string p = "cond_stage_model.model.";
    oc[p + "token_embedding.weight"] = W("embeddings.token_embedding.weight");
    oc[p + "positional_embedding"] = W("embeddings.position_embedding.weight");
    oc[p + "ln_final.weight"] = W("final_layer_norm.weight");
    oc[p + "ln_final.bias"] = W("final_layer_norm.bias");
    oc[p + "text_projection"] = at::zeros({32, 32});
    oc[p + "logit_scale"] = at::zeros({});
    for (int l = 0; l < 3; ++l) {
        const int src = l < 2 ? l : 1;  // the extra last block: a copy, to be dropped
        const std::string s = "encoder.layers." + std::to_string(src) + ".";
        const std::string d = p + "transformer.resblocks." + std::to_string(l) + ".";
        oc[d + "attn.in_proj_weight"] =
            at::cat({W(s + "self_attn.q_proj.weight"), W(s + "self_attn.k_proj.weight"), W(s + "self_attn.v_proj.weight")});
        oc[d + "attn.in_proj_bias"] =
            at::cat({W(s + "self_attn.q_proj.bias"), W(s + "self_attn.k_proj.bias"), W(s + "self_attn.v_proj.bias")});
        oc[d + "attn.out_proj.weight"] = W(s + "self_attn.out_proj.weight");
        oc[d + "attn.out_proj.bias"] = W(s + "self_attn.out_proj.bias");
        oc[d + "ln_1.weight"] = W(s + "layer_norm1.weight");
        oc[d + "ln_1.bias"] = W(s + "layer_norm1.bias");
        oc[d + "ln_2.weight"] = W(s + "layer_norm2.weight");
        oc[d + "ln_2.bias"] = W(s + "layer_norm2.bias");
        oc[d + "mlp.c_fc.weight"] = W(s + "mlp.fc1.weight");
        oc[d + "mlp.c_fc.bias"] = W(s + "mlp.fc1.bias");
        oc[d + "mlp.c_proj.weight"] = W(s + "mlp.fc2.weight");
        oc[d + "mlp.c_proj.bias"] = W(s + "mlp.fc2.bias");
    }
    oc["model.diffusion_model.out.0.weight"] = at::zeros({4});  // unrelated keys are ignored
    const TensorMap converted = clip_text_weights_from_checkpoint(oc);
    CHECK(converted.size() == hf.size());
    for (const auto& [name, tensor] : hf) {
        CAPTURE(name);
        REQUIRE(converted.count(name) == 1);
        CHECK(at::equal(converted.at(name), tensor));
    }
    CHECK(ClipTextConfig::infer(converted).num_hidden_layers == 2);
    CHECK(clip_text_weights_from_checkpoint(TensorMap{{"model.diffusion_model.x", at::zeros({1})}}).empty());
}

TEST_CASE("inferred configs of the real SD text encoders") {
    // Shapes only (no weights needed): SD1 ViT-L/14 and SD2 OpenCLIP ViT-H as diffusers stores them.
    const auto fake = [](int hidden, int inter, int layers, int positions) {
        TensorMap w;
        w["text_model.embeddings.token_embedding.weight"] = at::empty({49408, hidden});
        w["text_model.embeddings.position_embedding.weight"] = at::empty({positions, hidden});
        for (int l = 0; l < layers; ++l) {
            w["text_model.encoder.layers." + std::to_string(l) + ".mlp.fc1.weight"] = at::empty({inter, hidden});
        }
        return w;
    };
    const ClipTextConfig sd1 = ClipTextConfig::infer(fake(768, 3072, 12, 77));
    CHECK(sd1.num_attention_heads == 12);
    CHECK(sd1.num_hidden_layers == 12);
    CHECK(sd1.intermediate_size == 3072);
    CHECK(sd1.hidden_act == "quick_gelu");
    const ClipTextConfig sd2 = ClipTextConfig::infer(fake(1024, 4096, 23, 77));
    CHECK(sd2.num_attention_heads == 16);
    CHECK(sd2.num_hidden_layers == 23);
    CHECK(sd2.hidden_act == "gelu");
}
