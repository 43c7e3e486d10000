// int64 kernels (Note [Dtypes]): the integer arithmetic that keeps int64
// (+ - * neg abs relu and the comparisons), and argmax/argmin. Every other
// elementwise op computes in float32 on the converted values, as PyTorch's
// division and functions do. Integer overflow wraps around (two's
// complement), as in NumPy and PyTorch: the arithmetic runs on uint64, where
// C++ defines it.
#include <cstdint>
#include <limits>

#include "broadcast.h"
#include "kernels.h"

namespace tapegrad {

namespace {

using I = std::int64_t;
using U = std::uint64_t;

I wrap(U v) { return static_cast<I>(v); }  // modulo 2**64 (defined since C++20, and by every compiler before)

template <class F>
Array map_int1(const Array& a, F f) {
  Array src = contiguous(a);
  Array out = empty(a.shape, DType::I64);
  const I* p = src.data<I>();
  I* o = out.data<I>();
  const std::int64_t n = out.numel();
  for (std::int64_t i = 0; i < n; ++i) o[i] = f(p[i]);
  return out;
}

template <class F>
Array map_int2(const Array& a, const Array& b, const char* op, F f) {
  const Shape s = broadcast_shape(a.shape, b.shape, op);
  Array x = contiguous(expand(a, s)), y = contiguous(expand(b, s));
  Array out = empty(s, DType::I64);
  const I *px = x.data<I>(), *py = y.data<I>();
  I* o = out.data<I>();
  const std::int64_t n = out.numel();
  for (std::int64_t i = 0; i < n; ++i) o[i] = f(px[i], py[i]);
  return out;
}

}  // namespace

Array int_unary(Op op, const Array& a, double k, double k2) {
  switch (op) {
    case Op::Neg: return map_int1(a, [](I x) { return wrap(U(0) - U(x)); });
    case Op::Abs: return map_int1(a, [](I x) { return x < 0 ? wrap(U(0) - U(x)) : x; });
    case Op::Relu: return map_int1(a, [](I x) { return x <= 0 ? I(0) : x; });
    default: return unary(op, astype(a, DType::F32), k, k2);
  }
}

Array int_binary(Op op, const Array& a, const Array& b) {
  const char* name = op_name(op);
  switch (op) {
    case Op::Add: return map_int2(a, b, name, [](I x, I y) { return wrap(U(x) + U(y)); });
    case Op::Sub: return map_int2(a, b, name, [](I x, I y) { return wrap(U(x) - U(y)); });
    case Op::Mul: return map_int2(a, b, name, [](I x, I y) { return wrap(U(x) * U(y)); });
    case Op::Lt: return map_int2(a, b, name, [](I x, I y) { return I(x < y); });
    case Op::Le: return map_int2(a, b, name, [](I x, I y) { return I(x <= y); });
    case Op::Gt: return map_int2(a, b, name, [](I x, I y) { return I(x > y); });
    case Op::Ge: return map_int2(a, b, name, [](I x, I y) { return I(x >= y); });
    case Op::Eq: return map_int2(a, b, name, [](I x, I y) { return I(x == y); });
    case Op::Ne: return map_int2(a, b, name, [](I x, I y) { return I(x != y); });
    default: return binary(op, astype(a, DType::F32), astype(b, DType::F32));
  }
}

// ---- argmax, argmin ---------------------------------------------------------------

namespace {

// The position of the first largest (Max) or smallest value of each row; a
// NaN counts as larger and smaller than everything, as in NumPy and PyTorch,
// so the first NaN wins.
template <class T, bool Max>
void arg_rows(const T* in, I* out, std::int64_t rows, std::int64_t len, std::int64_t stride, std::int64_t row_step,
              std::int64_t inner) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = in + (r / inner) * row_step + (r % inner);
    I best = 0;
    T m = p[0];
    for (std::int64_t j = 1; j < len && m == m; ++j) {
      const T v = p[j * stride];
      if (v != v || (Max ? v > m : v < m)) {
        m = v;
        best = j;
      }
    }
    out[r] = best;
  }
}

}  // namespace

Array arg_reduce(bool max, const Array& a, std::int64_t dim, bool all_dims, bool keepdim) {
  const char* name = max ? "argmax" : "argmin";
  if (all_dims) {
    if (a.numel() == 0) throw ValueError(std::string(name) + "() of an empty tensor");
    Array flat = reshape(a, {a.numel()});
    Array out = arg_reduce(max, flat, 0, false, false);
    return keepdim ? reshape(out, Shape(static_cast<std::size_t>(a.ndim()), 1)) : out;
  }
  if (a.ndim() == 0) {
    normalize_dim(dim, 0);
    return scalar_int(0);
  }
  dim = normalize_dim(dim, a.ndim());
  const std::int64_t len = a.shape[dim];
  Shape out_shape = a.shape;
  out_shape[dim] = 1;
  if (len == 0) throw ValueError(std::string(name) + "() over an empty dimension of a tensor of shape " + shape_str(a.shape));
  Array src = contiguous(a);
  Array out = empty(out_shape, DType::I64);
  std::int64_t inner = 1;
  for (std::int64_t i = dim + 1; i < a.ndim(); ++i) inner *= a.shape[i];
  const std::int64_t rows = out.numel();
  by_any_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if (max) arg_rows<T, true>(src.data<T>(), out.data<I>(), rows, len, inner, len * inner, inner);
    else arg_rows<T, false>(src.data<T>(), out.data<I>(), rows, len, inner, len * inner, inner);
  });
  if (keepdim) return out;
  out_shape.erase(out_shape.begin() + dim);
  return reshape(out, out_shape);
}

}  // namespace tapegrad
