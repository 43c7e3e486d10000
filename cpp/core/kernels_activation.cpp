// gelu, gelu(approximate="tanh") and silu, forward and fused backward, over
// vmath's vector erf, exp, tanh and sigmoid.
//
// Note [Vector activations]
// rules_tensor.h writes these activations once, as scalar formulas; the
// generic kernels loop over them calling the C library's erf, tanh or exp one
// element at a time (about 8 ns an element for float32 gelu). Here the same
// formulas run in passes over contiguous arrays: a polynomial pass the
// compiler vectorises, one vmath pass for the transcendental part (SIMD-wide,
// chosen per CPU), and a combining pass. The results are those of the rules
// within vmath's ulp bound (Note [Numerics]): the scalar rules stay the
// reference for the recorded backward and for the reference backend; strided
// operands are copied to contiguous ones first (one pass, cheap beside the
// transcendental calls it saves).
#include <cstddef>

#include "kernels.h"
#include "parallel.h"
#include "rules_tensor.h"
#include "vmath.h"

namespace tapegrad {

namespace {

using rules::kGeluBeta;
using rules::kGeluKappa;
using rules::kInvSqrt2Pi;
using rules::kSqrtHalf;

// y = gelu(x) (GeluTanh: the tanh form) or silu(x), y not overlapping x.
template <class T>
void forward(Op op, const T* x, T* y, std::size_t n) {
  if (op == Op::Silu) {
    vmath::sigmoid(x, y, n);
    for (std::size_t i = 0; i < n; ++i) y[i] *= x[i];
    return;
  }
  // the transcendental part of a block at a time, in a buffer that stays in cache
  constexpr std::size_t kBlock = 1024;
  T inner[kBlock];
  for (std::size_t at = 0; at < n; at += kBlock) {
    const std::size_t m = n - at < kBlock ? n - at : kBlock;
    const T* xs = x + at;
    if (op == Op::Gelu) {
      for (std::size_t i = 0; i < m; ++i) inner[i] = xs[i] * T(kSqrtHalf);
      vmath::erf(inner, inner, m);
    } else {
      for (std::size_t i = 0; i < m; ++i) inner[i] = T(kGeluBeta) * (xs[i] + T(kGeluKappa) * (xs[i] * xs[i] * xs[i]));
      vmath::tanh(inner, inner, m);
    }
    T* ys = y + at;
    for (std::size_t i = 0; i < m; ++i) ys[i] = xs[i] * T(0.5) * (T(1) + inner[i]);
  }
}

// out = g * d(x), the rules' d: Phi(x) + x phi(x); (1 + t)/2 + x/2 (1 - t^2) u'(x);
// s (1 + x (1 - s)).
template <class T>
void backward(Op op, const T* g, const T* x, T* out, std::size_t n) {
  constexpr std::size_t kBlock = 1024;
  T p[kBlock], q[kBlock];
  for (std::size_t at = 0; at < n; at += kBlock) {
    const std::size_t m = n - at < kBlock ? n - at : kBlock;
    const T* xs = x + at;
    const T* gs = g + at;
    T* os = out + at;
    if (op == Op::Gelu) {
      for (std::size_t i = 0; i < m; ++i) { p[i] = xs[i] * T(kSqrtHalf); q[i] = T(-0.5) * (xs[i] * xs[i]); }
      vmath::erf(p, p, m);
      vmath::exp(q, q, m);
      for (std::size_t i = 0; i < m; ++i) os[i] = gs[i] * (T(0.5) * (T(1) + p[i]) + xs[i] * (q[i] * T(kInvSqrt2Pi)));
    } else if (op == Op::GeluTanh) {
      for (std::size_t i = 0; i < m; ++i) p[i] = T(kGeluBeta) * (xs[i] + T(kGeluKappa) * (xs[i] * xs[i] * xs[i]));
      vmath::tanh(p, p, m);
      for (std::size_t i = 0; i < m; ++i) {
        const T a = xs[i], t = p[i];
        const T du = T(kGeluBeta) * (T(1) + T(3.0 * kGeluKappa) * (a * a));
        os[i] = gs[i] * (T(0.5) * (T(1) + t) + T(0.5) * a * (T(1) - t * t) * du);
      }
    } else {
      vmath::sigmoid(xs, p, m);
      for (std::size_t i = 0; i < m; ++i) os[i] = gs[i] * (p[i] * (T(1) + xs[i] * (T(1) - p[i])));
    }
  }
}

}  // namespace

bool vector_op(Op op) { return op == Op::Gelu || op == Op::GeluTanh || op == Op::Silu; }

bool vector_activation(Op op, const Array& a_in, Array& out) {
  if (!vector_op(op) || a_in.dtype == DType::I64) return false;
  const Array a = contiguous(a_in);  // a strided operand costs one copy
  out = empty(a.shape, a.dtype);
  const auto n = static_cast<std::size_t>(a.numel());
  by_float_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    parallel_for(static_cast<std::int64_t>(n), kParallelGrain, [&](std::int64_t i, std::int64_t j) {
      forward(op, x + i, y + i, static_cast<std::size_t>(j - i));
    });
  });
  return true;
}

bool vector_activation_grad(Op op, const Array& g_in, const Array& s_in, Array& out) {
  if (!vector_op(op) || g_in.dtype != s_in.dtype || g_in.dtype == DType::I64 || g_in.shape != s_in.shape) return false;
  // a strided or broadcast g (sum's backward hands on one number expanded)
  // costs one copy, far less than the scalar loop's transcendental calls
  const Array g = contiguous(g_in), s = contiguous(s_in);
  out = empty(s.shape, s.dtype);
  const auto n = static_cast<std::size_t>(s.numel());
  by_float_dtype(s.dtype, [&](auto t) {
    using T = decltype(t);
    const T *pg = g.data<T>(), *ps = s.data<T>();
    T* po = out.data<T>();
    parallel_for(static_cast<std::int64_t>(n), kParallelGrain, [&](std::int64_t i, std::int64_t j) {
      backward(op, pg + i, ps + i, po + i, static_cast<std::size_t>(j - i));
    });
  });
  return true;
}

}  // namespace tapegrad
