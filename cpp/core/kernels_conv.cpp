// Convolution's column matrix (im2col, col2im) and pooling, NCHW.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels_nn.h"

namespace tapegrad {

namespace {

// The outputs o in [lo, hi) whose input o * stride + off - pad lies in [0, in).
void valid_range(std::int64_t off, std::int64_t pad, std::int64_t stride, std::int64_t in, std::int64_t out,
                 std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t first = pad - off;  // o * stride >= first
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const std::int64_t last = in - 1 + pad - off;  // o * stride <= last
  hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  lo = std::min(lo, hi);
}

// f(column row (c, i, j) as a pointer offset base, n, oh, h, [ow_lo, ow_hi)) for
// every (c, i, j, n, oh) whose input row h is inside the image; `skip(...)` for the others.
template <class Row, class Skip>
void each_column_run(const ConvGeom& g, Row row, Skip skip) {
  const std::int64_t P = g.OH * g.OW, NP = g.N * P;
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t i = 0; i < g.KH; ++i)
      for (std::int64_t j = 0; j < g.KW; ++j) {
        const std::int64_t base = ((c * g.KH + i) * g.KW + j) * NP;
        std::int64_t lo, hi;
        valid_range(j, g.PW, g.SW, g.W, g.OW, lo, hi);
        for (std::int64_t n = 0; n < g.N; ++n)
          for (std::int64_t oh = 0; oh < g.OH; ++oh) {
            const std::int64_t at = base + n * P + oh * g.OW, h = oh * g.SH + i - g.PH;
            if (h < 0 || h >= g.H) skip(at);
            else row(at, ((n * g.C + c) * g.H + h) * g.W + j - g.PW, lo, hi);
          }
      }
}

}  // namespace

bool conv_output_size(ConvGeom& g) {
  const std::int64_t h = g.H + 2 * g.PH, w = g.W + 2 * g.PW;
  if (g.KH < 1 || g.KW < 1 || h < g.KH || w < g.KW) return false;
  g.OH = (h - g.KH) / g.SH + 1;
  g.OW = (w - g.KW) / g.SW + 1;
  return true;
}

// ---- im2col, col2im ---------------------------------------------------------------------

Array im2col(const Array& x0, const ConvGeom& g) {
  Array x = contiguous(x0);
  Array col = empty(Shape{g.rows(), g.cols()}, x.dtype);
  by_float_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.data<T>();
    T* cp = col.data<T>();
    const std::int64_t OW = g.OW, SW = g.SW;
    each_column_run(g, [&](std::int64_t at, std::int64_t src, std::int64_t lo, std::int64_t hi) {
      T* d = cp + at;  // xp[src + ow * SW] is the input of output column ow
      std::fill(d, d + lo, T(0));
      if (SW == 1) std::copy(xp + src + lo, xp + src + hi, d + lo);
      else for (std::int64_t ow = lo; ow < hi; ++ow) d[ow] = xp[src + ow * SW];
      std::fill(d + hi, d + OW, T(0));
    }, [&](std::int64_t at) { std::fill(cp + at, cp + at + OW, T(0)); });
  });
  return col;
}

Array col2im(const Array& col0, const ConvGeom& g, DType dtype) {
  Array col = contiguous(astype(col0, dtype));
  Array x = zeros(Shape{g.N, g.C, g.H, g.W}, dtype);
  by_float_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* xp = x.data<T>();
    const T* cp = col.data<T>();
    const std::int64_t SW = g.SW;
    each_column_run(g, [&](std::int64_t at, std::int64_t dst, std::int64_t lo, std::int64_t hi) {
      const T* s = cp + at;
      for (std::int64_t ow = lo; ow < hi; ++ow) xp[dst + ow * SW] += s[ow];
    }, [](std::int64_t) {});
  });
  return x;
}

std::vector<std::int64_t> im2col_positions(const ConvGeom& g) {
  const std::int64_t pad = g.N * g.C * g.H * g.W;  // the zero appended after x
  std::vector<std::int64_t> pos(static_cast<std::size_t>(g.rows() * g.cols()), pad);
  each_column_run(g, [&](std::int64_t at, std::int64_t src, std::int64_t lo, std::int64_t hi) {
    for (std::int64_t ow = lo; ow < hi; ++ow) pos[at + ow] = src + ow * g.SW;
  }, [](std::int64_t) {});
  return pos;
}

// ---- pooling ------------------------------------------------------------------------------

Array max_pool(const Array& x0, const ConvGeom& g, std::vector<std::int64_t>& where) {
  Array x = contiguous(x0);
  Array out = empty(Shape{g.N, g.C, g.OH, g.OW}, x.dtype);
  where.resize(static_cast<std::size_t>(out.numel()));
  by_float_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t plane = g.H * g.W;
    std::int64_t k = 0;
    for (std::int64_t nc = 0; nc < g.N * g.C; ++nc) {
      const T* xc = x.data<T>() + nc * plane;
      for (std::int64_t oh = 0; oh < g.OH; ++oh)
        for (std::int64_t ow = 0; ow < g.OW; ++ow, ++k) {
          std::int64_t arg = oh * g.SH * g.W + ow * g.SW;
          T best = -std::numeric_limits<T>::infinity();
          for (std::int64_t i = 0; i < g.KH; ++i)
            for (std::int64_t j = 0; j < g.KW; ++j) {
              const std::int64_t p = (oh * g.SH + i) * g.W + ow * g.SW + j;
              const T v = xc[p];
              if (v > best || v != v) { best = v; arg = p; }
            }
          out.data<T>()[k] = best;
          where[k] = nc * plane + arg;
        }
    }
  });
  return out;
}

Array avg_pool(const Array& x0, const ConvGeom& g) {
  Array x = contiguous(x0);
  Array out = empty(Shape{g.N, g.C, g.OH, g.OW}, x.dtype);
  by_float_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T inv = static_cast<T>(1.0 / static_cast<double>(g.KH * g.KW));
    const std::int64_t plane = g.H * g.W;
    std::int64_t k = 0;
    for (std::int64_t nc = 0; nc < g.N * g.C; ++nc) {
      const T* xc = x.data<T>() + nc * plane;
      for (std::int64_t oh = 0; oh < g.OH; ++oh)
        for (std::int64_t ow = 0; ow < g.OW; ++ow, ++k) {
          double s = 0;
          for (std::int64_t i = 0; i < g.KH; ++i) {
            const T* r = xc + (oh * g.SH + i) * g.W + ow * g.SW;
            for (std::int64_t j = 0; j < g.KW; ++j) s += static_cast<double>(r[j]);
          }
          out.data<T>()[k] = static_cast<T>(s) * inv;
        }
    }
  });
  return out;
}

Array avg_pool_backward(const Array& g0, const ConvGeom& g, DType dtype) {
  Array gr = contiguous(astype(g0, dtype));
  Array dx = zeros(Shape{g.N, g.C, g.H, g.W}, dtype);
  by_float_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    const T inv = static_cast<T>(1.0 / static_cast<double>(g.KH * g.KW));
    const std::int64_t plane = g.H * g.W;
    std::int64_t k = 0;
    for (std::int64_t nc = 0; nc < g.N * g.C; ++nc) {
      T* dc = dx.data<T>() + nc * plane;
      for (std::int64_t oh = 0; oh < g.OH; ++oh)
        for (std::int64_t ow = 0; ow < g.OW; ++ow, ++k) {
          const T share = gr.data<T>()[k] * inv;  // g * d(mean)/dx
          for (std::int64_t i = 0; i < g.KH; ++i) {
            T* r = dc + (oh * g.SH + i) * g.W + ow * g.SW;
            for (std::int64_t j = 0; j < g.KW; ++j) r[j] += share;
          }
        }
    }
  });
  return dx;
}

std::vector<std::int64_t> window_positions(const ConvGeom& g) {
  std::vector<std::int64_t> pos;
  pos.reserve(static_cast<std::size_t>(g.N * g.C * g.OH * g.OW * g.KH * g.KW));
  for (std::int64_t nc = 0; nc < g.N * g.C; ++nc)
    for (std::int64_t oh = 0; oh < g.OH; ++oh)
      for (std::int64_t ow = 0; ow < g.OW; ++ow)
        for (std::int64_t i = 0; i < g.KH; ++i)
          for (std::int64_t j = 0; j < g.KW; ++j)
            pos.push_back(nc * g.H * g.W + (oh * g.SH + i) * g.W + ow * g.SW + j);
  return pos;
}

}  // namespace tapegrad
