// Motion modules for the embedded default model: does a generated clip move the way its caption asks, and do its
// frames keep the still model's shapes and colours? For held-out captions (evaluation seeds, never training
// ones) with a motion phrase, generate 16-frame clips with the model's default sampler and steps; the motion
// classifier reads the motion, the attribute classifier each frame's shape and colour. Ceilings: both
// classifiers on the rendered clips of the same scenes. Reference: the still model's images for the same scenes
// (captions without the motion phrase, which it never saw). Targets: motion >= 80%, shape and colour within
// 10 points of the still model.
//
//   bench_motion [--classifier FILE (motion classifier: loaded if present, else trained and saved there)]
//                [--classifier-steps 800] [--rendered 270 (rendered clips for the ceiling)]
//                [--model DIR --motion-module DIR] [--clips 100] [--frames 16] [--steps N] [--guidance G]
//                [--sampler S] [--attribute-classifier FILE (loaded if present, else trained and saved there)]
//                [--attribute-steps 1500] [--threads 1] [--words 0 (clips for the denoiser's reading of the words)]
//                [--motions left,grow (the captions ask for these motions only; default all nine)]
//                [--travel on (each motion written as prompt travel in still words instead of its phrase)]
//                [--clips-from validation (another held-out stream, for choosing settings such as a motion
//                 LoRA's strength without the evaluation clips)]
//
// --words N asks whether the motion words reach the denoiser at all, without sampling: for N rendered held-out
// clips, the epsilon loss at three noise levels with each of the nine motion phrases (same noise); the phrase
// with the lowest loss is the denoiser's reading of the clip (Li et al. 2023, "Your diffusion model is secretly
// a zero-shot classifier"). Chance is 1/9; a module that ignores the words reads at chance however well it moves.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "atelier/engine.h"
#include "atelier/image.h"
#include "atelier/world.h"
#include "personalize/attribute_classifier.h"
#include "personalize/base_model.h"
#include "personalize/motion_classifier.h"
#include "personalize/apply.h"
#include "personalize/motion_clips.h"
#include "personalize/motion_training.h"
#include "runtime/model_impl.h"

using namespace atelier;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// Shape and colour of frames against their scene; a colour_change clip's colour only counts in its first frame.
struct FrameScores {
    int64_t frames = 0, shape = 0, colour_frames = 0, colour = 0;
    void add(const AttributePrediction& p, const world::Scene& s, world::Motion motion, int frame) {
        ++frames;
        shape += p.shape == s.shape;
        if (motion != world::Motion::colour_change || frame == 0) {
            ++colour_frames;
            colour += p.colour == s.colour;
        }
    }
    double shape_rate() const { return frames ? double(shape) / double(frames) : 0; }
    double colour_rate() const { return colour_frames ? double(colour) / double(colour_frames) : 0; }
};

struct MotionScores {
    int64_t hits[world::kMotionCount] = {}, total[world::kMotionCount] = {}, read_as[world::kMotionCount] = {};
    void add(world::Motion predicted, world::Motion truth) {
        ++total[int(truth)];
        ++read_as[int(predicted)];
        hits[int(truth)] += predicted == truth;
    }
    double rate() const {
        int64_t h = 0, n = 0;
        for (int m = 0; m < world::kMotionCount; ++m) h += hits[m], n += total[m];
        return n ? double(h) / double(n) : 0;
    }
    std::string cell(int m) const {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%lld/%lld", (long long)hits[m], (long long)total[m]);
        return buffer;
    }
};

AttributeClassifier attribute_classifier(const std::string& path, int64_t steps) {
    if (!path.empty() && std::filesystem::exists(path)) {
        std::printf("attribute classifier: loaded %s\n", path.c_str());
        return AttributeClassifier::load(path);
    }
    const auto start = clock_type::now();
    ClassifierTrainOptions o;
    o.steps = steps;
    o.on_progress = [](int64_t s, int64_t n, double loss) {
        if (s % 100 == 0 || s == n) std::printf("attribute classifier %lld/%lld loss %.3f\n", (long long)s, (long long)n, loss);
        std::fflush(stdout);
    };
    AttributeClassifier c = AttributeClassifier::train(o);
    std::printf("attribute classifier: trained %lld steps in %.0f s\n", (long long)steps, seconds_since(start));
    if (!path.empty()) c.save(path);
    return c;
}

// The denoiser's reading of the motion words (see --words above) on `n` rendered held-out clips.
void print_word_reading(Model& model, int n, int frames) {
    at::NoGradGuard no_grad;
    Model::Impl& m = model.impl();
    GenerateRequest clip_request;  // applies the motion module's own text LoRA, as generate does for clips
    clip_request.frames = frames;
    const AppliedPersonalization personal(m, clip_request);
    {  // How far apart the text encoder puts two motion phrases, against two colours of the same scene.
        auto encode = [&](const std::string& text) {
            const auto ids = personal.tokenizer().encode_padded(text, m.tokenizer->model_max_length());
            return m.text_encoder->forward(at::tensor(ids, at::kLong).view({1, -1}));
        };
        world::Scene scene = clip_scene(kMotionEvalBase, 0);
        double motion_distance = 0, colour_distance = 0;
        int pairs = 0;
        for (int a = 0; a < world::kMotionCount; ++a)
            for (int b = a + 1; b < world::kMotionCount; ++b, ++pairs)
                motion_distance += (encode(clip_caption(scene, world::Motion(a))) - encode(clip_caption(scene, world::Motion(b))))
                                       .norm().item<double>();
        const at::Tensor one = encode(world::caption(scene));
        scene.colour = world::Colour((int(scene.colour) + 1) % world::kColourCount);
        colour_distance = (one - encode(world::caption(scene))).norm().item<double>();
        std::printf("\ntext encoder: two motion phrases lie %.3f apart on average, two colours of the same scene %.3f "
                    "(L2 over all 77 token states)\n", motion_distance / pairs, colour_distance);
    }
    const std::vector<int64_t> timesteps{600, 800, 950};
    MotionScores reading;
    double gap = 0;  // mean over clips of (mean loss of the other phrases - loss of the asked one) / the asked one
    for (int i = 0; i < n; ++i) {
        const ClipBatch batch = render_clip_batch(kMotionEvalBase, i, 1, frames);
        const at::Tensor x0 = encode_clips(*m.vae, batch.frames).first * m.vae->config().scaling_factor;
        auto gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(1000 + i));
        const at::Tensor noise = at::randn(x0.sizes(), gen);
        const int64_t T = int64_t(timesteps.size());
        std::vector<double> loss(world::kMotionCount, 0.0);
        for (int k = 0; k < world::kMotionCount; ++k) {
            const std::string caption = clip_caption(batch.scenes[0], world::Motion(k));
            const auto ids = personal.tokenizer().encode_padded(caption, m.tokenizer->model_max_length());
            const at::Tensor context = m.text_encoder->forward(at::tensor(ids, at::kLong).view({1, -1}));
            for (int64_t t : timesteps)
                loss[size_t(k)] += motion_epsilon_loss(*m.unet, x0, context, at::full({1}, t, at::kLong), noise)
                                       .item<double>() / double(T);
        }
        const int asked = int(batch.motions[0]);
        const int best = int(std::min_element(loss.begin(), loss.end()) - loss.begin());
        reading.add(world::Motion(best), batch.motions[0]);
        double others = 0;
        for (int k = 0; k < world::kMotionCount; ++k)
            if (k != asked) others += loss[size_t(k)] / double(world::kMotionCount - 1);
        gap += (others - loss[size_t(asked)]) / loss[size_t(asked)] / double(n);
    }
    std::printf("\nthe denoiser's reading of the motion words, %d rendered held-out clips (t = 600, 800, 950):\n"
                "lowest loss with the asked phrase %.1f%% (chance 11.1%%); the other phrases' loss %+.2f%% above it\n",
                n, 100 * reading.rate(), 100 * gap);
    std::printf("| motion | read right | read as |\n|---|---|---|\n");
    for (int k = 0; k < world::kMotionCount; ++k)
        std::printf("| %s | %s | %lld |\n", std::string(world::name(world::Motion(k))).c_str(), reading.cell(k).c_str(),
                    (long long)reading.read_as[k]);
}

// --travel: the asked motion written as prompt travel in the still model's own words (atelier/prompt_travel.h),
// what a person can write without any motion word: where the object starts and where it ends (left: from the
// right to the left; grow: from small to large; colour change: to the colour the renderer changes it to;
// bounce: bottom and top in turn, as the rendered bounce peaks twice). Rotation has no still words: nullopt.
std::optional<std::string> travel_prompt(const world::Scene& scene, world::Motion motion, int frames) {
    using world::Motion, world::Position, world::Size;
    auto with = [&](auto change) {
        world::Scene s = scene;
        change(s);
        return world::caption(s);
    };
    auto at = [&](Position p) { return with([p](world::Scene& s) { s.position = p; }); };
    auto sized = [&](Size z) { return with([z](world::Scene& s) { s.size = z; }); };
    const int last = frames - 1;
    auto two = [&](const std::string& from, const std::string& to) {
        return "0: " + from + "\n" + std::to_string(last) + ": " + to;
    };
    switch (motion) {
    case Motion::left: return two(at(Position::right), at(Position::left));
    case Motion::right: return two(at(Position::left), at(Position::right));
    case Motion::up: return two(at(Position::bottom), at(Position::top));
    case Motion::down: return two(at(Position::top), at(Position::bottom));
    case Motion::grow: return two(sized(Size::small), sized(Size::large));
    case Motion::shrink: return two(sized(Size::large), sized(Size::small));
    case Motion::colour_change:
        return two(world::caption(scene), with([&](world::Scene& s) { s.colour = world::colour_change_target(scene); }));
    case Motion::bounce: {
        const std::string bottom = at(Position::bottom), top = at(Position::top);
        return "0: " + bottom + "\n" + std::to_string(last / 4) + ": " + top + "\n" + std::to_string(last / 2) + ": " +
               bottom + "\n" + std::to_string(3 * last / 4) + ": " + top + "\n" + std::to_string(last) + ": " + bottom;
    }
    case Motion::rotate: return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    std::string classifier_path, model_dir, motion_dir, attribute_path, sampler;
    int64_t classifier_steps = 800, attribute_steps = 1500;
    int rendered = 270, clips = 100, frames = 16, steps = 0, threads = 1, words = 0;
    bool travel = false, validation = false;
    float guidance = 0;
    std::vector<world::Motion> asked_motions;  // empty: all nine
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--classifier") classifier_path = v;
        else if (a == "--classifier-steps") classifier_steps = std::stoll(v);
        else if (a == "--rendered") rendered = std::stoi(v);
        else if (a == "--model") model_dir = v;
        else if (a == "--motion-module") motion_dir = v;
        else if (a == "--clips") clips = std::stoi(v);
        else if (a == "--frames") frames = std::stoi(v);
        else if (a == "--steps") steps = std::stoi(v);
        else if (a == "--guidance") guidance = std::stof(v);
        else if (a == "--sampler") sampler = v;
        else if (a == "--attribute-classifier") attribute_path = v;
        else if (a == "--attribute-steps") attribute_steps = std::stoll(v);
        else if (a == "--threads") threads = std::stoi(v);
        else if (a == "--words") words = std::stoi(v);
        else if (a == "--travel") travel = v == "on";
        else if (a == "--clips-from") validation = v == "validation";
        else if (a == "--motions") {
            for (size_t start = 0; start <= v.size();) {
                const size_t comma = std::min(v.find(',', start), v.size());
                const auto motion = world::parse_motion(v.substr(start, comma - start));
                if (!motion) {
                    std::fprintf(stderr, "unknown motion in --motions %s\n", v.c_str());
                    return 2;
                }
                asked_motions.push_back(*motion);
                start = comma + 1;
            }
        }
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (travel && asked_motions.empty()) {  // every motion that still words can say
        for (int k = 0; k < world::kMotionCount; ++k)
            if (world::Motion(k) != world::Motion::rotate) asked_motions.push_back(world::Motion(k));
    }
    if (frames < 5) {
        std::fprintf(stderr, "--frames must be >= 5 (the motion classifier reads 5 frames)\n");
        return 2;
    }
    at::set_num_threads(threads);

    // The motion judge.
    MotionClassifier judge(0);
    if (!classifier_path.empty() && std::filesystem::exists(classifier_path)) {
        judge = MotionClassifier::load(classifier_path);
        std::printf("motion classifier: loaded %s\n", classifier_path.c_str());
    } else {
        const auto start = clock_type::now();
        MotionClassifierTrainOptions o;
        o.steps = classifier_steps;
        o.on_progress = [](int64_t s, int64_t n, double loss) {
            if (s % 100 == 0 || s == n) std::printf("motion classifier %lld/%lld loss %.3f\n", (long long)s, (long long)n, loss);
            std::fflush(stdout);
        };
        judge = MotionClassifier::train(o);
        std::printf("motion classifier: trained %lld steps in %.0f s\n", (long long)classifier_steps, seconds_since(start));
        if (!classifier_path.empty()) judge.save(classifier_path);
    }

    // Its ceiling: rendered held-out clips.
    MotionScores rendered_motion;
    for (int i = 0; i < rendered; i += 30) {
        const int n = std::min(30, rendered - i);
        const ClipBatch batch = render_clip_batch(kMotionEvalBase, i, n, frames);
        const auto predicted = judge.predict(batch.frames);
        for (int k = 0; k < n; ++k) rendered_motion.add(predicted[size_t(k)], batch.motions[size_t(k)]);
    }
    std::printf("\n%d rendered held-out clips (%d frames): motion classifier %.1f%%\n", rendered, frames,
                100 * rendered_motion.rate());
    if (model_dir.empty() || motion_dir.empty()) {
        std::printf("(no --model and --motion-module: generation not measured)\n");
        return 0;
    }

    const AttributeClassifier attributes = attribute_classifier(attribute_path, attribute_steps);
    LoadOptions load;
    load.path = model_dir;
    auto model = Model::load(load);
    if (words > 0) {
        model->set_motion_module(motion_dir);
        print_word_reading(*model, words, frames);
        model->set_motion_module("");
        if (clips == 0) return 0;
    }
    GenerateRequest base;
    if (steps > 0) base.steps = steps;
    if (guidance > 0) base.guidance = guidance;
    base.sampler = sampler;
    base.preview_interval = 0;

    // The still model's images of the same scenes (reference), then the clips.
    std::vector<world::Scene> scenes;
    std::vector<world::Motion> motions;
    const uint64_t stream = validation ? kMotionValidationBase : kMotionEvalBase;
    if (validation) std::printf("clips from the validation stream\n");
    for (int i = 0; i < clips; ++i) {
        scenes.push_back(clip_scene(stream, i));
        motions.push_back(clip_motion(stream, i, asked_motions));
    }
    FrameScores still_scores;
    std::vector<Image> stills;
    for (int i = 0; i < clips; ++i) {
        GenerateRequest r = base;
        r.prompt = world::caption(scenes[size_t(i)]);
        r.seed = uint64_t(i);
        stills.push_back(generate(*model, r).images.at(0));
    }
    const auto still_pred = attributes.predict(stills);
    for (int i = 0; i < clips; ++i) still_scores.add(still_pred[size_t(i)], scenes[size_t(i)], world::Motion::left, 0);

    model->set_motion_module(motion_dir);
    std::printf("model %s + motion module %s: sampler %s, %d steps, guidance %.1f, %d frames, %d thread(s)\n",
                model_dir.c_str(), motion_dir.c_str(),
                (sampler.empty() ? model->info().default_sampler : sampler).c_str(),
                base.steps > 0 ? base.steps : model->info().default_steps,
                base.guidance >= 0 ? base.guidance : model->info().default_guidance, frames, threads);
    {  // warm-up (first-call allocations)
        GenerateRequest r = base;
        r.prompt = "a red circle moving up";
        r.frames = frames;
        r.steps = 1;
        generate(*model, r);
    }
    MotionScores generated_motion;
    FrameScores clip_scores, rendered_frames;
    std::vector<double> clip_seconds;
    for (int i = 0; i < clips; ++i) {
        GenerateRequest r = base;
        r.prompt = clip_caption(scenes[size_t(i)], motions[size_t(i)]);
        if (travel) {
            const std::optional<std::string> text = travel_prompt(scenes[size_t(i)], motions[size_t(i)], frames);
            if (!text) {
                std::fprintf(stderr, "--travel on: %s has no still words\n", std::string(world::name(motions[size_t(i)])).c_str());
                return 2;
            }
            r.prompt = *text;
            if (i < 3) std::printf("travel prompt %d:\n%s\n", i, r.prompt.c_str());
        }
        r.seed = uint64_t(i);
        r.frames = frames;
        const auto start = clock_type::now();
        const GenerateResult result = generate(*model, r);
        clip_seconds.push_back(seconds_since(start));
        const at::Tensor clip = images_to_tensor(result.images).unsqueeze(0);
        generated_motion.add(judge.predict(clip).at(0), motions[size_t(i)]);
        const auto per_frame = attributes.predict(result.images);
        for (int f = 0; f < frames; ++f)
            clip_scores.add(per_frame[size_t(f)], scenes[size_t(i)], motions[size_t(i)], f);
        // The attribute classifier on the rendered frames of the same clip: its ceiling.
        const ClipBatch real = render_clip_batch(stream, i, 1, frames, 64, world::HeldOut::exclude, asked_motions);
        const auto real_pred = attributes.predict(real.frames[0]);
        for (int f = 0; f < frames; ++f)
            rendered_frames.add(real_pred[size_t(f)], scenes[size_t(i)], motions[size_t(i)], f);
        if ((i + 1) % 10 == 0) {
            std::printf("clip %d/%d: motion %.0f%%, %.1f s/clip\n", i + 1, clips, 100 * generated_motion.rate(),
                        clip_seconds.back());
            std::fflush(stdout);
        }
    }
    std::vector<double> sorted = clip_seconds;
    std::sort(sorted.begin(), sorted.end());
    double mean = 0;
    for (double s : clip_seconds) mean += s / double(clip_seconds.size());

    std::printf("\n%d held-out captions with a motion (%s seeds 0..%d), %d-frame clips\n", clips,
                validation ? "validation" : "evaluation", clips - 1, frames);
    std::printf("| %-40s | motion | shape  | colour |\n", "");
    std::printf("|------------------------------------------|--------|--------|--------|\n");
    std::printf("| %-40s | %5.1f%% | %5.1f%% | %5.1f%% |\n", "generated clips (per frame)", 100 * generated_motion.rate(),
                100 * clip_scores.shape_rate(), 100 * clip_scores.colour_rate());
    std::printf("| %-40s |      - | %5.1f%% | %5.1f%% |\n", "still model, same scenes (no motion)",
                100 * still_scores.shape_rate(), 100 * still_scores.colour_rate());
    std::printf("| %-40s | %5.1f%% | %5.1f%% | %5.1f%% |\n", "rendered clips (ceiling)", 100 * rendered_motion.rate(),
                100 * rendered_frames.shape_rate(), 100 * rendered_frames.colour_rate());
    std::printf("\nmotion adherence %.1f%% (target >= 80%%); shape %+.1f points, colour %+.1f points against the still "
                "model (target: within 10)\n",
                100 * generated_motion.rate(), 100 * (clip_scores.shape_rate() - still_scores.shape_rate()),
                100 * (clip_scores.colour_rate() - still_scores.colour_rate()));
    std::printf("\n| motion | generated | rendered | generated clips read as it |\n|---|---|---|---|\n");
    for (int m = 0; m < world::kMotionCount; ++m)
        std::printf("| %s | %s | %s | %lld |\n", std::string(world::name(world::Motion(m))).c_str(),
                    generated_motion.cell(m).c_str(), rendered_motion.cell(m).c_str(),
                    (long long)generated_motion.read_as[m]);
    std::printf("\ntime per %d-frame clip: mean %.2f s, median %.2f s, min %.2f s (%d thread(s))\n", frames, mean,
                sorted[sorted.size() / 2], sorted.front(), threads);
    return 0;
}
