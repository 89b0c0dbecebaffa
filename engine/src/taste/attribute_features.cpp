// World-attribute features ("world-attributes-v1"): a learned image encoder for the procedural world. The
// attribute classifier (a small CNN trained from scratch on the world's renders and their ground truth)
// reads the picture, and its per-head softmax probabilities (shape, colour, background, background colour,
// position, count, size, style) are the features: what a person could say the picture shows, as numbers.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstring>

#include "atelier/error.h"
#include "atelier/taste.h"
#include "personalize/attribute_classifier.h"

namespace atelier::taste {

namespace {

class AttributeFeatures : public FeatureExtractor {
public:
    explicit AttributeFeatures(const std::string& weights_path) : classifier_(load(weights_path)) {}

    std::string name() const override { return "world-attributes"; }
    std::string version() const override { return "1"; }

    std::vector<FeatureDescription> describe() const override {
        std::vector<FeatureDescription> out;
        for (const std::string& n : AttributeClassifier::probability_names())
            out.push_back({n, "probability that the picture shows " + n + " (attribute classifier)", 0, 1});
        return out;
    }

    std::vector<float> extract(const Image& image) const override {
        if (image.width < 1 || image.height < 1 || image.pixels.empty())
            throw Error("world-attribute features: empty image");
        if (image.channels != 3 && image.channels != 4 && image.channels != 1)
            throw Error("world-attribute features: expected 1, 3 or 4 channels, found " +
                        std::to_string(image.channels));
        c10::InferenceMode guard;
        at::Tensor x = at::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                     {image.height, image.width, image.channels}, at::kByte)
                           .to(at::kFloat)
                           .permute({2, 0, 1})
                           .unsqueeze(0);
        if (image.channels == 1) x = x.expand({1, 3, image.height, image.width});
        if (image.channels == 4) x = x.narrow(1, 0, 3);
        // Area average to the classifier's 64x64 (bilinear upward for smaller pictures).
        if (image.width >= 64 && image.height >= 64) x = at::adaptive_avg_pool2d(x, {64, 64});
        else x = at::upsample_bilinear2d(x, {64, 64}, false);
        const at::Tensor p = classifier_.probabilities(x.div(127.5).sub(1.0).contiguous()).contiguous();
        std::vector<float> out(size_t(p.size(1)));
        std::memcpy(out.data(), p.data_ptr<float>(), out.size() * sizeof(float));
        return out;
    }

private:
    static AttributeClassifier load(const std::string& path) {
        try {
            return AttributeClassifier::load(path);
        } catch (const Error& e) {
            throw Error(std::string("world-attribute features: ") + e.what());
        }
    }

    AttributeClassifier classifier_;
};

}  // namespace

std::unique_ptr<FeatureExtractor> make_world_attribute_features(const std::string& classifier_path) {
    return std::make_unique<AttributeFeatures>(classifier_path);
}

}  // namespace atelier::taste
