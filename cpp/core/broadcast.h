// NumPy broadcasting, and its reverse.
#pragma once

#include "array.h"

namespace tapegrad {

// The broadcast of two shapes; ValueError naming both when they clash.
Shape broadcast_shape(const Shape& a, const Shape& b);

// Whether `shape` broadcasts to exactly `to` (so sum_to(g of `to`, shape) is defined).
bool broadcasts_to(const Shape& shape, const Shape& to);

// Note [Broadcast reduction]: sums `g` over the axes broadcasting added or
// stretched, down to `shape`. The ONE place gradients are un-broadcast.
Array sum_to(const Array& g, const Shape& shape);

}  // namespace tapegrad
