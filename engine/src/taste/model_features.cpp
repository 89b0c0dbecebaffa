// Model features ("model-unet-v1"): what a loaded diffusion model sees in a picture. The picture is encoded
// by the VAE (posterior mean x scaling factor), noised to a fixed timestep with fixed noise (DDPM forward
// process, Ho et al. 2020), and the UNet predicts the noise with an empty prompt; the features are
// per-channel statistics of the latent and of the prediction.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>

#include "atelier/engine.h"
#include "atelier/taste.h"
#include "runtime/model_impl.h"
#include "sampling/pipeline.h"

namespace atelier::taste {

namespace {

class ModelFeatures : public FeatureExtractor {
public:
    ModelFeatures(std::shared_ptr<Model> model, const ModelFeatureOptions& options)
        : model_(std::move(model)), options_(options) {
        if (!model_) throw Error("model features: no model");
        Model::Impl& m = model_->impl();
        if (!m.vae || !m.vae->has_encoder()) throw Error("model features: the model's VAE has no encoder");
        if (!m.unet || !m.text_encoder || !m.tokenizer) throw Error("model features: the model is incomplete");
        channels_ = m.vae->config().latent_channels;
        if (options_.image_size <= 0) options_.image_size = m.info.default_width;
        const int f = m.vae->scale_factor();
        if (options_.image_size % f != 0)
            throw Error("model features: image_size " + std::to_string(options_.image_size) +
                        " is not a multiple of the VAE factor " + std::to_string(f));
        const SchedulerConfig& sc = m.scheduler_config;
        if (options_.timestep < 0 || options_.timestep >= sc.num_train_timesteps)
            throw Error("model features: timestep " + std::to_string(options_.timestep) + " outside 0.." +
                        std::to_string(sc.num_train_timesteps - 1));
        double alpha_bar = 1.0;
        for (int t = 0; t <= options_.timestep; ++t) {
            const double x = double(t) / std::max(1, sc.num_train_timesteps - 1);
            double beta;
            if (sc.beta_schedule == "linear") beta = sc.beta_start + x * (sc.beta_end - sc.beta_start);
            else {
                const double s = std::sqrt(sc.beta_start) + x * (std::sqrt(sc.beta_end) - std::sqrt(sc.beta_start));
                beta = s * s;
            }
            alpha_bar *= 1.0 - beta;
        }
        alpha_bar_ = alpha_bar;
    }

    std::string name() const override { return "model-unet"; }
    std::string version() const override { return "1"; }

    std::vector<FeatureDescription> describe() const override {
        std::vector<FeatureDescription> out;
        for (int c = 0; c < channels_; ++c) {
            const std::string k = std::to_string(c);
            out.push_back({"latent_mean_" + k, "mean of VAE latent channel " + k, -4, 4});
            out.push_back({"latent_sd_" + k, "spatial sd of VAE latent channel " + k, 0, 4});
            out.push_back({"eps_mean_" + k, "mean of the UNet's predicted noise, channel " + k, -2, 2});
            out.push_back({"eps_sd_" + k, "spatial sd of the UNet's predicted noise, channel " + k, 0, 2});
        }
        return out;
    }

    std::vector<float> extract(const Image& image) const override {
        if (image.empty()) throw Error("model features: empty image");
        c10::InferenceMode guard;
        Model::Impl& m = model_->impl();
        Image rgb = image;
        if (rgb.channels != 3) {   // grey or RGBA -> RGB
            Image out{image.width, image.height, 3, {}};
            out.pixels.resize(size_t(image.width) * image.height * 3);
            for (size_t i = 0; i < size_t(image.width) * image.height; ++i)
                for (int c = 0; c < 3; ++c)
                    out.pixels[i * 3 + size_t(c)] = image.pixels[i * size_t(image.channels) + size_t(image.channels >= 3 ? c : 0)];
            rgb = out;
        }
        at::Tensor pixels = image_to_tensor(rgb);
        const int s = options_.image_size;
        if (pixels.size(2) != s || pixels.size(3) != s) pixels = at::_upsample_bilinear2d_aa(pixels, {s, s}, false);
        pixels = pixels.to(m.device, m.dtype);
        const at::Tensor latent = (m.vae->encode(pixels).first.to(at::kFloat) * m.vae->config().scaling_factor);
        if (!context_.defined()) {
            const std::vector<int64_t> ids = m.tokenizer->encode_padded("", m.tokenizer->model_max_length());
            context_ = m.text_encoder
                           ->forward(at::tensor(ids, at::TensorOptions().dtype(at::kLong)).unsqueeze(0).to(m.device))
                           .to(m.dtype);
        }
        at::Generator gen = at::detail::createCPUGenerator(options_.noise_seed);
        const at::Tensor noise = at::randn(latent.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(latent.device());
        const at::Tensor noisy = std::sqrt(alpha_bar_) * latent + std::sqrt(1 - alpha_bar_) * noise;
        const at::Tensor t = at::tensor({int64_t(options_.timestep)}, at::TensorOptions().dtype(at::kLong)).to(m.device);
        const at::Tensor eps = m.unet->forward(noisy.to(m.dtype), t, context_).to(at::kFloat).cpu();
        const at::Tensor lat = latent.cpu();
        std::vector<float> out;
        for (int c = 0; c < channels_; ++c) {
            const at::Tensor lc = lat[0][c], ec = eps[0][c];
            out.push_back(lc.mean().item<float>());
            out.push_back(lc.std().item<float>());
            out.push_back(ec.mean().item<float>());
            out.push_back(ec.std().item<float>());
        }
        return out;
    }

private:
    std::shared_ptr<Model> model_;
    ModelFeatureOptions options_;
    int channels_ = 4;
    double alpha_bar_ = 1.0;
    mutable at::Tensor context_;   // the empty prompt's encoding, computed once
};

}  // namespace

std::unique_ptr<FeatureExtractor> make_model_features(std::shared_ptr<Model> model, const ModelFeatureOptions& options) {
    return std::make_unique<ModelFeatures>(std::move(model), options);
}

}  // namespace atelier::taste
