// atelier/world.h - the procedural world: small captioned scenes of coloured shapes, deterministic by seed.
//
// The embedded default model is trained on these scenes, and the concept and taste work uses them as
// ground truth (held-out shapes and style, simulated people whose taste depends on scene attributes).
//
//     using namespace atelier::world;
//     Scene scene = sample_scene(seed, HeldOut::exclude);     // attributes + layout, from one seed
//     atelier::Image image = render_scene(scene, 64);         // 8-bit RGB, anti-aliased
//     std::string text = caption(scene);                      // "two small red stars on the left, on ..."
//     std::optional<Scene> back = parse_caption(text);        // same_attributes(*back, scene) == true
//
// Thread safety: every function is pure (no global state); call them from any number of threads.
// Determinism: the random numbers come from our own xoshiro256** generator and the attribute draws use
// only integer arithmetic, so a seed gives the same scene on every platform and standard library. The
// rendered bytes are identical for one build; another compiler's libm may move a few edge pixels by 1.
// Enum values are 0-based and contiguous so that they double as class indices for attribute classifiers.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atelier/image.h"

namespace atelier::world {

enum class Shape : uint8_t {
    circle, square, triangle, star, heart, ring, cross, diamond, hexagon, crescent, arrow, flower,
};
enum class Colour : uint8_t {
    red, orange, yellow, green, cyan, blue, purple, pink, white, black, brown, grey,
};
enum class Background : uint8_t {
    plain, vertical_gradient, horizontal_gradient, stripes, dots, checkered,
};
enum class Size : uint8_t { small, medium, large };
enum class Position : uint8_t { left, right, top, bottom, centre };
enum class Style : uint8_t { flat, outlined, soft_shadow, watercolour, neon, pixel_art };
// How a group of 2 or 3 objects is arranged around the group's centre.
enum class Layout : uint8_t { row, column, triangle };

constexpr int kShapeCount = 12;
constexpr int kColourCount = 12;
constexpr int kBackgroundCount = 6;
constexpr int kSizeCount = 3;
constexpr int kPositionCount = 5;
constexpr int kStyleCount = 6;
constexpr int kMaxCount = 3;  // objects per scene: 1..3

// The held-out part of the world: never in the base model's training set (HeldOut::exclude), so that
// enrolling them later as concepts (issue 7) is a real test of learning something new.
constexpr std::array<Shape, 2> kHeldOutShapes = {Shape::heart, Shape::crescent};
constexpr std::array<Style, 1> kHeldOutStyles = {Style::pixel_art};

enum class HeldOut : uint8_t {
    include,  // every attribute value may appear
    exclude,  // never a held-out shape or style (the base model's training set)
    only,     // always at least one held-out shape or style (a third each: shape, style, both)
};

// One scene: its categorical attributes (the ground truth a caption states) and the continuous layout
// that sample_scene draws from them. Coordinates are canvas units (0..1, origin at the top left), so a
// scene renders the same at any size.
struct Scene {
    Shape shape = Shape::circle;
    Colour colour = Colour::red;
    Background background = Background::plain;
    Colour background_colour = Colour::white;
    Size size = Size::medium;
    Position position = Position::centre;
    int count = 1;  // 1..3 objects, all of the same shape, colour and size
    Style style = Style::flat;

    float rotation = 0;  // radians, every object; small (|r| <= 0.25) so a square never becomes a diamond
    float x = 0.5f;      // centre of the group (of the object when count == 1)
    float y = 0.5f;
    float radius = 0.14f;   // circumradius of each object: the shape lies within it
    float spacing = 0.05f;  // gap between neighbouring objects' circumcircles
    Layout layout = Layout::row;
    uint64_t noise_seed = 0;  // watercolour grain and edge wobble
    uint32_t phrasing = 0;    // which wording caption() uses (deterministic variation)
};

// A rendered training example.
struct RenderedScene {
    Scene scene;
    std::string caption;
    atelier::Image image;
};

// Small fast generator (xoshiro256**, seeded through splitmix64). Same sequence everywhere.
class Rng {
public:
    explicit Rng(uint64_t seed);
    uint64_t next_u64();
    int below(int n);                    // uniform integer in [0, n), n > 0
    float uniform();                     // [0, 1), 24 random bits
    float uniform(float lo, float hi);   // [lo, hi)
private:
    uint64_t s_[4];
};
// The seed of the index-th scene of a data set with seed `base`; lets loaders render in any order.
uint64_t derive_seed(uint64_t base, uint64_t index);

// Some of a scene's attributes, the others unknown or free: what sample_scene fixes while it draws the rest
// (e.g. five scenes of hearts for enrolling a concept), and what a caption says.
struct SceneAttributes {
    std::optional<Shape> shape;
    std::optional<Colour> colour;
    std::optional<Background> background;
    std::optional<Colour> background_colour;
    std::optional<Size> size;
    std::optional<Position> position;
    std::optional<int> count;
    std::optional<Style> style;
};

// Draws every attribute, then the layout. The background colour always contrasts with the object's
// colour (pairs like grey on white are never drawn). Throws atelier::Error when the constraints contradict
// `held_out` (e.g. shape = heart with HeldOut::exclude) or each other (same object and background colour).
Scene sample_scene(Rng& rng, HeldOut held_out = HeldOut::include, const SceneAttributes& constraints = {});
Scene sample_scene(uint64_t seed, HeldOut held_out = HeldOut::include, const SceneAttributes& constraints = {});
// Fills rotation, x, y, radius, spacing, layout and noise_seed from the attributes: randomly, as
// sample_scene does, or at the middle of their ranges (what parse_caption returns, for rendering a caption).
void draw_layout(Scene& scene, Rng& rng);
void canonical_layout(Scene& scene);
// The centre of each of the scene's count objects, in canvas units.
std::vector<std::pair<float, float>> object_centres(const Scene& scene);
// Whether a scene's attributes could have come from sample_scene: count 1..3, contrasting colours.
bool colours_contrast(Colour object, Colour background);
bool is_held_out(Shape shape);
bool is_held_out(Style style);
bool uses_held_out(const Scene& scene);
// Equal categorical attributes (shape, colour, background, background colour, size, position, count, style).
bool same_attributes(const Scene& a, const Scene& b);
// The categorical attributes as concatenated one-hot groups (shape, colour, background, background colour,
// size, position, count, style: 59 values), e.g. the hidden features of simulated people's tastes, and the
// name of each entry ("shape=star", "count=2").
std::vector<float> attribute_one_hot(const Scene& scene);
std::vector<std::string> attribute_one_hot_names();

// Renders count objects on the background, in the scene's style, as an 8-bit RGB image of size x size
// (size >= 8). Anti-aliased by analytic signed-distance coverage. render_scene_into writes size*size*3 bytes.
atelier::Image render_scene(const Scene& scene, int size = 64);
void render_scene_into(const Scene& scene, int size, uint8_t* rgb);
RenderedScene render_sample(uint64_t seed, HeldOut held_out = HeldOut::include, int size = 64);

// Motions for short clips (the video work): render_scene_at(scene, size, t, motion) for t in [0, 1] is the
// scene moved/grown/turned/recoloured by t; t = 0.5 is the scene itself except for bounce (on the ground
// at t = 0, 0.5, 1) and colour_change (the scene's colour at t = 0, the contrasting target at t = 1).
enum class Motion : uint8_t { left, right, up, down, grow, shrink, rotate, colour_change, bounce };
constexpr int kMotionCount = 9;
atelier::Image render_scene_at(const Scene& scene, int size, float t, Motion motion);
// The colour a colour_change motion ends in (contrasts with the background, differs from the object's).
Colour colour_change_target(const Scene& scene);

// Captions.
enum class CaptionStyle : uint8_t {
    full,       // natural wording, varied by scene.phrasing: "two small red stars on the left, on a ..."
    canonical,  // one fixed wording stating every attribute: "a medium red star in the centre, on a plain
                // white background, flat" (for evaluation prompts)
    short_form, // colour and shape, with the count when > 1: "red star", "two red stars"
};
// Replaces the shape noun or the style phrase with a concept token ("<my-shape>", "<my-style>").
struct CaptionOptions {
    CaptionStyle style = CaptionStyle::full;
    std::string shape_word;  // used verbatim for one object, "<tok> shapes" is NOT formed: "two red <tok>"
    std::string style_word;  // the style phrase becomes ", in <tok> style"
};
std::string caption(const Scene& scene);  // CaptionStyle::full
std::string caption_for(const Scene& scene, CaptionStyle style);
std::string caption_for(const Scene& scene, const CaptionOptions& options);
// " moving to the left", " growing", ... appended to a caption for a clip.
std::string motion_phrase(Motion motion);

// Attributes read back from a caption: every caption caption_for(full|canonical) writes parses back to
// its scene's attributes. Lenient: reads the attributes it finds (short forms, concept prompts).
SceneAttributes parse_caption_attributes(std::string_view text);
// Strict: a full scene or nothing. Needs shape, colour, background colour and position; a missing size is
// medium, a missing style flat, a missing background kind plain. Contradictions (two positions, a plural
// noun without a number) give nullopt. The layout is canonical_layout's.
std::optional<Scene> parse_caption(std::string_view text);

// Names ("soft shadow", "pixel art", "vertical gradient") and their inverses (also accept "_" for " ",
// "center", "gray", "watercolor"; nullopt when unknown).
std::string_view name(Shape v);
std::string_view name(Colour v);
std::string_view name(Background v);
std::string_view name(Size v);
std::string_view name(Position v);
std::string_view name(Style v);
std::string_view name(Layout v);
std::string_view name(Motion v);
std::string_view plural(Shape v);  // "crosses", "stars"
std::optional<Shape> parse_shape(std::string_view text);
std::optional<Colour> parse_colour(std::string_view text);
std::optional<Background> parse_background(std::string_view text);
std::optional<Size> parse_size(std::string_view text);
std::optional<Position> parse_position(std::string_view text);
std::optional<Style> parse_style(std::string_view text);
std::optional<Motion> parse_motion(std::string_view text);
std::vector<std::string> all_shape_names();
std::vector<std::string> all_colour_names();
std::vector<std::string> all_background_names();
std::vector<std::string> all_size_names();
std::vector<std::string> all_position_names();
std::vector<std::string> all_style_names();
std::vector<std::string> all_motion_names();
// The sRGB value a colour renders as (flat style).
std::array<uint8_t, 3> colour_rgb(Colour colour);

// The scene as one JSON object (attributes by name, layout numbers, held_out flag); and back.
std::string scene_to_json(const Scene& scene);
Scene scene_from_json(const std::string& json);  // throws atelier::Error naming the bad field

}  // namespace atelier::world
