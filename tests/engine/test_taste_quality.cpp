// labels: slow
// Simulated people judging rendered procedural-world scenes (the model sees only the pictures): a smaller
// version of tests/bench/bench_taste.cpp's learning curves, with margins below the targets.
// Also checks the simulation itself: deterministic, labels follow the hidden utility.
#include <doctest/doctest.h>

#include "atelier/taste.h"
#include "atelier/world.h"
#include "taste/simulation.h"

using namespace atelier;
using namespace atelier::taste;

TEST_CASE("simulated people: deterministic, archetypes differ, labels follow the utility with the stated noise") {
    const SimulatedPerson a = make_simulated_person(12, 0.1), b = make_simulated_person(12, 0.1);
    CHECK(a.coefficients == b.coefficients);
    CHECK(a.archetype == b.archetype);
    const SimulatedPerson warm = make_simulated_person(3, 0.1, 0);
    world::SceneConstraints c;
    c.background = world::Background::plain;
    c.count = 1;
    c.colour = world::Colour::red;
    const world::Scene red_plain = world::sample_scene(5, world::HeldOut::include, c);
    c.colour = world::Colour::blue;
    c.background = world::Background::stripes;
    c.count = 3;
    const world::Scene blue_striped = world::sample_scene(5, world::HeldOut::include, c);
    CHECK(simulated_utility(warm, red_plain) > simulated_utility(warm, blue_striped) + 1.5);
    CHECK(simulated_utility(warm, world::scene_to_json(red_plain)) == simulated_utility(warm, red_plain));
    int flips = 0;
    for (int i = 0; i < 10000; ++i) flips += simulated_choice(warm, 1.0, 0.0, (i + 0.5) / 10000.0) == Choice::right;
    CHECK(flips == 1000);
    CHECK(simulated_choice(warm, 1.0, 1.01, 0.5) == Choice::tie);
}

TEST_CASE("learning curves of simulated people (smaller than the benchmark, with margins)") {
    SimulationOptions o;
    o.people = 12;
    o.population = 30;
    o.prototypes = 6;
    o.pool_images = 120;
    o.heldout_images = 60;
    o.heldout_pairs = 250;
    o.checkpoints = {5, 20, 50};
    o.threads = 2;
    o.seed = 2;
    const SimulationReport r = run_simulation(o);
    REQUIRE(r.curves.size() == 4);
    auto acc = [&](const std::string& name, int n) {
        for (const LearningCurve& c : r.curves)
            if (c.name == name)
                for (size_t k = 0; k < r.checkpoints.size(); ++k)
                    if (r.checkpoints[k] == n) return c.accuracy[k];
        FAIL("no curve " << name);
        return 0.0;
    };
    for (const LearningCurve& c : r.curves) {
        MESSAGE(c.name << ": " << 100 * c.accuracy[0] << " / " << 100 * c.accuracy[1] << " / " << 100 * c.accuracy[2]
                       << " % at 5 / 20 / 50 judgements");
    }
    // Learning happens: well above chance, and more judgements help.
    CHECK(acc("random", 50) > 0.70);
    CHECK(acc("random", 50) > acc("random", 5) + 0.05);
    CHECK(acc("active", 20) > 0.70);
    // Active pairs are not worse than random ones at the same count (margin for 12 people's noise).
    CHECK(acc("active", 20) > acc("random", 20) - 0.02);
    // Prototypes from another population help the first few judgements.
    CHECK(acc("random+prototypes", 5) > acc("random", 5));
    CHECK(r.mean_refit_ms < 50);
}
