// atelier-cli world: render the procedural world (training data, contact sheets) and time it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/world.h"
#include "commands.h"

namespace atelier::cli {

namespace {

using namespace atelier::world;

HeldOut held_out_of(const std::string& text) {
    if (text == "include") return HeldOut::include;
    if (text == "exclude") return HeldOut::exclude;
    if (text == "only") return HeldOut::only;
    throw Error("--held-out: expected include, exclude or only, found '" + text + "'");
}

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

int thread_count(const GlobalOptions& global) {
    if (global.threads > 0) return global.threads;
    return std::max(1u, std::thread::hardware_concurrency());
}

// Runs fn(index) for index in [0, n) on `threads` threads; the first error is rethrown.
template <typename Fn>
void parallel_for(int n, int threads, Fn fn) {
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            try {
                for (int i = t; i < n; i += threads) fn(i);
            } catch (...) {
                errors[size_t(t)] = std::current_exception();
            }
        });
    }
    for (std::thread& th : pool) th.join();
    for (const auto& e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

// ---- contact sheet ----

void fill_rect(Image& img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
    x0 = std::max(x0, 0); y0 = std::max(y0, 0);
    x1 = std::min(x1, img.width); y1 = std::min(y1, img.height);
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) std::copy_n(rgb, 3, &img.pixels[(size_t(y) * img.width + x) * 3]);
}

// Draws one line of text with stb_easy_font (its quads are axis-aligned rectangles on the pixel grid).
void draw_text(Image& img, int x, int y, const std::string& text, const uint8_t rgb[3]) {
    std::vector<char> chars(text.begin(), text.end());
    for (char& c : chars) {
        if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
    }
    chars.push_back('\0');
    std::vector<float> buffer(chars.size() * 300);  // 16-byte vertices; ~270 per character at most
    const int quads = stb_easy_font_print(static_cast<float>(x), static_cast<float>(y), chars.data(), nullptr,
                                          buffer.data(), static_cast<int>(buffer.size() * sizeof(float)));
    for (int q = 0; q < quads; ++q) {
        const float* v = &buffer[size_t(q) * 16];  // 4 vertices of x, y, z, colour
        const float qx0 = std::min(v[0], v[8]), qx1 = std::max(v[0], v[8]);
        const float qy0 = std::min(v[1], v[9]), qy1 = std::max(v[1], v[9]);
        fill_rect(img, int(std::lround(qx0)), int(std::lround(qy0)), int(std::lround(qx1)), int(std::lround(qy1)), rgb);
    }
}

std::vector<std::string> wrap(const std::string& text, int width_px) {
    std::vector<std::string> lines;
    std::string line, word;
    const auto width = [](const std::string& s) {
        std::vector<char> c(s.begin(), s.end());
        c.push_back('\0');
        return stb_easy_font_width(c.data());
    };
    std::istringstream in(text);
    while (in >> word) {
        const std::string candidate = line.empty() ? word : line + " " + word;
        if (!line.empty() && width(candidate) > width_px) {
            lines.push_back(line);
            line = word;
        } else {
            line = candidate;
        }
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

struct SheetOptions {
    uint64_t seed = 1;
    int cols = 8;
    int rows = 6;
    int size = 64;
    int scale = 2;
    std::string held_out = "include";
    std::string out;
    std::string captions_md;
};

void write_sheet(const SheetOptions& o) {
    if (o.cols < 1 || o.rows < 1 || o.scale < 1) throw Error("world sheet: --cols, --rows and --scale must be >= 1");
    const HeldOut held = held_out_of(o.held_out);
    const int image_px = o.size * o.scale;
    const int pad = 8, line_h = 11, text_lines = 5;
    const int cell_w = std::max(image_px, 168) + pad, cell_h = image_px + pad / 2 + text_lines * line_h + pad;
    Image sheet;
    sheet.width = o.cols * cell_w + pad;
    sheet.height = o.rows * cell_h + pad;
    sheet.channels = 3;
    sheet.pixels.assign(size_t(sheet.width) * sheet.height * 3, 250);
    const uint8_t ink[3] = {40, 40, 40}, held_ink[3] = {180, 30, 30};
    std::ostringstream md;
    md << "# Procedural world samples\n\n`docs/screenshots/world-samples.png`: " << o.cols << "x" << o.rows
       << " scenes rendered at " << o.size << "x" << o.size << " (shown " << o.scale << "x, nearest), made with\n"
       << "`atelier-cli world sheet --seed " << o.seed << " --cols " << o.cols << " --rows " << o.rows << " --size "
       << o.size << " --scale " << o.scale << " --held-out " << o.held_out << "`.\n"
       << "Captions in red (and *(held out)* here) use a held-out shape or style.\n\n"
       << "| row | col | caption |\n|---|---|---|\n";
    for (int r = 0; r < o.rows; ++r) {
        for (int c = 0; c < o.cols; ++c) {
            const uint64_t index = uint64_t(r) * o.cols + c;
            const Scene scene = sample_scene(derive_seed(o.seed, index), held);
            const Image img = render_scene(scene, o.size);
            const int x0 = pad + c * cell_w + (cell_w - pad - image_px) / 2, y0 = pad + r * cell_h;
            for (int y = 0; y < image_px; ++y)
                for (int x = 0; x < image_px; ++x)
                    std::copy_n(&img.pixels[(size_t(y / o.scale) * o.size + x / o.scale) * 3], 3,
                                &sheet.pixels[(size_t(y0 + y) * sheet.width + x0 + x) * 3]);
            const std::string text = caption(scene);
            const bool is_held = uses_held_out(scene);
            std::vector<std::string> lines = wrap(text, cell_w - pad);
            if (int(lines.size()) > text_lines) {
                lines.resize(size_t(text_lines));
                lines.back() += "...";
            }
            for (size_t l = 0; l < lines.size(); ++l) {
                draw_text(sheet, pad + c * cell_w, y0 + image_px + pad / 2 + int(l) * line_h, lines[l],
                          is_held ? held_ink : ink);
            }
            md << "| " << r + 1 << " | " << c + 1 << " | " << text << (is_held ? " *(held out)*" : "") << " |\n";
        }
    }
    write_png(o.out, sheet, {{"caption", "procedural world contact sheet, seed " + std::to_string(o.seed)}});
    std::cout << "wrote " << o.out << " (" << sheet.width << "x" << sheet.height << ")\n";
    if (!o.captions_md.empty()) {
        std::ofstream f(o.captions_md);
        if (!f) throw Error("world sheet: cannot write " + o.captions_md);
        f << md.str();
        std::cout << "wrote " << o.captions_md << "\n";
    }
}

// ---- benchmark ----

void bench(int size, int count) {
    using clock = std::chrono::steady_clock;
    std::vector<uint8_t> buffer(size_t(size) * size * 3);
    std::cout << "procedural world, " << size << "x" << size << ", one thread, " << count << " scenes per row\n";
    // CPU time as well as wall time: on a busy machine the wall clock also counts other processes' turns.
    std::cout << std::left << std::setw(28) << "what" << std::right << std::setw(12) << "images/s" << std::setw(12)
              << "us/image" << std::setw(16) << "cpu images/s" << std::setw(14) << "cpu us/image" << "\n";
    const auto row = [&](const std::string& what, auto fn) {
        const auto t0 = clock::now();
        const std::clock_t c0 = std::clock();
        uint64_t checksum = 0;
        for (int i = 0; i < count; ++i) checksum += fn(i);
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
        std::cout << std::left << std::setw(28) << what << std::right << std::fixed << std::setprecision(0)
                  << std::setw(12) << count / s << std::setw(12) << std::setprecision(1) << 1e6 * s / count
                  << std::setprecision(0) << std::setw(16) << count / cpu << std::setprecision(1) << std::setw(14)
                  << 1e6 * cpu / count << (checksum == 42 ? " " : "") << "\n";
    };
    row("sample + caption + render", [&](int i) {
        const Scene s = sample_scene(derive_seed(7, uint64_t(i)), HeldOut::include);
        const std::string text = caption(s);
        render_scene_into(s, size, buffer.data());
        return uint64_t(buffer[0]) + text.size();
    });
    for (int st = 0; st < kStyleCount; ++st) {
        SceneAttributes c;
        c.style = static_cast<Style>(st);
        row("style " + std::string(name(*c.style)), [&](int i) {
            const Scene s = sample_scene(derive_seed(7, uint64_t(i)), HeldOut::include, c);
            render_scene_into(s, size, buffer.data());
            return uint64_t(buffer[0]);
        });
    }
    row("sample + caption only", [&](int i) {
        return uint64_t(caption(sample_scene(derive_seed(7, uint64_t(i)), HeldOut::include)).size());
    });
}

}  // namespace

void add_world_commands(CLI::App& app, GlobalOptions& global) {
    CLI::App* world = app.add_subcommand("world", "the procedural world: captioned scenes of coloured shapes");
    world->require_subcommand(1);

    struct RenderOptions {
        uint64_t seed = 1;
        int count = 16;
        std::string out;
        std::string held_out = "include";
        int size = 64;
    };
    auto ro = std::make_shared<RenderOptions>();
    CLI::App* render = world->add_subcommand(
        "render", "write N scenes as PNGs (caption in the 'caption' text chunk) and captions.jsonl with attributes");
    render->add_option("--seed", ro->seed, "data set seed; scene i uses world::derive_seed(seed, i)");
    render->add_option("--count", ro->count, "number of scenes")->check(CLI::Range(1, 100000000));
    render->add_option("--out", ro->out, "output directory")->required();
    render->add_option("--held-out", ro->held_out, "include | exclude (training set) | only (held-out set)");
    render->add_option("--size", ro->size, "image size in pixels")->check(CLI::Range(8, 4096));
    render->callback([ro, &global] {
        const HeldOut held = held_out_of(ro->held_out);
        std::filesystem::create_directories(ro->out);
        std::vector<std::string> lines(static_cast<size_t>(ro->count));
        parallel_for(ro->count, thread_count(global), [&](int i) {
            const uint64_t seed = derive_seed(ro->seed, uint64_t(i));
            const Scene scene = sample_scene(seed, held);
            const std::string text = caption(scene), json = scene_to_json(scene);
            char file[32];
            std::snprintf(file, sizeof file, "%08d.png", i);
            write_png((std::filesystem::path(ro->out) / file).string(), render_scene(scene, ro->size),
                      {{"caption", text}, {"scene", json}});
            lines[size_t(i)] = "{\"file\":" + json_string(file) + ",\"index\":" + std::to_string(i) +
                               ",\"seed\":" + std::to_string(seed) + ",\"caption\":" + json_string(text) + "," +
                               json.substr(1);
        });
        const std::string jsonl = (std::filesystem::path(ro->out) / "captions.jsonl").string();
        std::ofstream f(jsonl);
        for (const std::string& line : lines) f << line << "\n";
        if (!f) throw Error("world render: cannot write " + jsonl);
        std::cout << "wrote " << ro->count << " scenes (" << ro->size << "x" << ro->size << ", held-out "
                  << ro->held_out << ") and captions.jsonl to " << ro->out << "\n";
    });

    auto so = std::make_shared<SheetOptions>();
    CLI::App* sheet = world->add_subcommand("sheet", "a contact sheet: a grid of scenes with their captions drawn");
    sheet->add_option("--seed", so->seed, "seed (scene i uses world::derive_seed(seed, i))");
    sheet->add_option("--cols", so->cols, "columns");
    sheet->add_option("--rows", so->rows, "rows");
    sheet->add_option("--size", so->size, "render size")->check(CLI::Range(8, 1024));
    sheet->add_option("--scale", so->scale, "nearest-neighbour enlargement for display");
    sheet->add_option("--held-out", so->held_out, "include | exclude | only");
    sheet->add_option("--out", so->out, "PNG to write")->required();
    sheet->add_option("--captions-md", so->captions_md, "also write the captions in grid order as Markdown");
    sheet->callback([so] { write_sheet(*so); });

    auto bo = std::make_shared<std::pair<int, int>>(64, 20000);
    CLI::App* bench_cmd = world->add_subcommand("bench", "images per second of the renderer, one thread");
    bench_cmd->add_option("--size", bo->first, "image size")->check(CLI::Range(8, 4096));
    bench_cmd->add_option("--count", bo->second, "scenes per measurement")->check(CLI::Range(1, 10000000));
    bench_cmd->callback([bo] { bench(bo->first, bo->second); });
}

}  // namespace atelier::cli
