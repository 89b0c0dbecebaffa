// Concept enrollment: textual inversion (Gal et al. 2022, arXiv:2208.01618), LoRA on the UNet attention
// projections (Hu et al. 2021, arXiv:2106.09685) and Perfusion's key-locked gated rank-1 edits (Tewel et
// al. 2023, arXiv:2305.01644), all trained with the diffusion loss of Ho et al. 2020 (epsilon or v target,
// as the model predicts) through the shared trainer (personalize/trainer.h).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "atelier/concepts.h"
#include "atelier/error.h"
#include "atelier/world.h"
#include "personalize/apply.h"
#include "personalize/trainer.h"
#include "personalize/train_util.h"
#include "runtime/model_impl.h"
#include "sampling/pipeline.h"
#include "sampling/scheduler.h"

namespace atelier {
namespace fs = std::filesystem;
namespace {

std::string normalise_method(const std::string& method) {
    if (method == "ti" || method == "textual_inversion") return "textual_inversion";
    if (method == "lora") return "lora";
    if (method == "rank1" || method == "perfusion") return "rank1";
    throw Error("train_concept: method '" + method + "' (expected textual_inversion/ti, lora or rank1)");
}

// [-1, 1] picture [1, 3, H, W]: centre-cropped to the target aspect, then resized (antialiased bilinear).
at::Tensor fit_image(const Image& image, int width, int height) {
    at::Tensor x = image_to_tensor(image);
    const int64_t h = x.size(2), w = x.size(3);
    const double target = double(width) / height;
    if (double(w) / h > target) {
        const int64_t cw = std::max<int64_t>(1, int64_t(std::llround(h * target)));
        x = x.slice(3, (w - cw) / 2, (w - cw) / 2 + cw);
    } else {
        const int64_t ch = std::max<int64_t>(1, int64_t(std::llround(w / target)));
        x = x.slice(2, (h - ch) / 2, (h - ch) / 2 + ch);
    }
    if (x.size(2) != height || x.size(3) != width) x = at::_upsample_bilinear2d_aa(x.contiguous(), {height, width}, false);
    return x.contiguous();
}

std::string replace_all(std::string text, const std::string& what, const std::string& with) {
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + with.size()))
        text.replace(p, what.size(), with);
    return text;
}

}  // namespace

TrainConceptResult train_concept(Model& model, const TrainConceptRequest& request) {
    const auto start = std::chrono::steady_clock::now();
    Model::Impl& m = model.impl();
    const std::string method = normalise_method(request.method);
    if (request.images.empty()) throw Error("train_concept: no images");
    if (request.token.empty()) throw Error("train_concept: no token");
    if (request.class_word.empty() && method != "lora") throw Error("train_concept: no class word");
    if (request.out_path.empty()) throw Error("train_concept: no out_path");
    if (!request.captions.empty()) {
        if (request.captions.size() != request.images.size())
            throw Error("train_concept: " + std::to_string(request.captions.size()) + " captions for " +
                        std::to_string(request.images.size()) + " pictures (one each, or none)");
        for (size_t i = 0; i < request.captions.size(); ++i)
            if (request.captions[i].find("{}") == std::string::npos)
                throw Error("train_concept: caption " + std::to_string(i + 1) + " (\"" + request.captions[i] +
                            "\") has no {} where the token goes");
    }
    if (request.batch < 1) throw Error("train_concept: batch must be >= 1");
    if (method == "lora" && request.rank < 1) throw Error("train_concept: LoRA rank must be >= 1");
    if (method == "textual_inversion" && (request.vectors < 1 || request.vectors > 16))
        throw Error("train_concept: vectors must be in 1..16, got " + std::to_string(request.vectors));
    if (request.threads > 0) at::set_num_threads(request.threads);
    const int64_t steps = request.steps > 0 ? request.steps : (method == "textual_inversion" ? 400 : 300);
    const double lr = request.lr > 0 ? request.lr : (method == "lora" ? 1e-3 : 5e-3);
    const at::Device device = m.device;
    ClipTextModel& te = *m.text_encoder;
    UNet2DCondition& unet = *m.unet;
    // The model is the studio's: gradient checkpointing is on for this training only.
    struct CheckpointingRestore {
        UNet2DCondition& unet;
        bool was;
        ~CheckpointingRestore() { unet.set_gradient_checkpointing(was); }
    } restore_checkpointing{unet, unet.gradient_checkpointing()};
    unet.set_gradient_checkpointing(request.gradient_checkpointing);

    // ---- data: latent mean/std of every picture (and its mirror image)
    std::vector<at::Tensor> means, stds;
    {
        at::NoGradGuard no_grad;
        for (const Image& image : request.images) {
            const at::Tensor x = fit_image(image, request.width > 0 ? request.width : m.info.default_width,
                                           request.height > 0 ? request.height : m.info.default_height);
            for (const at::Tensor& px : request.flip ? std::vector<at::Tensor>{x, x.flip({3})} : std::vector<at::Tensor>{x}) {
                auto [mean, logvar] = m.vae->encode(px.to(device, m.dtype));
                means.push_back(mean.to(at::kFloat));
                stds.push_back(at::exp(0.5 * logvar.to(at::kFloat)));
            }
        }
    }
    // Prior preservation (DreamBooth, Ruiz et al. 2023): pictures of the class, trained with the class word.
    std::vector<at::Tensor> class_means, class_stds;
    if (!request.class_images.empty()) {
        if (request.class_word.empty()) throw Error("train_concept: class_images need a class word");
        at::NoGradGuard no_grad;
        for (const Image& image : request.class_images) {
            const at::Tensor x = fit_image(image, request.width > 0 ? request.width : m.info.default_width,
                                           request.height > 0 ? request.height : m.info.default_height);
            auto [mean, logvar] = m.vae->encode(x.to(device, m.dtype));
            class_means.push_back(mean.to(at::kFloat));
            class_stds.push_back(at::exp(0.5 * logvar.to(at::kFloat)));
        }
    }
    const at::Tensor data_mean = at::cat(means, 0), data_std = at::cat(stds, 0);
    const int64_t items = data_mean.size(0);
    const double scaling = m.vae->config().scaling_factor;
    const SchedulerConfig sc = m.scheduler_config;
    const at::Tensor alphas = make_scheduler("ddim", sc)->alphas_cumprod().to(at::kFloat).to(device);
    const int64_t train_steps = sc.num_train_timesteps;
    const bool v_prediction = sc.prediction_type == "v_prediction";

    // ---- prompts: the token as a new vocabulary entry (TI, rank-1) or as plain text (LoRA)
    ClipTokenizer tokenizer = *m.tokenizer;
    const int64_t vectors = method == "textual_inversion" ? request.vectors : (method == "rank1" ? 1 : 0);
    std::vector<int64_t> new_ids;
    std::string token_text = request.token;
    if (vectors > 0) {
        const std::vector<std::string> words = expanded_tokens(request.token, vectors);
        for (const std::string& w : words) {
            const size_t before = tokenizer.vocab_size();
            const int64_t id = tokenizer.add_token(w);
            if (id < int64_t(before))
                throw Error("train_concept: token '" + w + "' is already in the vocabulary; pick another");
            new_ids.push_back(id);
        }
        token_text = expand_token_in_prompt(request.token, request.token, vectors);
    }
    std::vector<std::string> templates = request.prompt_templates;
    if (templates.empty()) templates = {"a {}", "a photo of a {}", "a picture of a {}", "{}", "a rendering of a {}"};
    std::vector<at::Tensor> prompt_ids, class_ids;
    for (const std::string& t : templates) {
        prompt_ids.push_back(at::tensor(tokenizer.encode_padded(replace_all(t, "{}", token_text), 77), at::kLong));
        if (!request.class_word.empty())
            class_ids.push_back(at::tensor(tokenizer.encode_padded(replace_all(t, "{}", request.class_word), 77), at::kLong));
    }
    const at::Tensor all_prompts = at::stack(prompt_ids).to(device);
    const bool captioned = !request.captions.empty();
    at::Tensor item_prompts;  // [items, 77]: each picture's caption (its mirror shares it)
    if (captioned) {
        std::vector<at::Tensor> rows;
        for (const std::string& c : request.captions) {
            const at::Tensor row = at::tensor(tokenizer.encode_padded(replace_all(c, "{}", token_text), 77), at::kLong);
            for (int k = 0; k < (request.flip ? 2 : 1); ++k) rows.push_back(row);
        }
        item_prompts = at::stack(rows).to(device);
    }
    // The prompt of each batch element: its picture's caption when there are captions, else a drawn template.
    auto concept_prompts = [&](const at::Tensor& idx, const at::Tensor& templ) {
        return captioned ? item_prompts.index_select(0, idx) : all_prompts.index_select(0, templ);
    };
    const at::Tensor class_prompts = class_ids.empty() ? at::Tensor() : at::stack(class_ids).to(device);

    // ---- parameters
    TensorMap init;
    at::Tensor class_embedding;  // mean token embedding of the class word
    if (vectors > 0) {
        at::NoGradGuard no_grad;
        std::vector<int64_t> cls = m.tokenizer->tokenize(request.class_word);
        if (cls.empty()) throw Error("train_concept: class word '" + request.class_word + "' has no tokens");
        class_embedding = te.embed_tokens(at::tensor(cls, at::kLong).unsqueeze(0)).squeeze(0).mean(0).to(at::kFloat).cpu();
        init["embedding"] = class_embedding.unsqueeze(0).repeat({vectors, 1});
    }
    std::map<std::string, Linear*> linears;
    unet.for_each_linear([&](Linear& l) { linears[l.name] = &l; });
    const int64_t rank = request.rank;
    const float alpha = request.alpha > 0 ? request.alpha : float(rank);
    std::vector<std::string> lora_modules, cross_attentions;
    for (const auto& [name, l] : linears) {
        const bool attn = name.find(".attn1.") != std::string::npos || name.find(".attn2.") != std::string::npos;
        if (method == "lora" && attn) {
            lora_modules.push_back(name);
            auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed * 7919 + lora_modules.size());
            add_trainable_lora(init, "lora." + name, l->weight, rank, gen);
        }
        const std::string suffix = ".attn2.to_v";
        if (method == "rank1" && name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            cross_attentions.push_back(name.substr(0, name.size() - 5));  // drop ".to_v"
    }

    // Text-encoder LoRA: the attention projections' weights W0 are replaced by W0 + s up down for each
    // forward (the merged form, differentiable in up and down); the originals come back when training ends.
    std::vector<std::string> te_lora_modules;
    if (method == "lora" && request.lora_text_encoder) {
        for (int64_t layer = 0; layer < te.config().num_hidden_layers; ++layer)
            for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                const std::string name = "text_model.encoder.layers." + std::to_string(layer) + ".self_attn." + proj;
                const at::Tensor* w = te.find_parameter(name + ".weight");
                if (!w) throw Error("train_concept: the text encoder has no '" + name + "'");
                auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed * 7919 + 100003 + te_lora_modules.size());
                add_trainable_lora(init, "te_lora." + name, *w, rank, gen);
                te_lora_modules.push_back(name);
            }
    }
    struct WeightRestore {
        std::vector<std::pair<at::Tensor*, at::Tensor>> saved;
        ~WeightRestore() {
            for (auto& [where, original] : saved) *where = original;
        }
    } te_weights;
    for (const std::string& name : te_lora_modules) {
        at::Tensor* w = te.find_parameter(name + ".weight");
        te_weights.saved.emplace_back(w, *w);
    }

    // LoCon: the resnets' 3x3 convolutions get LoRA too, in the merged form W0 + s up down as the text encoder.
    std::vector<std::string> conv_lora_modules;
    WeightRestore conv_weights;
    if (method == "lora" && request.lora_convolutions) {
        unet.for_each_conv([&](Conv2d& c) {
            if (c.name.find(".resnets.") == std::string::npos || c.weight.size(2) != 3) return;   // conv1, conv2
            auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed * 7919 + 200003 + conv_lora_modules.size());
            add_trainable_lora(init, "conv_lora." + c.name, c.weight, rank, gen);
            conv_lora_modules.push_back(c.name);
            conv_weights.saved.emplace_back(&c.weight, c.weight);
        });
    }

    TensorMap* live_params = nullptr;  // the trainer's parameters, once it exists
    auto merge_conv_lora = [&] {
        for (size_t i = 0; i < conv_lora_modules.size(); ++i) {
            LoraLayer layer;
            layer.down = live_params->at("conv_lora." + conv_lora_modules[i] + ".down");
            layer.up = live_params->at("conv_lora." + conv_lora_modules[i] + ".up");
            layer.alpha = alpha;
            const at::Tensor& original = conv_weights.saved[i].second;
            *conv_weights.saved[i].first = original + lora_delta(layer, 1.0, original);
        }
    };

    // ---- text encoding with the trainable rows in place of the new ids
    auto encode = [&](const at::Tensor& ids, const at::Tensor& rows) {
        if (!te_lora_modules.empty()) {
            const TensorMap& p = *live_params;
            for (size_t i = 0; i < te_lora_modules.size(); ++i) {
                const std::string& name = te_lora_modules[i];
                const at::Tensor& original = te_weights.saved[i].second;
                *te_weights.saved[i].first =
                    (original.to(at::kFloat) + (alpha / double(rank)) * at::matmul(p.at("te_lora." + name + ".up"),
                                                                                   p.at("te_lora." + name + ".down")))
                        .to(original.scalar_type());
            }
            return te.forward(ids);
        }
        if (new_ids.empty()) {
            at::NoGradGuard no_grad;
            return te.forward(ids);
        }
        at::Tensor base_ids = ids.clone();
        for (int64_t id : new_ids) base_ids.masked_fill_(ids == id, tokenizer.eos_id());
        at::Tensor emb = te.embed_tokens(base_ids).to(at::kFloat);
        for (size_t j = 0; j < new_ids.size(); ++j)
            emb = at::where((ids == new_ids[j]).unsqueeze(-1), rows[int64_t(j)].to(emb.device()).expand_as(emb), emb);
        return te.forward_embeddings(emb.to(m.dtype));
    };

    // ---- rank-1: covariance of text encodings, superclass input i_class, and the initial i*
    at::Tensor cov_inverse, class_input;
    if (method == "rank1") {
        at::NoGradGuard no_grad;
        // C from the encodings of 256 captions of the world (every token up to EOS), in one batch.
        std::vector<at::Tensor> ids;
        std::vector<int64_t> lengths;
        for (uint64_t s = 0; s < 256; ++s) {
            const std::string text = world::caption(world::sample_scene(world::derive_seed(request.seed, s)));
            lengths.push_back(std::min<int64_t>(int64_t(m.tokenizer->encode(text).size()), 77));
            ids.push_back(at::tensor(m.tokenizer->encode_padded(text, 77), at::kLong));
        }
        const at::Tensor encoded = te.forward(at::stack(ids).to(device)).to(at::kFloat).cpu();
        std::vector<at::Tensor> rows;
        for (size_t i = 0; i < lengths.size(); ++i) rows.push_back(encoded[int64_t(i)].slice(0, 0, lengths[i]));
        const at::Tensor enc = at::cat(rows, 0).to(at::kDouble);
        at::Tensor cov = at::matmul(enc.t(), enc) / double(enc.size(0));
        cov += at::eye(cov.size(0), at::kDouble) * (1e-2 * cov.trace().item<double>() / double(cov.size(0)));
        cov_inverse = at::inverse(cov).to(at::kFloat);
        // i_class: the encoding at the class word's last token, averaged over the templates
        std::vector<at::Tensor> picks;
        for (const at::Tensor& ids : class_ids) {
            const at::Tensor e = te.forward(ids.unsqueeze(0).to(device)).squeeze(0).to(at::kFloat).cpu();
            const std::vector<int64_t> plain(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
            const std::vector<int64_t> cls = m.tokenizer->tokenize(request.class_word);
            int64_t pos = -1;
            for (size_t i = 0; i + cls.size() <= plain.size(); ++i)
                if (std::equal(cls.begin(), cls.end(), plain.begin() + long(i))) pos = int64_t(i + cls.size() - 1);
            if (pos >= 0) picks.push_back(e[pos]);
        }
        if (picks.empty()) throw Error("train_concept: the class word was not found in the prompts");
        class_input = at::stack(picks).mean(0);
        for (const std::string& attn : cross_attentions) init["value." + attn] = at::matmul(linears.at(attn + ".to_v")->weight.to(at::kFloat).cpu(), class_input);
    }

    OptimizerOptions opt;
    opt.lr = lr;
    opt.total_steps = steps;
    opt.warmup_steps = std::min<int64_t>(20, steps / 10);
    opt.weight_decay = method == "lora" ? 1e-2 : 0.0;
    opt.min_lr_ratio = 0.1;
    for (auto& [name, t] : init) t = t.to(device);  // the trainer keeps its moments beside the parameters
    Trainer trainer(init, opt);
    TensorMap& params = trainer.params();
    live_params = &params;

    const std::string checkpoint_path = request.checkpoint_path.empty() ? request.out_path + ".ckpt" : request.checkpoint_path;
    at::Tensor concept_input;  // i*, running mean
    if (method == "rank1") concept_input = class_input.clone();
    std::error_code ec;
    if (request.resume && fs::is_regular_file(checkpoint_path, ec)) {
        const TensorMap extra = trainer.load(checkpoint_path);
        if (extra.count("concept_input")) concept_input = extra.at("concept_input").clone();
    }

    // ---- adapters on the UNet for the duration of training
    AdapterGuard guard;
    std::vector<std::shared_ptr<GatedRank1Adapter>> key_adapters, value_adapters;
    for (const std::string& name : lora_modules)
        guard.attach(*linears.at(name), std::make_shared<LoraAdapter>(params.at("lora." + name + ".down"),
                                                                      params.at("lora." + name + ".up"), alpha / double(rank)));
    for (const std::string& attn : cross_attentions) {
        Linear& k = *linears.at(attn + ".to_k");
        Linear& v = *linears.at(attn + ".to_v");
        auto ka = std::make_shared<GatedRank1Adapter>(), va = std::make_shared<GatedRank1Adapter>();
        for (auto* a : {ka.get(), va.get()}) {
            a->bias = request.gate_bias;
            a->temperature = request.gate_temperature;
        }
        ka->target = at::matmul(k.weight.to(at::kFloat), class_input.to(device));  // key locking: o*_K = W_K i_class
        va->target = params.at("value." + attn);                                   // o*_V = v*, trained
        key_adapters.push_back(ka);
        value_adapters.push_back(va);
        guard.attach(k, ka);
        guard.attach(v, va);
    }
    auto set_concept_input = [&](const at::Tensor& input) {
        // direction = C^-1 i* / (i*^T C^-1 i*); base = W i*
        const at::Tensor ci = at::matmul(cov_inverse, input);
        const at::Tensor direction = (ci / at::dot(ci, input)).to(device);
        for (size_t i = 0; i < cross_attentions.size(); ++i) {
            const Linear& k = *linears.at(cross_attentions[i] + ".to_k");
            const Linear& v = *linears.at(cross_attentions[i] + ".to_v");
            key_adapters[i]->direction = value_adapters[i]->direction = direction;
            key_adapters[i]->base = at::matmul(k.weight.to(at::kFloat), input.to(device));
            value_adapters[i]->base = at::matmul(v.weight.to(at::kFloat), input.to(device));
        }
    };
    if (method == "rank1") set_concept_input(concept_input);
    const at::Tensor class_mean = class_means.empty() ? at::Tensor() : at::cat(class_means, 0);
    const at::Tensor class_std = class_stds.empty() ? at::Tensor() : at::cat(class_stds, 0);
    const at::Tensor no_rows;
    auto rows = [&]() { return params.count("embedding") ? params.at("embedding") : no_rows; };

    // ---- the diffusion loss on a batch
    auto batch_loss = [&](const at::Tensor& idx, const at::Tensor& t, const at::Tensor& noise, const at::Tensor& latent_noise,
                          const at::Tensor& templ, at::Tensor* encodings_out, bool prior = false) {
        const at::Tensor& means_of = prior ? class_mean : data_mean;
        const at::Tensor& stds_of = prior ? class_std : data_std;
        const at::Tensor x0 = (means_of.index_select(0, idx) + stds_of.index_select(0, idx) * latent_noise) * scaling;
        const at::Tensor ac = alphas.index_select(0, t).view({-1, 1, 1, 1});
        const at::Tensor xt = at::sqrt(ac) * x0 + at::sqrt(1 - ac) * noise;
        const at::Tensor target = v_prediction ? at::sqrt(ac) * noise - at::sqrt(1 - ac) * x0 : noise;
        const at::Tensor ids = prior ? class_prompts.index_select(0, templ) : concept_prompts(idx, templ);
        const at::Tensor context = encode(ids, rows());
        if (encodings_out) *encodings_out = context;
        merge_conv_lora();
        const at::Tensor pred = unet.forward(xt.to(m.dtype), t.to(at::kFloat), context.to(m.dtype)).to(at::kFloat);
        return at::mse_loss(pred, target);
    };
    const int64_t lh = data_mean.size(2), lw = data_mean.size(3), lc = data_mean.size(1);
    auto eval_loss = [&]() {
        at::NoGradGuard no_grad;
        const int64_t n = std::min<int64_t>(items, 8);
        auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed ^ 0x5EEDE7A1ull);
        const at::Tensor idx = at::arange(n, at::kLong).to(device);
        at::Tensor t = (at::arange(n, at::kDouble) * (double(train_steps) * 0.8 / double(std::max<int64_t>(n - 1, 1))) +
                        double(train_steps) * 0.1).to(at::kLong).to(device);
        const at::Tensor noise = at::randn({n, lc, lh, lw}, gen).to(device);
        const at::Tensor latent_noise = at::zeros({n, lc, lh, lw}).to(device);
        const at::Tensor templ = at::zeros({n}, at::kLong).to(device);
        return batch_loss(idx, t, noise, latent_noise, templ, nullptr).item<double>();
    };

    TrainConceptResult result;
    result.method = method;
    result.token = request.token;
    for (const auto& [name, p] : params) result.trained_parameters += p.numel();
    result.eval_loss_before = eval_loss();

    TrainLoopOptions loop;
    loop.total_steps = steps;
    loop.checkpoint_every = request.checkpoint_every;
    loop.checkpoint_path = checkpoint_path;
    loop.cancel = request.cancel;
    if (method == "rank1") loop.checkpoint_extra = [&] { return TensorMap{{"concept_input", concept_input.cpu()}}; };
    double last_avg = 0;
    loop.on_progress = [&](const TrainProgress& p) {
        last_avg = p.loss_avg;
        if (!request.on_progress) return;
        TrainConceptProgress q;
        q.step = p.step;
        q.total = p.total;
        q.loss = p.loss;
        q.loss_avg = p.loss_avg;
        q.lr = p.lr;
        q.step_seconds = p.step_seconds;
        q.eta_seconds = p.eta_seconds;
        request.on_progress(q);
    };
    const int64_t batch = request.batch;
    const bool finished = run_training(trainer, loop, [&](int64_t step) {
        // Every draw of step s comes from a generator seeded by (seed, s): resuming repeats them exactly.
        auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed * 1000003ull + uint64_t(step) + 1);
        const at::Tensor idx = at::randint(items, {batch}, gen, at::kLong).to(device);
        const at::Tensor t = at::randint(train_steps, {batch}, gen, at::kLong).to(device);
        const at::Tensor noise = at::randn({batch, lc, lh, lw}, gen).to(device);
        const at::Tensor latent_noise = at::randn({batch, lc, lh, lw}, gen).to(device);
        const at::Tensor templ = at::randint(int64_t(templates.size()), {batch}, gen, at::kLong).to(device);
        at::Tensor encodings;
        at::Tensor loss = batch_loss(idx, t, noise, latent_noise, templ, &encodings);
        if (class_mean.defined()) {  // drawn after the concept batch, so runs without class images draw the same
            const at::Tensor pidx = at::randint(class_mean.size(0), {batch}, gen, at::kLong).to(device);
            const at::Tensor pt = at::randint(train_steps, {batch}, gen, at::kLong).to(device);
            const at::Tensor pnoise = at::randn({batch, lc, lh, lw}, gen).to(device);
            const at::Tensor platent = at::randn({batch, lc, lh, lw}, gen).to(device);
            const at::Tensor ptempl = at::randint(int64_t(templates.size()), {batch}, gen, at::kLong).to(device);
            loss = loss + request.prior_weight * batch_loss(pidx, pt, pnoise, platent, ptempl, nullptr, true);
        }
        loss.backward();
        if (method == "rank1") {
            // i* follows the concept word's encodings (running mean), then direction and W i* are refreshed.
            at::NoGradGuard no_grad;
            const at::Tensor ids = concept_prompts(idx, templ);
            const at::Tensor mask = (ids == new_ids.front()).unsqueeze(-1).to(at::kFloat);
            const at::Tensor mean = (encodings.detach().to(at::kFloat) * mask).sum(at::IntArrayRef{0, 1}) / mask.sum().clamp_min(1);
            concept_input = (0.9 * concept_input.to(device) + 0.1 * mean).cpu();
            set_concept_input(concept_input);
        }
        return loss.item<double>();
    });
    result.steps = trainer.step();
    result.loss_avg = last_avg;
    if (!finished) {
        result.cancelled = true;
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return result;
    }
    result.eval_loss_after = eval_loss();

    // ---- the artifact
    std::map<std::string, std::string> metadata{{"atelier.method", method},
                                                {"atelier.token", request.token},
                                                {"atelier.class_word", request.class_word},
                                                {"atelier.steps", std::to_string(steps)},
                                                {"atelier.seed", std::to_string(request.seed)}};
    if (method == "textual_inversion") {
        write_embedding_diffusers(request.out_path, {request.token, params.at("embedding").detach().cpu()}, metadata);
    } else if (method == "lora") {
        std::vector<LoraLayer> layers = trained_lora_layers(params, "lora.", lora_modules, "unet", alpha);
        for (auto& l : trained_lora_layers(params, "te_lora.", te_lora_modules, "text_encoder", alpha)) layers.push_back(l);
        for (auto& l : trained_lora_layers(params, "conv_lora.", conv_lora_modules, "unet", alpha)) layers.push_back(l);
        metadata["ss_network_dim"] = std::to_string(rank);
        metadata["ss_network_alpha"] = std::to_string(alpha);
        write_lora_kohya(request.out_path, layers, metadata);
    } else {
        Rank1Edit edit;
        edit.token = request.token;
        edit.class_word = request.class_word;
        edit.embedding = params.at("embedding").detach().cpu();
        edit.input = concept_input.cpu();
        const at::Tensor ci = at::matmul(cov_inverse, edit.input);
        edit.direction = ci / at::dot(ci, edit.input);
        edit.class_input = class_input;
        for (const std::string& attn : cross_attentions) edit.values[attn] = params.at("value." + attn).detach().cpu();
        edit.gate_bias = request.gate_bias;
        edit.gate_temperature = request.gate_temperature;
        write_rank1(request.out_path, edit, metadata);
    }
    fs::remove(checkpoint_path, ec);
    result.artifact_path = request.out_path;
    result.artifact_bytes = int64_t(fs::file_size(request.out_path, ec));
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace atelier
