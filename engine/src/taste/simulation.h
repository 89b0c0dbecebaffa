// Simulated people judging procedural-world scenes (internal): the utility on a world::Scene directly, and
// the image bank the simulation renders once.
#pragma once
#include <vector>

#include "atelier/taste.h"
#include "atelier/world.h"

namespace atelier::taste {

double simulated_utility(const SimulatedPerson& person, const world::Scene& scene);

// The person's label for (a, b) with utilities ua, ub: the better one, flipped with probability
// person.label_noise (u_noise is a uniform draw in [0, 1)); a tie when |ua - ub| < 0.05.
Choice simulated_choice(const SimulatedPerson& person, double ua, double ub, double u_noise);

}  // namespace atelier::taste
