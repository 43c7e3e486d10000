// NumPy broadcasting, and its reverse.
#pragma once

#include <initializer_list>

#include "array.h"

namespace tapegrad {

// The broadcast of two shapes (or of several), NumPy's rules; when they clash
// a ValueError naming the op and every shape: "+: shapes (2, 3) and (4,) do
// not broadcast".
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);
Shape broadcast_shapes(std::initializer_list<Shape> shapes, const char* op);

// Whether `shape` broadcasts to exactly `to` (so sum_to(g of `to`, shape) is defined).
bool broadcasts_to(const Shape& shape, const Shape& to);

// Note [Broadcast reduction]: sums `g` over the axes broadcasting added or
// stretched, down to `shape`. The ONE place gradients are un-broadcast.
Array sum_to(const Array& g, const Shape& shape);

}  // namespace tapegrad
