#include "broadcast.h"

#include <algorithm>

#include "kernels.h"

namespace tapegrad {

Shape broadcast_shape(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (std::size_t k = 0; k < out.size(); ++k) {
    std::int64_t x = k + a.size() >= out.size() ? a[k + a.size() - out.size()] : 1;
    std::int64_t y = k + b.size() >= out.size() ? b[k + b.size() - out.size()] : 1;
    if (x != y && x != 1 && y != 1)
      throw ValueError("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[k] = x == 1 ? y : x;
  }
  return out;
}

bool broadcasts_to(const Shape& shape, const Shape& to) {
  if (shape.size() > to.size()) return false;
  const std::size_t lead = to.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && shape[i] != to[lead + i]) return false;
  return true;
}

Array sum_to(const Array& g, const Shape& shape) {
  if (g.shape == shape) return g;
  const std::size_t lead = g.shape.size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < lead; ++i) dims.push_back(static_cast<std::int64_t>(i));
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && g.shape[lead + i] != 1) dims.push_back(static_cast<std::int64_t>(lead + i));
  Array s = reduce(ReduceKind::Sum, g, dims, true);
  return reshape(s, shape);
}

}  // namespace tapegrad
