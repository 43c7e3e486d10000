// The strided loop shared by the kernels: contiguous data takes plain loops
// the compiler vectorises; everything else walks the outer dimensions like an
// odometer and hands each innermost run to a loop body.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "storage.h"

namespace tapegrad {

// Calls f(offsets of a, b, out) over the outer dimensions of `shape`, and for
// each, the inner extent and the inner strides. `st` holds one stride vector
// per operand, all of length shape.size().
template <std::size_t N, class F>
inline void odometer(const Shape& shape, const std::array<const Shape*, N>& st, F&& inner_fn) {
  const std::int64_t nd = static_cast<std::int64_t>(shape.size());
  std::int64_t total = 1;
  for (auto v : shape) total *= v;
  if (total == 0) return;
  std::array<std::int64_t, N> off{};
  if (nd == 0) { std::array<std::int64_t, N> z{}; inner_fn(off, std::int64_t{1}, z); return; }
  const std::int64_t inner = shape[nd - 1];
  std::array<std::int64_t, N> is{};
  for (std::size_t k = 0; k < N; ++k) is[k] = (*st[k])[nd - 1];
  std::vector<std::int64_t> idx(nd, 0);
  for (std::int64_t done = 0; done < total; done += inner) {
    inner_fn(off, inner, is);
    for (std::int64_t d = nd - 2; d >= 0; --d) {
      for (std::size_t k = 0; k < N; ++k) off[k] += (*st[k])[d];
      if (++idx[d] < shape[d]) break;
      for (std::size_t k = 0; k < N; ++k) off[k] -= (*st[k])[d] * shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace tapegrad
