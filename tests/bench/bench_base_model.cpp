// The embedded default model's quality and speed: for held-out captions (evaluation seeds, never training
// ones), generate with the default settings and let the attribute classifier judge shape, colour,
// background, position and count; the classifier on the real renders of the same scenes is the ceiling.
//
//   bench_base_model [--model DIR] [--captions 200] [--steps N] [--guidance G] [--sampler S] [--threads 1]
//                    [--classifier FILE (loaded if present, else trained and saved there)]
//                    [--classifier-steps 1500] [--grid OUT.png (+ OUT.md with the captions)]
//                    [--round-trip-grid OUT.png (real renders above their autoencoder round trips)]
//                    [--captions-from validation (another held-out stream, for choosing the defaults)]
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "atelier/engine.h"
#include "atelier/image.h"
#include "atelier/system.h"
#include "atelier/world.h"
#include "personalize/attribute_classifier.h"
#include "personalize/base_model.h"
#include "runtime/model_impl.h"

using namespace atelier;

namespace {

void print_row(const char* what, const AttributeScores& s) {
    std::printf("| %-28s | %5.1f%% | %5.1f%% | %5.1f%% | %5.1f%% | %5.1f%% | %5.1f%% |\n", what, 100 * s.rate(s.shape),
                100 * s.rate(s.colour), 100 * s.rate(s.background), 100 * s.rate(s.background_colour),
                100 * s.rate(s.position), 100 * s.rate(s.count));
}

// Grid of `columns` x rows pictures scaled by `scale` (nearest), 4 px gaps on white.
Image make_grid(const std::vector<Image>& images, int columns, int scale) {
    const int cell = 64 * scale + 4, rows = int((images.size() + size_t(columns) - 1) / size_t(columns));
    Image grid;
    grid.width = columns * cell + 4;
    grid.height = rows * cell + 4;
    grid.pixels.assign(size_t(grid.width) * size_t(grid.height) * 3, 255);
    for (size_t i = 0; i < images.size(); ++i) {
        const int ox = 4 + int(i % size_t(columns)) * cell, oy = 4 + int(i / size_t(columns)) * cell;
        for (int y = 0; y < 64 * scale; ++y)
            for (int x = 0; x < 64 * scale; ++x)
                for (int c = 0; c < 3; ++c)
                    grid.pixels[(size_t(oy + y) * size_t(grid.width) + size_t(ox + x)) * 3 + size_t(c)] =
                        images[i].pixels[(size_t(y / scale) * 64 + size_t(x / scale)) * 3 + size_t(c)];
    }
    return grid;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_dir = default_model_dir(), classifier_path, grid_path, sampler, round_trip_grid;
    int captions = 200, steps = 0, threads = 1, classifier_steps = 1500;
    float guidance = 0;
    bool validation = false;   // captions of another stream, for choosing a model's defaults without the test set
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--model") model_dir = v;
        else if (a == "--captions") captions = std::stoi(v);
        else if (a == "--steps") steps = std::stoi(v);
        else if (a == "--guidance") guidance = std::stof(v);
        else if (a == "--sampler") sampler = v;
        else if (a == "--threads") threads = std::stoi(v);
        else if (a == "--classifier") classifier_path = v;
        else if (a == "--classifier-steps") classifier_steps = std::stoi(v);
        else if (a == "--grid") grid_path = v;
        else if (a == "--round-trip-grid") round_trip_grid = v;
        else if (a == "--captions-from") validation = v == "validation";
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    at::set_num_threads(threads);
    using clock = std::chrono::steady_clock;

    // The judge.
    const auto t0 = clock::now();
    AttributeClassifier classifier(0);
    if (!classifier_path.empty() && std::filesystem::exists(classifier_path)) {
        classifier = AttributeClassifier::load(classifier_path);
        std::printf("classifier: loaded %s\n", classifier_path.c_str());
    } else {
        ClassifierTrainOptions o;
        o.steps = classifier_steps;
        o.on_progress = [](int64_t s, int64_t n, double loss) {
            if (s % 100 == 0 || s == n) std::printf("classifier %lld/%lld loss %.3f\n", (long long)s, (long long)n, loss);
            std::fflush(stdout);
        };
        classifier = AttributeClassifier::train(o);
        std::printf("classifier: trained %d steps in %.0f s\n", classifier_steps,
                    std::chrono::duration<double>(clock::now() - t0).count());
        if (!classifier_path.empty()) classifier.save(classifier_path);
    }

    // The held-out captions and their real renders.
    std::vector<world::Scene> scenes;
    std::vector<Image> renders;
    for (int i = 0; i < captions; ++i) {
        const uint64_t stream = validation ? kBaseModelValidationBase : kBaseModelEvalBase;
        scenes.push_back(world::sample_scene(world::derive_seed(stream, uint64_t(i)), world::HeldOut::exclude));
        renders.push_back(world::render_scene(scenes.back(), 64));
    }
    AttributeScores ceiling;
    const auto real = classifier.predict(renders);
    for (int i = 0; i < captions; ++i) ceiling.add(real[size_t(i)], scenes[size_t(i)]);

    // Generation with the model's defaults (unless overridden).
    LoadOptions load;
    load.path = model_dir;
    auto model = Model::load(load);
    GenerateRequest base;
    base.steps = steps > 0 ? steps : model->info().default_steps;
    base.guidance = guidance > 0 ? guidance : model->info().default_guidance;
    base.sampler = sampler;
    base.preview_interval = 0;
    std::printf("model %s: sampler %s, %d steps, guidance %.1f, %dx%d, %d thread(s)\n", model_dir.c_str(),
                (sampler.empty() ? model->info().default_sampler : sampler).c_str(), base.steps, base.guidance,
                model->info().default_width, model->info().default_height, threads);
    // The autoencoder's round trip of the real renders (what the UNet can at best reach).
    AttributeScores round_trip;
    {
        at::NoGradGuard no_grad;
        const AutoencoderKL& vae = *model->impl().vae;
        const at::Tensor rec = vae.decode(vae.encode(images_to_tensor(renders)).first).clamp(-1, 1);
        const auto p = classifier.predict(rec);
        for (int i = 0; i < captions; ++i) round_trip.add(p[size_t(i)], scenes[size_t(i)]);
        const double mae = (rec - images_to_tensor(renders)).abs().mean().item<double>() * 127.5;
        std::printf("autoencoder round trip: mean absolute error %.1f / 255\n", mae);
        if (!round_trip_grid.empty()) {  // 12 renders, their round trips below
            std::vector<Image> cells(renders.begin(), renders.begin() + std::min<long>(12, long(renders.size())));
            const size_t n = cells.size();
            for (size_t i = 0; i < n; ++i) cells.push_back(tensor_to_image(rec[long(i)]));
            const std::vector<uint8_t> png = encode_png(make_grid(cells, int(n), 2));
            std::ofstream(round_trip_grid, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), long(png.size()));
        }
    }
    {  // warm-up (first-call allocations)
        GenerateRequest r = base;
        r.prompt = "a red circle";
        generate(*model, r);
    }
    std::vector<Image> generated;
    std::vector<double> ms;
    for (int i = 0; i < captions; ++i) {
        GenerateRequest r = base;
        r.prompt = world::caption(scenes[size_t(i)]);
        r.seed = uint64_t(i);
        const auto start = clock::now();
        GenerateResult result = generate(*model, r);
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - start).count());
        generated.push_back(result.images.at(0));
    }
    AttributeScores scores;
    const auto judged = classifier.predict(generated);
    for (int i = 0; i < captions; ++i) scores.add(judged[size_t(i)], scenes[size_t(i)]);
    // The same captions with words the world never uses appended: the model should draw the caption.
    AttributeScores foreign_scores;
    {
        std::vector<Image> foreign;
        for (int i = 0; i < captions; ++i) {
            GenerateRequest r = base;
            r.prompt = world::caption(scenes[size_t(i)]) + ", " + kForeignPromptWords[i % 10];
            r.seed = uint64_t(i);
            foreign.push_back(generate(*model, r).images.at(0));
        }
        const auto p = classifier.predict(foreign);
        for (int i = 0; i < captions; ++i) foreign_scores.add(p[size_t(i)], scenes[size_t(i)]);
    }
    // A negative prompt naming a pattern the caption does not ask for (how a "dislike: stripes" memory rule
    // reaches the pipeline): how often are stripes drawn anyway, with and without it?
    int unstriped = 0, striped_plain = 0, striped_negative = 0;
    {
        std::vector<Image> negative;
        std::vector<int> which;
        for (int i = 0; i < captions; ++i) {
            if (scenes[size_t(i)].background == world::Background::stripes) continue;
            GenerateRequest r = base;
            r.prompt = world::caption(scenes[size_t(i)]);
            r.negative_prompt = "stripes";
            r.seed = uint64_t(i);
            negative.push_back(generate(*model, r).images.at(0));
            which.push_back(i);
        }
        const auto p = classifier.predict(negative);
        for (size_t k = 0; k < which.size(); ++k) {
            ++unstriped;
            striped_plain += judged[size_t(which[k])].background == world::Background::stripes;
            striped_negative += p[k].background == world::Background::stripes;
        }
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    double mean = 0;
    for (double m : ms) mean += m / double(ms.size());

    std::printf("\n%d held-out captions\n", captions);
    std::printf("| %-28s | shape  | colour | backgr | bg col | positn | count  |\n", "");
    std::printf("|------------------------------|--------|--------|--------|--------|--------|--------|\n");
    print_row("generated (default settings)", scores);
    print_row("same + foreign words", foreign_scores);
    print_row("autoencoder round trip", round_trip);
    print_row("real renders (ceiling)", ceiling);
    std::printf("\nnegative prompt \"stripes\" on the %d captions without stripes: stripes drawn in %.1f%% (%.1f%% "
                "without it)\n",
                unstriped, 100.0 * striped_negative / std::max(1, unstriped), 100.0 * striped_plain / std::max(1, unstriped));
    std::printf("\ntime per 64x64 image: mean %.0f ms, median %.0f ms, min %.0f ms (%d thread(s))\n", mean,
                sorted[sorted.size() / 2], sorted.front(), threads);

    if (!grid_path.empty()) {
        const size_t n = std::min<size_t>(24, generated.size());
        std::vector<Image> cells(generated.begin(), generated.begin() + long(n));
        const std::vector<uint8_t> png = encode_png(make_grid(cells, 6, 2));
        std::ofstream(grid_path, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), long(png.size()));
        std::ofstream md(std::filesystem::path(grid_path).replace_extension(".md"));
        md << "# Samples of the embedded default model (atelier-tiny)\n\n"
           << "`" << std::filesystem::path(grid_path).filename().string() << "`: " << n
           << " held-out captions (evaluation seeds 0.." << n - 1 << "), image i with seed i, "
           << (sampler.empty() ? model->info().default_sampler : sampler) << ", " << base.steps << " steps, guidance "
           << base.guidance << "; read left to right, top to bottom.\n\n";
        for (size_t i = 0; i < n; ++i) md << i + 1 << ". " << world::caption(scenes[i]) << "\n";
        std::printf("grid: %s\n", grid_path.c_str());
    }
    return 0;
}
