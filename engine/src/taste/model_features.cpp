// Model features ("model-unet-v2"): what a loaded diffusion model sees in a picture. The picture is encoded
// by the VAE (posterior mean x scaling factor), noised to a fixed timestep with fixed noise (DDPM forward
// process, Ho et al. 2020), and run through the UNet's encoder half with an empty prompt; the mid block's
// activations are average-pooled over the whole picture and over its four quadrants (what and where), and a
// fixed Gaussian random projection (Johnson & Lindenstrauss 1984) brings the 5 x C values to a few dozen, so
// the reward model's Newton steps stay cheap on SD's 1280 channels too.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "atelier/engine.h"
#include "atelier/taste.h"
#include "runtime/model_impl.h"
#include "models/unet.h"
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
        if (options_.dimensions < 1 || options_.dimensions > 1024)
            throw Error("model features: dimensions must be in 1..1024, not " + std::to_string(options_.dimensions));
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
    std::string version() const override { return "2"; }

    std::vector<FeatureDescription> describe() const override {
        std::vector<FeatureDescription> out;
        for (int k = 0; k < options_.dimensions; ++k) {
            char name[32];
            std::snprintf(name, sizeof name, "unet_mid_%02d", k);
            out.push_back({name, "random projection " + std::to_string(k) +
                                     " of the UNet mid block's pooled activations (whole picture and quadrants)",
                           -1, 1});
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
        const at::Tensor mid = m.unet->mid_block_output(noisy.to(m.dtype), t, context_).to(at::kFloat).cpu()[0];
        // [C, h, w] -> whole-picture and quadrant means [5 C] (quadrants by adaptive pooling: any h, w >= 1).
        const at::Tensor pooled = at::cat({mid.mean({1, 2}), at::adaptive_avg_pool2d(mid.unsqueeze(0), {2, 2})[0].flatten()});
        if (!projection_.defined() || projection_.size(1) != pooled.size(0)) {
            at::Generator pg = at::detail::createCPUGenerator(0x7A57E5EEDull);
            projection_ = at::randn({options_.dimensions, pooled.size(0)}, pg, at::TensorOptions().dtype(at::kFloat)) /
                          std::sqrt(double(pooled.size(0)));
        }
        const at::Tensor projected = at::mv(projection_, pooled).contiguous();
        return std::vector<float>(projected.data_ptr<float>(), projected.data_ptr<float>() + projected.numel());
    }

private:
    std::shared_ptr<Model> model_;
    ModelFeatureOptions options_;
    double alpha_bar_ = 1.0;
    mutable at::Tensor context_;     // the empty prompt's encoding, computed once
    mutable at::Tensor projection_;  // [dimensions, 5 C], fixed by its seed
};

}  // namespace

std::unique_ptr<FeatureExtractor> make_model_features(std::shared_ptr<Model> model, const ModelFeatureOptions& options) {
    return std::make_unique<ModelFeatures>(std::move(model), options);
}

}  // namespace atelier::taste
