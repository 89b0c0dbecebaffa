// Hand-made perceptual image features ("atelier-basic-v1"): OKLab colour statistics (Ottosson 2020,
// https://bottosson.github.io/posts/oklab/), Hasler & Suesstrunk (2003) colourfulness, Sobel edges,
// high-frequency energy and saliency-based composition. Documented dimension by dimension in taste.h.
#include <algorithm>
#include <array>
#include <cmath>

#include "atelier/taste.h"

namespace atelier::taste {

std::vector<std::string> FeatureExtractor::names() const {
    std::vector<std::string> out;
    for (const FeatureDescription& d : describe()) out.push_back(d.name);
    return out;
}

// ---- standardizer -------------------------------------------------------------------------------

void Standardizer::add(const std::vector<float>& x) {
    if (mean.empty()) {
        mean.assign(x.size(), 0.0);
        m2.assign(x.size(), 0.0);
    }
    if (x.size() != mean.size())
        throw Error("taste standardizer: feature vector of " + std::to_string(x.size()) + " values, expected " +
                    std::to_string(mean.size()));
    ++count;
    for (size_t i = 0; i < x.size(); ++i) {
        const double delta = x[i] - mean[i];
        mean[i] += delta / double(count);
        m2[i] += delta * (x[i] - mean[i]);
    }
}

void Standardizer::merge(const Standardizer& other) {
    if (other.count == 0) return;
    if (count == 0) {
        *this = other;
        return;
    }
    if (other.mean.size() != mean.size()) throw Error("taste standardizer merge: dimensions differ");
    const double n = double(count + other.count);
    for (size_t i = 0; i < mean.size(); ++i) {
        const double delta = other.mean[i] - mean[i];
        m2[i] += other.m2[i] + delta * delta * double(count) * double(other.count) / n;
        mean[i] += delta * double(other.count) / n;
    }
    count += other.count;
}

std::vector<double> Standardizer::sd() const {
    std::vector<double> out(mean.size(), 1.0);
    if (count < 2) return out;
    for (size_t i = 0; i < mean.size(); ++i) {
        double s = std::sqrt(m2[i] / double(count - 1));
        if (i < min_sd.size()) s = std::max(s, min_sd[i]);
        if (s > 1e-6) out[i] = s;
    }
    return out;
}

std::vector<double> min_feature_sd(const FeatureExtractor& extractor) {
    std::vector<double> out;
    for (const FeatureDescription& d : extractor.describe()) out.push_back(std::max(0.0, (d.max - d.min) / 20.0));
    return out;
}

std::vector<double> Standardizer::apply(const std::vector<float>& x) const {
    std::vector<double> out(x.size());
    if (mean.empty()) {
        for (size_t i = 0; i < x.size(); ++i) out[i] = x[i];
        return out;
    }
    if (x.size() != mean.size())
        throw Error("taste standardizer: feature vector of " + std::to_string(x.size()) + " values, expected " +
                    std::to_string(mean.size()));
    const std::vector<double> s = sd();
    for (size_t i = 0; i < x.size(); ++i) out[i] = (x[i] - mean[i]) / s[i];
    return out;
}

// ---- the basic feature set ----------------------------------------------------------------------

namespace {

constexpr int kWork = 64;   // working resolution (part of the feature set's version)
constexpr double kPi = 3.14159265358979323846;

const std::array<float, 256>& srgb_to_linear_table() {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int i = 0; i < 256; ++i) {
            const double c = i / 255.0;
            t[size_t(i)] = float(c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4));
        }
        return t;
    }();
    return table;
}

// Area-average (down) or bilinear (up) resampling of one channel plane to kWork x kWork.
std::vector<float> resample(const std::vector<float>& src, int w, int h) {
    std::vector<float> out(size_t(kWork) * kWork, 0.0f);
    for (int oy = 0; oy < kWork; ++oy) {
        const double y0 = double(oy) * h / kWork, y1 = double(oy + 1) * h / kWork;
        for (int ox = 0; ox < kWork; ++ox) {
            const double x0 = double(ox) * w / kWork, x1 = double(ox + 1) * w / kWork;
            if (w >= kWork && h >= kWork) {
                double sum = 0, area = 0;
                for (int y = int(y0); y < std::min(h, int(std::ceil(y1))); ++y) {
                    const double wy = std::min(y1, double(y + 1)) - std::max(y0, double(y));
                    if (wy <= 0) continue;
                    for (int x = int(x0); x < std::min(w, int(std::ceil(x1))); ++x) {
                        const double wx = std::min(x1, double(x + 1)) - std::max(x0, double(x));
                        if (wx <= 0) continue;
                        sum += wx * wy * src[size_t(y) * w + x];
                        area += wx * wy;
                    }
                }
                out[size_t(oy) * kWork + ox] = float(sum / area);
            } else {   // bilinear at the output pixel's centre
                const double cx = std::clamp((x0 + x1) / 2 - 0.5, 0.0, double(w - 1));
                const double cy = std::clamp((y0 + y1) / 2 - 0.5, 0.0, double(h - 1));
                const int ix = std::min(int(cx), w - 1), iy = std::min(int(cy), h - 1);
                const int jx = std::min(ix + 1, w - 1), jy = std::min(iy + 1, h - 1);
                const double fx = cx - ix, fy = cy - iy;
                const double top = src[size_t(iy) * w + ix] * (1 - fx) + src[size_t(iy) * w + jx] * fx;
                const double bottom = src[size_t(jy) * w + ix] * (1 - fx) + src[size_t(jy) * w + jx] * fx;
                out[size_t(oy) * kWork + ox] = float(top * (1 - fy) + bottom * fy);
            }
        }
    }
    return out;
}

struct Planes {
    std::vector<float> r, g, b;   // sRGB 0..255 at kWork x kWork
};

Planes working_planes(const Image& image) {
    if (image.empty() || image.width <= 0 || image.height <= 0)
        throw Error("taste features: empty image");
    const int c = image.channels;
    if (c != 1 && c != 3 && c != 4)
        throw Error("taste features: image with " + std::to_string(c) + " channels, expected 1, 3 or 4");
    if (image.pixels.size() != size_t(image.width) * image.height * c)
        throw Error("taste features: image pixel buffer of " + std::to_string(image.pixels.size()) +
                    " bytes, expected " + std::to_string(size_t(image.width) * image.height * c));
    const size_t n = size_t(image.width) * image.height;
    std::vector<float> r(n), g(n), b(n);
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* p = &image.pixels[i * c];
        r[i] = p[0];
        g[i] = c >= 3 ? p[1] : p[0];
        b[i] = c >= 3 ? p[2] : p[0];
    }
    return {resample(r, image.width, image.height), resample(g, image.width, image.height),
            resample(b, image.width, image.height)};
}

float srgb_linear(float v) {   // v in 0..255, fractional after resampling: interpolate the table
    const auto& t = srgb_to_linear_table();
    const float c = std::clamp(v, 0.0f, 255.0f);
    const int i = std::min(int(c), 254);
    const float f = c - float(i);
    return t[size_t(i)] * (1 - f) + t[size_t(i) + 1] * f;
}

void to_oklab(float r8, float g8, float b8, float& L, float& a, float& bb) {
    const double r = srgb_linear(r8), g = srgb_linear(g8), b = srgb_linear(b8);
    const double l = std::cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
    const double m = std::cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
    const double s = std::cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
    L = float(0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s);
    a = float(1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s);
    bb = float(0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s);
}

constexpr std::array<double, 8> kHueCentresDeg = {25, 60, 105, 145, 195, 260, 300, 340};

// Soft assignment of a hue (degrees) to the two neighbouring bin centres, linear in angle.
void hue_bins(double hue_deg, std::array<double, 8>& weights_out) {
    weights_out.fill(0.0);
    hue_deg = std::fmod(hue_deg + 360.0, 360.0);
    for (size_t k = 0; k < 8; ++k) {
        const double c0 = kHueCentresDeg[k];
        double c1 = kHueCentresDeg[(k + 1) % 8];
        if (c1 <= c0) c1 += 360.0;
        double h = hue_deg;
        if (h < c0) h += 360.0;
        if (h >= c0 && h < c1) {
            const double t = (h - c0) / (c1 - c0);
            weights_out[k] = 1 - t;
            weights_out[(k + 1) % 8] = t;
            return;
        }
    }
}

// Separable [1 4 6 4 1]/16 blur with clamped borders.
std::vector<double> binomial_blur(const std::vector<double>& src) {
    static constexpr double k[5] = {1 / 16.0, 4 / 16.0, 6 / 16.0, 4 / 16.0, 1 / 16.0};
    std::vector<double> tmp(src.size()), out(src.size());
    for (int y = 0; y < kWork; ++y)
        for (int x = 0; x < kWork; ++x) {
            double s = 0;
            for (int i = -2; i <= 2; ++i) s += k[i + 2] * src[size_t(y) * kWork + std::clamp(x + i, 0, kWork - 1)];
            tmp[size_t(y) * kWork + x] = s;
        }
    for (int y = 0; y < kWork; ++y)
        for (int x = 0; x < kWork; ++x) {
            double s = 0;
            for (int i = -2; i <= 2; ++i) s += k[i + 2] * tmp[size_t(std::clamp(y + i, 0, kWork - 1)) * kWork + x];
            out[size_t(y) * kWork + x] = s;
        }
    return out;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    const size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + long(mid), v.end());
    return v[mid];
}

double percentile(std::vector<double> v, double q) {
    const size_t i = std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + long(i), v.end());
    return v[i];
}

class BasicFeatures : public FeatureExtractor {
public:
    std::string name() const override { return "atelier-basic"; }
    std::string version() const override { return "1"; }

    std::vector<FeatureDescription> describe() const override {
        return {
            {"lightness_mean", "mean OKLab lightness", 0, 1},
            {"lightness_sd", "standard deviation of lightness", 0, 0.5},
            {"contrast", "lightness 95th minus 5th percentile", 0, 1},
            {"chroma_mean", "mean OKLab chroma", 0, 0.33},
            {"chroma_sd", "standard deviation of chroma", 0, 0.17},
            {"colourfulness", "Hasler-Suesstrunk colourfulness / 100", 0, 1.8},
            {"warmth", "chroma-weighted cos(hue - 60 deg): warm > 0 > cool", -1, 1},
            {"hue_red", "chroma share of red hues", 0, 1},
            {"hue_orange", "chroma share of orange hues", 0, 1},
            {"hue_yellow", "chroma share of yellow hues", 0, 1},
            {"hue_green", "chroma share of green hues", 0, 1},
            {"hue_cyan", "chroma share of cyan hues", 0, 1},
            {"hue_blue", "chroma share of blue hues", 0, 1},
            {"hue_purple", "chroma share of purple hues", 0, 1},
            {"hue_pink", "chroma share of pink and magenta hues", 0, 1},
            {"edge_density", "share of pixels on Sobel edges", 0, 1},
            {"high_freq_ratio", "share of lightness energy above the blur's band", 0, 1},
            {"saliency_x", "horizontal centre of mass of saliency (0 left)", 0, 1},
            {"saliency_y", "vertical centre of mass of saliency (0 top)", 0, 1},
            {"saliency_spread", "saliency-weighted spread around that centre", 0, 0.71},
            {"symmetry_lr", "left-right mirror symmetry", 0, 1},
            {"symmetry_tb", "top-bottom mirror symmetry", 0, 1},
            {"negative_space", "share of pixels close to the background colour", 0, 1},
            {"subject_lightness", "mean lightness of the salient pixels", 0, 1},
            {"subject_chroma", "mean chroma of the salient pixels", 0, 0.33},
            {"subject_warmth", "warmth of the salient pixels", -1, 1},
            {"background_lightness", "lightness of the border's median colour", 0, 1},
            {"background_chroma", "chroma of the border's median colour", 0, 0.33},
            {"background_warmth", "warmth of the border's median colour", -1, 1},
            {"subject_red", "chroma share of red hues in the subject", 0, 1},
            {"subject_orange", "chroma share of orange hues in the subject", 0, 1},
            {"subject_yellow", "chroma share of yellow hues in the subject", 0, 1},
            {"subject_green", "chroma share of green hues in the subject", 0, 1},
            {"subject_cyan", "chroma share of cyan hues in the subject", 0, 1},
            {"subject_blue", "chroma share of blue hues in the subject", 0, 1},
            {"subject_purple", "chroma share of purple hues in the subject", 0, 1},
            {"subject_pink", "chroma share of pink and magenta hues in the subject", 0, 1},
            {"subject_parts", "separate subject regions (8-connected, >= 8 px at 64x64), at most 8", 0, 8},
        };
    }

    std::vector<float> extract(const Image& image) const override {
        const Planes planes = working_planes(image);
        const size_t n = size_t(kWork) * kWork;
        std::vector<double> L(n), A(n), B(n), C(n);
        double sum_l = 0, sum_c = 0;
        // Hasler-Suesstrunk opponent channels on 0..255 sRGB.
        double sum_rg = 0, sum_yb = 0, sum_rg2 = 0, sum_yb2 = 0;
        double warm_num = 0;
        std::array<double, 8> hist{};
        for (size_t i = 0; i < n; ++i) {
            float l, a, b;
            to_oklab(planes.r[i], planes.g[i], planes.b[i], l, a, b);
            L[i] = l;
            A[i] = a;
            B[i] = b;
            C[i] = std::sqrt(double(a) * a + double(b) * b);
            sum_l += l;
            sum_c += C[i];
            const double rg = double(planes.r[i]) - planes.g[i];
            const double yb = 0.5 * (double(planes.r[i]) + planes.g[i]) - planes.b[i];
            sum_rg += rg;
            sum_yb += yb;
            sum_rg2 += rg * rg;
            sum_yb2 += yb * yb;
            if (C[i] > 1e-6) {
                const double hue = std::atan2(double(b), double(a)) * 180.0 / kPi;
                warm_num += C[i] * std::cos((hue - 60.0) * kPi / 180.0);
                std::array<double, 8> w;
                hue_bins(hue, w);
                for (size_t k = 0; k < 8; ++k) hist[k] += C[i] * w[k];
            }
        }
        const double nd = double(n);
        const double l_mean = sum_l / nd, c_mean = sum_c / nd;
        double l_var = 0, c_var = 0;
        for (size_t i = 0; i < n; ++i) {
            l_var += (L[i] - l_mean) * (L[i] - l_mean);
            c_var += (C[i] - c_mean) * (C[i] - c_mean);
        }
        l_var /= nd;
        c_var /= nd;
        const double contrast = percentile(L, 0.95) - percentile(L, 0.05);
        const double mu_rg = sum_rg / nd, mu_yb = sum_yb / nd;
        const double var_rg = std::max(0.0, sum_rg2 / nd - mu_rg * mu_rg);
        const double var_yb = std::max(0.0, sum_yb2 / nd - mu_yb * mu_yb);
        const double colourfulness =
            (std::sqrt(var_rg + var_yb) + 0.3 * std::sqrt(mu_rg * mu_rg + mu_yb * mu_yb)) / 100.0;
        const double chroma_norm = sum_c + 0.02 * nd;   // near-grey pictures tend to 0
        const double warmth = warm_num / chroma_norm;

        // Sobel on (L, a, b): magnitude per pixel in OKLab units (divide by the kernel's gain 4).
        int edges = 0;
        auto at = [&](const std::vector<double>& p, int x, int y) {
            return p[size_t(std::clamp(y, 0, kWork - 1)) * kWork + std::clamp(x, 0, kWork - 1)];
        };
        for (int y = 0; y < kWork; ++y)
            for (int x = 0; x < kWork; ++x) {
                double mag2 = 0;
                for (const std::vector<double>* p : {&L, &A, &B}) {
                    const double gx = (at(*p, x + 1, y - 1) + 2 * at(*p, x + 1, y) + at(*p, x + 1, y + 1)) -
                                      (at(*p, x - 1, y - 1) + 2 * at(*p, x - 1, y) + at(*p, x - 1, y + 1));
                    const double gy = (at(*p, x - 1, y + 1) + 2 * at(*p, x, y + 1) + at(*p, x + 1, y + 1)) -
                                      (at(*p, x - 1, y - 1) + 2 * at(*p, x, y - 1) + at(*p, x + 1, y - 1));
                    mag2 += gx * gx + gy * gy;
                }
                if (std::sqrt(mag2) / 4.0 > 0.1) ++edges;
            }
        const double edge_density = double(edges) / nd;

        const std::vector<double> blurred = binomial_blur(L);
        double high = 0;
        for (size_t i = 0; i < n; ++i) high += (L[i] - blurred[i]) * (L[i] - blurred[i]);
        const double high_freq_ratio = l_var > 1e-9 ? std::min(1.0, high / (l_var * nd)) : 0.0;

        // Background: per-channel median of the border; saliency: OKLab distance from it.
        std::vector<double> bl, ba, bb;
        for (int i = 0; i < kWork; ++i)
            for (const auto& xy : {std::pair<int, int>{i, 0}, {i, kWork - 1}, {0, i}, {kWork - 1, i}}) {
                const size_t k = size_t(xy.second) * kWork + xy.first;
                bl.push_back(L[k]);
                ba.push_back(A[k]);
                bb.push_back(B[k]);
            }
        const double bg_l = median(bl), bg_a = median(ba), bg_b = median(bb);
        double s_sum = 0, sx = 0, sy = 0;
        int near_background = 0;
        std::vector<double> sal(n);
        for (int y = 0; y < kWork; ++y)
            for (int x = 0; x < kWork; ++x) {
                const size_t i = size_t(y) * kWork + x;
                const double dl = L[i] - bg_l, da = A[i] - bg_a, db = B[i] - bg_b;
                const double s = std::sqrt(dl * dl + da * da + db * db);
                sal[i] = s;
                if (s < 0.06) ++near_background;
                s_sum += s;
                sx += s * (x + 0.5) / kWork;
                sy += s * (y + 0.5) / kWork;
            }
        // The subject: pixels at least 0.1 (OKLab) away from the background colour.
        double subject_n = 0, subject_l = 0, subject_c = 0, subject_warm = 0;
        std::array<double, 8> subject_hist{};
        for (size_t i = 0; i < n; ++i) {
            if (sal[i] < 0.1) continue;
            subject_n += 1;
            subject_l += L[i];
            subject_c += C[i];
            if (C[i] > 1e-6) {
                const double hue = std::atan2(B[i], A[i]);
                subject_warm += C[i] * std::cos(hue - 60.0 * kPi / 180.0);
                std::array<double, 8> w;
                hue_bins(hue * 180.0 / kPi, w);
                for (size_t k = 0; k < 8; ++k) subject_hist[k] += C[i] * w[k];
            }
        }
        // Separate subject regions: 8-connected components of the subject mask, ignoring specks.
        int parts = 0;
        {
            std::vector<int> label(n, 0), stack;
            for (size_t start = 0; start < n; ++start) {
                if (sal[start] < 0.1 || label[start]) continue;
                int area = 0;
                stack.assign(1, int(start));
                label[start] = 1;
                while (!stack.empty()) {
                    const int p = stack.back();
                    stack.pop_back();
                    ++area;
                    const int px = p % kWork, py = p / kWork;
                    for (int dy = -1; dy <= 1; ++dy)
                        for (int dx = -1; dx <= 1; ++dx) {
                            const int qx = px + dx, qy = py + dy;
                            if (qx < 0 || qy < 0 || qx >= kWork || qy >= kWork) continue;
                            const size_t q = size_t(qy) * kWork + qx;
                            if (sal[q] < 0.1 || label[q]) continue;
                            label[q] = 1;
                            stack.push_back(int(q));
                        }
                }
                if (area >= 8) ++parts;
            }
        }
        const double subject_lightness = subject_n > 0 ? subject_l / subject_n : bg_l;
        const double subject_chroma = subject_n > 0 ? subject_c / subject_n : 0.0;
        const double subject_warmth = subject_n > 0 ? subject_warm / (subject_c + 0.02 * subject_n) : 0.0;
        const double bg_c = std::sqrt(bg_a * bg_a + bg_b * bg_b);
        const double background_warmth = bg_c > 1e-6 ? bg_c * std::cos(std::atan2(bg_b, bg_a) - 60.0 * kPi / 180.0) / (bg_c + 0.02) : 0.0;

        double cx = 0.5, cy = 0.5, spread = 0;
        if (s_sum > 1e-6) {
            cx = sx / s_sum;
            cy = sy / s_sum;
            double v = 0;
            for (int y = 0; y < kWork; ++y)
                for (int x = 0; x < kWork; ++x) {
                    const double dx = (x + 0.5) / kWork - cx, dy = (y + 0.5) / kWork - cy;
                    v += sal[size_t(y) * kWork + x] * (dx * dx + dy * dy);
                }
            spread = std::sqrt(v / s_sum);
        }

        // Mirror symmetry over OKLab vectors.
        double total_var = 0;
        {
            double ma = 0, mb = 0;
            for (size_t i = 0; i < n; ++i) {
                ma += A[i];
                mb += B[i];
            }
            ma /= nd;
            mb /= nd;
            for (size_t i = 0; i < n; ++i)
                total_var += (L[i] - l_mean) * (L[i] - l_mean) + (A[i] - ma) * (A[i] - ma) + (B[i] - mb) * (B[i] - mb);
            total_var /= nd;
        }
        auto symmetry = [&](bool left_right) {
            if (total_var < 1e-9) return 1.0;
            double d = 0;
            for (int y = 0; y < kWork; ++y)
                for (int x = 0; x < kWork; ++x) {
                    const size_t i = size_t(y) * kWork + x;
                    const size_t j = left_right ? size_t(y) * kWork + (kWork - 1 - x) : size_t(kWork - 1 - y) * kWork + x;
                    d += (L[i] - L[j]) * (L[i] - L[j]) + (A[i] - A[j]) * (A[i] - A[j]) + (B[i] - B[j]) * (B[i] - B[j]);
                }
            return std::clamp(1.0 - (d / nd) / (2 * total_var), 0.0, 1.0);
        };

        std::vector<float> out;
        out.reserve(38);
        out.push_back(float(l_mean));
        out.push_back(float(std::sqrt(l_var)));
        out.push_back(float(contrast));
        out.push_back(float(c_mean));
        out.push_back(float(std::sqrt(c_var)));
        out.push_back(float(colourfulness));
        out.push_back(float(warmth));
        for (double h : hist) out.push_back(float(h / chroma_norm));
        out.push_back(float(edge_density));
        out.push_back(float(high_freq_ratio));
        out.push_back(float(cx));
        out.push_back(float(cy));
        out.push_back(float(spread));
        out.push_back(float(symmetry(true)));
        out.push_back(float(symmetry(false)));
        out.push_back(float(double(near_background) / nd));
        out.push_back(float(subject_lightness));
        out.push_back(float(subject_chroma));
        out.push_back(float(subject_warmth));
        out.push_back(float(bg_l));
        out.push_back(float(bg_c));
        out.push_back(float(background_warmth));
        for (double h : subject_hist) out.push_back(float(subject_n > 0 ? h / (subject_c + 0.02 * subject_n) : 0.0));
        out.push_back(float(std::min(parts, 8)));
        return out;
    }
};

class ConcatenatedFeatures : public FeatureExtractor {
public:
    ConcatenatedFeatures(std::unique_ptr<FeatureExtractor> a, std::unique_ptr<FeatureExtractor> b)
        : a_(std::move(a)), b_(std::move(b)) {}
    std::string name() const override { return a_->feature_set() + "+" + b_->name(); }
    std::string version() const override { return b_->version(); }
    std::vector<FeatureDescription> describe() const override {
        std::vector<FeatureDescription> out = a_->describe();
        for (FeatureDescription d : b_->describe()) {
            d.name = b_->name() + "." + d.name;
            out.push_back(d);
        }
        return out;
    }
    std::vector<float> extract(const Image& image) const override {
        std::vector<float> out = a_->extract(image);
        const std::vector<float> more = b_->extract(image);
        out.insert(out.end(), more.begin(), more.end());
        return out;
    }

private:
    std::unique_ptr<FeatureExtractor> a_, b_;
};

}  // namespace

std::unique_ptr<FeatureExtractor> make_basic_features() { return std::make_unique<BasicFeatures>(); }

std::unique_ptr<FeatureExtractor> concatenate_features(std::unique_ptr<FeatureExtractor> first,
                                                       std::unique_ptr<FeatureExtractor> second) {
    if (!first || !second) throw Error("concatenate_features: a feature extractor is null");
    return std::make_unique<ConcatenatedFeatures>(std::move(first), std::move(second));
}

}  // namespace atelier::taste
