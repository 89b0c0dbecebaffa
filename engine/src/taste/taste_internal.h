// Helpers shared by the taste sources (internal): a portable seeded generator, the blob format, and the
// predictive maths used by the model, the pair chooser and the learner.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "atelier/taste.h"

namespace atelier::taste {

// splitmix64 (Steele et al. 2014): the same sequence on every platform (std distributions are not).
class SplitMix {
public:
    explicit SplitMix(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }   // bias < 2^-40 for our n
    double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }   // [0, 1)
    double normal() {   // Box-Muller
        double u1 = uniform();
        while (u1 <= 1e-300) u1 = uniform();
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

private:
    uint64_t state_;
};

inline uint64_t mix_seed(uint64_t a, uint64_t b) {
    SplitMix m(a ^ (b * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL));
    return m.next();
}

// Little-endian fixed-width encoding of the model blobs.
struct BlobWriter {
    std::vector<uint8_t> out;
    void bytes(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
    void u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
    }
    void i64(int64_t v) {
        const uint64_t u = uint64_t(v);
        for (int i = 0; i < 8; ++i) out.push_back(uint8_t(u >> (8 * i)));
    }
    void f64(double v) {
        uint64_t u;
        std::memcpy(&u, &v, 8);
        i64(int64_t(u));
    }
    void str(const std::string& s) {
        u32(uint32_t(s.size()));
        bytes(s.data(), s.size());
    }
    void doubles(const std::vector<double>& v) {
        u32(uint32_t(v.size()));
        for (double x : v) f64(x);
    }
    void header(const char (&magic)[5], uint32_t version) {
        bytes(magic, 4);
        u32(version);
    }
    void standardizer(const Standardizer& s) {
        i64(s.count);
        doubles(s.mean);
        doubles(s.m2);
        doubles(s.min_sd);
    }
};

class BlobReader {
public:
    BlobReader(const std::vector<uint8_t>& blob, std::string what) : blob_(blob), what_(std::move(what)) {}
    void bytes(void* p, size_t n, const char* field) {
        need(n, field);
        std::memcpy(p, blob_.data() + pos_, n);
        pos_ += n;
    }
    uint32_t u32(const char* field) {
        need(4, field);
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= uint32_t(blob_[pos_ + size_t(i)]) << (8 * i);
        pos_ += 4;
        return v;
    }
    int64_t i64(const char* field) {
        need(8, field);
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= uint64_t(blob_[pos_ + size_t(i)]) << (8 * i);
        pos_ += 8;
        return int64_t(v);
    }
    double f64(const char* field) {
        const uint64_t u = uint64_t(i64(field));
        double v;
        std::memcpy(&v, &u, 8);
        return v;
    }
    std::string str(const char* field) {
        const uint32_t n = u32(field);
        need(n, field);
        std::string s(reinterpret_cast<const char*>(blob_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    std::vector<double> doubles(const char* field) {
        const uint32_t n = u32(field);
        need(size_t(n) * 8, field);
        std::vector<double> v(n);
        for (uint32_t i = 0; i < n; ++i) v[i] = f64(field);
        return v;
    }
    // The 4-byte magic and the format version; anything else is refused, naming both.
    void header(const char (&magic)[5], uint32_t version) {
        char found[4];
        bytes(found, 4, "magic");
        if (std::memcmp(found, magic, 4) != 0) throw Error(what_ + ": magic is not " + std::string(magic, 4));
        const uint32_t v = u32("version");
        if (v != version)
            throw Error(what_ + ": version " + std::to_string(v) + ", this build reads version " + std::to_string(version));
    }
    Standardizer standardizer() {
        Standardizer s;
        s.count = i64("standardizer count");
        s.mean = doubles("standardizer mean");
        s.m2 = doubles("standardizer m2");
        s.min_sd = doubles("standardizer min_sd");
        return s;
    }
    void finish() const {
        if (pos_ != blob_.size())
            throw Error(what_ + ": " + std::to_string(blob_.size() - pos_) + " unexpected trailing bytes");
    }

private:
    void need(size_t n, const char* field) const {
        if (blob_.size() - pos_ < n)
            throw Error(what_ + ": truncated at field '" + field + "' (offset " + std::to_string(pos_) + ", need " +
                        std::to_string(n) + " bytes, " + std::to_string(blob_.size() - pos_) + " left)");
    }
    const std::vector<uint8_t>& blob_;
    std::string what_;
    size_t pos_ = 0;
};

// (a - b) / sd, in the model's standardized space.
std::vector<double> standardized_difference(const RewardModel& model, const std::vector<float>& a,
                                            const std::vector<float>& b);
// x' Sigma_ww x with Sigma the (dim+1)^2 covariance (0 when it has no covariance).
double quadratic_form(const std::vector<double>& cov, int dim, const std::vector<double>& x);
// MacKay's probit approximation of the Davidson predictive for d ~ N(mean, var).
Prediction predictive(double mean, double var, double tie_log_nu);

// A fixed component of a mixture (a prototype): its weight, each candidate's reward (standardized features,
// without the mean) and its tie parameter.
struct PairMixtureComponent {
    double weight = 0;
    std::vector<double> reward;
    double tie_log_nu = 0;
};
// choose_next_pair for a mixture of the model (weight `model_weight`) and fixed components. With the
// information-gain criterion the score is the mutual information between the label and the unknowns, by
// the chain rule: I(label; component) + model_weight * I(label; w | the model) — the first term is the
// disagreement of the components (BALD over the mixture), the second the model's own information gain.
PairSuggestion choose_next_pair_in_mixture(const RewardModel& model, const std::vector<std::vector<float>>& candidates,
                                           const PairChoiceOptions& options,
                                           const std::vector<PairMixtureComponent>& components, double model_weight);

}  // namespace atelier::taste
