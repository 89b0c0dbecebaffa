// Concept enrollment quality on the embedded default model: for the held-out shapes (heart, crescent) and
// style (pixel art), enroll each from 5 rendered pictures with textual inversion, LoRA and rank-1 edits,
// then generate from held-out prompts that put the token in new colours, positions and backgrounds; the
// attribute classifier (trained on renders of the whole world, held-out parts included) judges concept
// fidelity (it finds the shape / style) and prompt fidelity (colour, background, position as asked).
// Baselines in the same run: the base model with the plain word, and with a shape it knows.
//
//   bench_concepts [--model DIR] [--prompts 50] [--steps N (generation)] [--train-steps N] [--threads 2]
//                  [--concepts heart,crescent,pixel_art] [--methods textual_inversion,lora,rank1 (also: locon)]
//                  [--classifier FILE (loaded if present, else trained and saved there)] [--grid OUT.png]
//                  [--captions on (each enrollment picture captioned with its colour, background, ..., the
//                  concept as the token; no flips)] [--leak on (each trained concept also loaded for the
//                  prompts that ask for a known shape / the flat style: how often it shows up unasked)]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "atelier/concepts.h"
#include "atelier/engine.h"
#include "atelier/image.h"
#include "atelier/system.h"
#include "atelier/world.h"
#include "personalize/attribute_classifier.h"
#include "personalize/base_model.h"
#include "runtime/model_impl.h"

using namespace atelier;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

std::string replace_first(std::string text, const std::string& what, const std::string& with) {
    const size_t p = text.find(what);
    if (p != std::string::npos) text.replace(p, what.size(), with);
    return text;
}

struct Target {
    std::string name, word, token, class_word;
    world::SceneAttributes constraints;
    bool is_style = false;
};

struct Row {
    std::string label;
    double concept = 0, prompt = 0, train_seconds = 0;
    int64_t bytes = 0;
};

}  // namespace

int main(int argc, char** argv) {
    std::string model_dir = default_model_dir(), classifier_path = "/tmp/atelier-attribute-classifier.safetensors", grid;
    std::string concepts = "heart,crescent,pixel_art", methods = "textual_inversion,lora,rank1";
    int prompts = 50, gen_steps = 20, threads = 2;
    int64_t train_steps = 0;
    bool captions = false, leak = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--model") model_dir = v;
        else if (a == "--prompts") prompts = std::stoi(v);
        else if (a == "--steps") gen_steps = std::stoi(v);
        else if (a == "--train-steps") train_steps = std::stoll(v);
        else if (a == "--threads") threads = std::stoi(v);
        else if (a == "--concepts") concepts = v;
        else if (a == "--methods") methods = v;
        else if (a == "--classifier") classifier_path = v;
        else if (a == "--grid") grid = v;
        else if (a == "--captions") captions = v == "on";
        else if (a == "--leak") leak = v == "on";
        else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
    }
    if (model_dir.empty() || !fs::exists(model_dir)) {
        std::fprintf(stderr, "no model (give --model DIR; the embedded atelier-tiny was not found)\n");
        return 1;
    }
    at::set_num_threads(threads);
    LoadOptions load;
    load.path = model_dir;
    load.device = "cpu";
    auto model = Model::load(load);
    const int size = model->info().default_width;
    std::printf("model %s (%dx%d), %d threads, %d held-out prompts per concept, %d generation steps\n", model_dir.c_str(),
                size, size, threads, prompts, gen_steps);

    AttributeClassifier classifier(0);
    if (fs::exists(classifier_path)) {
        classifier = AttributeClassifier::load(classifier_path);
    } else {
        ClassifierTrainOptions o;
        o.held_out = world::HeldOut::include;  // it must know the held-out shapes and style
        o.on_progress = [](int64_t s, int64_t n, double loss) {
            if (s % 250 == 0 || s == n) std::printf("classifier %lld/%lld loss %.3f\n", (long long)s, (long long)n, loss);
        };
        classifier = AttributeClassifier::train(o);
        classifier.save(classifier_path);
    }

    std::vector<Target> targets;
    for (const std::string& name : split(concepts)) {
        Target t;
        t.name = name;
        if (name == "heart" || name == "crescent") {
            t.constraints.shape = name == "heart" ? world::Shape::heart : world::Shape::crescent;
            t.constraints.style = world::Style::flat;
            t.word = name;
            t.class_word = "shape";
        } else if (name == "pixel_art") {
            t.constraints.style = world::Style::pixel_art;
            t.is_style = true;
            t.class_word = "style";
        } else {
            std::fprintf(stderr, "unknown concept %s\n", name.c_str());
            return 2;
        }
        t.constraints.count = 1;
        t.token = "<" + name + "-x>";
        targets.push_back(t);
    }

    std::vector<Row> rows;
    std::vector<Image> grid_images;
    for (Target& t : targets) {
        // enrollment pictures and held-out prompts (other seeds)
        std::vector<Image> enroll;
        std::vector<std::string> enroll_captions;  // --captions: each picture described, the concept as {}
        for (uint64_t i = 0; i < 5; ++i) {
            const world::Scene s = world::sample_scene(world::derive_seed(101, i), world::HeldOut::include, t.constraints);
            enroll.push_back(world::render_scene(s, size));
            const std::string caption = world::caption_for(s, world::CaptionStyle::canonical);
            enroll_captions.push_back(t.is_style ? caption.substr(0, caption.rfind(", ") + 2) + "{}"
                                                 : replace_first(caption, t.word, "{}"));
        }
        std::vector<world::Scene> truth;
        std::vector<std::string> with_word, with_token, with_known;
        for (int i = 0; i < prompts; ++i) {
            const world::Scene s = world::sample_scene(world::derive_seed(202, uint64_t(i)), world::HeldOut::include, t.constraints);
            truth.push_back(s);
            const std::string caption = world::caption_for(s, world::CaptionStyle::canonical);
            if (t.is_style) {
                // the style is the caption's last phrase
                const size_t comma = caption.rfind(", ");
                t.word = caption.substr(comma + 2);
                with_word.push_back(caption);
                with_token.push_back(caption.substr(0, comma + 2) + t.token);
                world::Scene flat = s;
                flat.style = world::Style::flat;
                with_known.push_back(world::caption_for(flat, world::CaptionStyle::canonical));
            } else {
                with_word.push_back(caption);
                with_token.push_back(replace_first(caption, t.word, t.token));
                with_known.push_back(replace_first(caption, t.word, "circle"));
            }
        }
        auto judge = [&](const std::string& label, const std::vector<std::string>& texts, const std::vector<ConceptSpec>& specs,
                         double train_seconds, int64_t bytes, bool known_shape) {
            Row row;
            row.label = t.name + ": " + label;
            row.train_seconds = train_seconds;
            row.bytes = bytes;
            int concept_hits = 0;
            AttributeScores scores;
            for (int i = 0; i < prompts; ++i) {
                GenerateRequest r;
                r.prompt = texts[size_t(i)];
                r.seed = 1000 + uint64_t(i);
                r.steps = gen_steps;
                r.preview_interval = 0;
                r.concepts = specs;
                const GenerateResult g = generate(*model, r);
                const AttributePrediction p = classifier.predict(g.images).front();
                world::Scene expected = truth[size_t(i)];
                if (known_shape) expected.shape = world::Shape::circle;
                scores.add(p, expected);
                concept_hits += t.is_style ? p.style == world::Style::pixel_art : p.shape == *t.constraints.shape;
                if (i < 6) grid_images.push_back(g.images.front());
            }
            row.concept = double(concept_hits) / prompts;
            row.prompt = (scores.rate(scores.colour) + scores.rate(scores.background) + scores.rate(scores.position)) / 3;
            std::printf("%-34s concept %5.1f%%  prompt %5.1f%%\n", row.label.c_str(), 100 * row.concept, 100 * row.prompt);
            std::fflush(stdout);
            rows.push_back(row);
        };
        judge(t.is_style ? "base, flat style (prompt ref.)" : "base, known shape (prompt ref.)", with_known, {}, 0, 0, !t.is_style);
        judge("baseline: plain word", with_word, {}, 0, 0, false);
        {   // The ceilings: the judge on the renders of the same scenes, and on their autoencoder round trips
            // (what any method can at best reach with this model's autoencoder).
            std::vector<Image> renders;
            for (const world::Scene& s : truth) renders.push_back(world::render_scene(s, size));
            at::Tensor round_trip;
            {
                at::NoGradGuard no_grad;
                const AutoencoderKL& vae = *model->impl().vae;
                round_trip = vae.decode(vae.encode(images_to_tensor(renders)).first).clamp(-1, 1);
            }
            const auto found = [&](const std::vector<AttributePrediction>& ps) {
                int hits = 0;
                for (const AttributePrediction& p : ps)
                    hits += t.is_style ? p.style == world::Style::pixel_art : p.shape == *t.constraints.shape;
                return double(hits) / double(ps.size());
            };
            std::printf("%-34s concept %5.1f%% on the renders, %5.1f%% on their autoencoder round trips\n",
                        (t.name + ": ceilings").c_str(), 100 * found(classifier.predict(renders)),
                        100 * found(classifier.predict(round_trip)));
            std::fflush(stdout);
        }
        for (const std::string& method : split(methods)) {
            if (method == "none") continue;
            TrainConceptRequest q;
            q.method = method == "locon" ? "lora" : method;   // "lora": attention only; "locon": convolutions too
            q.lora_convolutions = method == "locon";
            q.images = enroll;
            q.token = t.token;
            q.class_word = t.class_word;
            q.steps = train_steps;
            q.threads = threads;
            q.seed = 5;
            q.flip = !t.is_style && !captions;  // a caption's "left" would be wrong for the mirror
            if (captions) q.captions = enroll_captions;
            q.out_path = (fs::temp_directory_path() / ("bench-concept-" + t.name + "-" + method + ".safetensors")).string();
            const TrainConceptResult res = train_concept(*model, q);
            std::printf("  trained %s/%s: %lld steps, %.1f s, loss %.4f -> %.4f (fixed batch)\n", t.name.c_str(), method.c_str(),
                        (long long)res.steps, res.seconds, res.eval_loss_before, res.eval_loss_after);
            ConceptSpec spec;
            spec.path = q.out_path;
            judge(method, with_token, {spec}, res.seconds, res.artifact_bytes, false);
            // Leak: the concept loaded while the prompt asks for a shape the model knows (a circle) or the flat
            // style: how often the concept shows up anyway ("concept" column).
            if (leak) judge(method + ", known shape asked (leak)", with_known, {spec}, 0, 0, !t.is_style);
        }
    }

    std::printf("\n| concept: method | concept fidelity | prompt fidelity | training time | artifact |\n");
    std::printf("|---|---|---|---|---|\n");
    for (const Row& r : rows)
        std::printf("| %s | %.1f%% | %.1f%% | %s | %s |\n", r.label.c_str(), 100 * r.concept, 100 * r.prompt,
                    r.train_seconds > 0 ? (std::to_string(int(r.train_seconds + 0.5)) + " s").c_str() : "-",
                    r.bytes > 0 ? (std::to_string(r.bytes / 1024.0).substr(0, 5) + " KB").c_str() : "-");
    if (!grid.empty() && !grid_images.empty()) {
        // one row of 6 pictures per judged configuration
        const int cell = size + 4, columns = 6, grid_rows = int(grid_images.size()) / columns;
        Image g;
        g.width = columns * cell + 4;
        g.height = grid_rows * cell + 4;
        g.pixels.assign(size_t(g.width) * size_t(g.height) * 3, 255);
        for (size_t i = 0; i < size_t(grid_rows * columns); ++i) {
            const int ox = 4 + int(i % columns) * cell, oy = 4 + int(i / columns) * cell;
            const Image& im = grid_images[i];
            for (int y = 0; y < size; ++y)
                for (int x = 0; x < size; ++x)
                    for (int c = 0; c < 3; ++c)
                        g.pixels[(size_t(oy + y) * size_t(g.width) + size_t(ox + x)) * 3 + size_t(c)] =
                            im.pixels[(size_t(y) * size_t(im.width) + size_t(x)) * 3 + size_t(c)];
        }
        write_png(grid, g);
        std::printf("grid: %s (rows in table order)\n", grid.c_str());
    }
    return 0;
}
