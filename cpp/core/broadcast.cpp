#include "broadcast.h"

#include <algorithm>
#include <string>

#include "kernels.h"

namespace tapegrad {

namespace {

// NumPy's broadcast of two shapes, or false if they clash.
bool broadcast_into(const Shape& a, const Shape& b, Shape& out) {
  out.assign(std::max(a.size(), b.size()), 1);
  for (std::size_t k = 0; k < out.size(); ++k) {
    std::int64_t x = k + a.size() >= out.size() ? a[k + a.size() - out.size()] : 1;
    std::int64_t y = k + b.size() >= out.size() ? b[k + b.size() - out.size()] : 1;
    if (x != y && x != 1 && y != 1) return false;
    out[k] = x == 1 ? y : x;
  }
  return true;
}

}  // namespace

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) { return broadcast_shapes({a, b}, op); }

Shape broadcast_shapes(std::initializer_list<Shape> shapes, const char* op) {
  Shape out, next;
  for (const Shape& s : shapes) {
    if (broadcast_into(out, s, next)) {
      out = next;
      continue;
    }
    std::string listed;  // every operand's shape, as the reference's message lists them
    for (const Shape& t : shapes) listed += (listed.empty() ? "" : " and ") + shape_str(t);
    throw ValueError((op[0] ? std::string(op) + ": " : std::string()) + "shapes " + listed + " do not broadcast");
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
