// Reductions and the softmax family: the reduced dims are arranged last (or
// first) so that each output element reduces one contiguous run.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.h"
#include "vmath.h"

namespace tapegrad {

// ---------------------------------------------------------------------------
// Reductions: arrange the reduced dims last (or first) so each output element
// reduces one contiguous run.

namespace {
template <class T>
struct Acc { using type = T; };
template <>
struct Acc<float> { using type = double; };  // float32 sums accumulate in double
template <>
struct Acc<std::int64_t> { using type = std::uint64_t; };  // int64 sums wrap around (defined on uint64)

// The sum of one contiguous run in 16 independent partial sums, so that the
// adds pipeline and vectorise without reassociation by the compiler (the
// order is free: Note [Numerics], reductions).
// Not kernels_nn.cpp's Lanes (8 lanes, the tail into them, added pairwise): a
// different order, so sharing one would change the bits of one or the other.
template <class T>
typename Acc<T>::type sum_run(const T* p, std::int64_t len) {
  using A = typename Acc<T>::type;
  constexpr std::int64_t kLanes = 16;
  A part[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= len; j += kLanes)
    for (std::int64_t u = 0; u < kLanes; ++u) part[u] += static_cast<A>(p[j + u]);
  A s = 0;
  for (std::int64_t u = 0; u < kLanes; ++u) s += part[u];
  for (; j < len; ++j) s += static_cast<A>(p[j]);
  return s;
}

template <class T>
void reduce_rows(ReduceKind k, const T* in, T* out, std::int64_t rows, std::int64_t len) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = in + r * len;
    if (k == ReduceKind::Sum) {
      out[r] = static_cast<T>(sum_run(p, len));
    } else {
      T m = p[0];
      for (std::int64_t j = 1; j < len && m == m; ++j) {
        T v = p[j];
        if (v != v || (k == ReduceKind::Max ? v > m : v < m)) m = v;
      }
      out[r] = m;
    }
  }
}

template <class T>
void reduce_cols(ReduceKind k, const T* in, T* out, std::int64_t rows, std::int64_t len) {
  // out[j] = reduce over r of in[r * len + j]: accumulate row by row (vectorises)
  if (k == ReduceKind::Sum) {
    std::vector<typename Acc<T>::type> acc(static_cast<std::size_t>(len), 0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* p = in + r * len;
      for (std::int64_t j = 0; j < len; ++j) acc[j] += p[j];
    }
    for (std::int64_t j = 0; j < len; ++j) out[j] = static_cast<T>(acc[j]);
    return;
  }
  std::copy(in, in + len, out);
  for (std::int64_t r = 1; r < rows; ++r) {
    const T* p = in + r * len;
    for (std::int64_t j = 0; j < len; ++j) {
      T v = p[j], m = out[j];
      if (m == m && (v != v || (k == ReduceKind::Max ? v > m : v < m))) out[j] = v;
    }
  }
}
}  // namespace

Array reduce(ReduceKind k, const Array& a, const std::vector<std::int64_t>& dims0, bool keepdim) {
  std::vector<std::int64_t> dims = normalize_dims(dims0, a.ndim());
  std::vector<bool> red(a.shape.size(), false);
  for (auto d : dims) red[d] = true;
  Shape out_shape, kept_shape;
  std::int64_t len = 1;
  std::vector<std::int64_t> order_kept, order_red;
  for (std::size_t i = 0; i < a.shape.size(); ++i) {
    if (red[i]) { len *= a.shape[i]; order_red.push_back(i); if (keepdim) out_shape.push_back(1); }
    else { order_kept.push_back(i); kept_shape.push_back(a.shape[i]); out_shape.push_back(a.shape[i]); }
  }
  if (k != ReduceKind::Sum && len == 0)
    throw ValueError(std::string(k == ReduceKind::Max ? "max" : "min") + "() over an empty dimension of a tensor of shape " + shape_str(a.shape));
  Array out = empty(out_shape, a.dtype);
  std::int64_t rows = out.numel();
  if (rows == 0) return out;
  if (len == 0) { return zeros(out_shape, a.dtype); }
  // leading reduced dims of contiguous data: column reduction, no copy; all
  // of them (one output): one run
  const bool one_run = rows == 1 && a.is_contiguous();
  bool leading = !one_run && a.is_contiguous() && !order_red.empty() &&
                 order_red.back() == static_cast<std::int64_t>(order_red.size()) - 1;
  Array src = a;
  if (!leading && !one_run) {
    std::vector<std::int64_t> perm = order_kept;
    perm.insert(perm.end(), order_red.begin(), order_red.end());
    src = contiguous(permute(a, perm));
  }
  by_any_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if (leading) reduce_cols<T>(k, src.data<T>(), out.data<T>(), len, rows);
    else reduce_rows<T>(k, src.data<T>(), out.data<T>(), rows, len);
  });
  return out;
}

Array tie_share(const Array& a, const Array& m, const std::vector<std::int64_t>& dims) {
  Array hit = binary(Op::Eq, a, m);
  Array count = reduce(ReduceKind::Sum, hit, dims, true);
  return binary(Op::Div, hit, count);
}

// ---------------------------------------------------------------------------
// Softmax family: the reduced dim is moved last and the rows go through
// vmath::softmax_rows (SIMD-wide: Note [Vector math] in vmath.h), the
// result moved back. All -inf (or empty) rows shift by 0 and come out nan; a
// +inf makes inf - inf, so the sum and with it the whole row are nan (as NumPy).

namespace {
template <bool Log>
Array softmax_impl(const Array& a, std::int64_t dim) {
  if (a.ndim() == 0) {
    normalize_dim(dim, 0);  // 0 or -1 only, as every dim argument of a 0-d tensor
    Array one = reshape(a, {1});
    return reshape(softmax_impl<Log>(one, 0), {});
  }
  dim = normalize_dim(dim, a.ndim());
  std::vector<std::int64_t> perm, inv(a.shape.size());
  for (std::int64_t i = 0; i < a.ndim(); ++i) if (i != dim) perm.push_back(i);
  perm.push_back(dim);
  for (std::size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<std::int64_t>(i);
  Array src = contiguous(permute(a, perm));
  Array out = empty(src.shape, a.dtype);
  std::int64_t len = a.shape[dim], rows = len ? src.numel() / len : 0;
  if (a.dtype == DType::F32) vmath::softmax_rows(src.data<float>(), out.data<float>(), rows, len, Log);
  else vmath::softmax_rows(src.data<double>(), out.data<double>(), rows, len, Log);
  return contiguous(permute(out, inv));
}
}  // namespace

Array softmax(const Array& a, std::int64_t dim) { return softmax_impl<false>(astype(a, float_type(a.dtype)), dim); }
Array log_softmax(const Array& a, std::int64_t dim) { return softmax_impl<true>(astype(a, float_type(a.dtype)), dim); }

namespace {
// One row of softmax's backward, y (g - Σ g y), or log_softmax's, g - e^y Σ g,
// in the composed rule's operations and order (products rounded to T, then
// sum_run), so that the fused result is the recorded one, bit for bit.
template <class T>
void softmax_backward_rows(const T* g, const T* y, T* o, std::int64_t rows, std::int64_t len, bool log) {
  std::vector<T> tmp(static_cast<std::size_t>(len));
  for (std::int64_t r = 0; r < rows; ++r, g += len, y += len, o += len) {
    if (log) {
      const T total = static_cast<T>(sum_run(g, len));
      vmath::exp(y, tmp.data(), static_cast<std::size_t>(len));
      for (std::int64_t j = 0; j < len; ++j) o[j] = g[j] - tmp[j] * total;
    } else {
      for (std::int64_t j = 0; j < len; ++j) tmp[j] = g[j] * y[j];
      const T dot = static_cast<T>(sum_run(tmp.data(), len));
      for (std::int64_t j = 0; j < len; ++j) o[j] = y[j] * (g[j] - dot);
    }
  }
}
}  // namespace

bool softmax_backward(const Array& g_in, const Array& y_in, std::int64_t dim, bool log, Array& out) {
  const Array& y = y_in;
  if (y.ndim() == 0 || dim != y.ndim() - 1 || g_in.dtype != y.dtype || g_in.shape != y.shape || y.dtype == DType::I64)
    return false;
  const Array g = contiguous(g_in), yc = contiguous(y);
  out = empty(y.shape, y.dtype);
  const std::int64_t len = y.shape.back(), rows = len ? y.numel() / len : 0;
  if (y.dtype == DType::F32) softmax_backward_rows(g.data<float>(), yc.data<float>(), out.data<float>(), rows, len, log);
  else softmax_backward_rows(g.data<double>(), yc.data<double>(), out.data<double>(), rows, len, log);
  return true;
}

Array cross_entropy(const Array& logits, const std::vector<std::int64_t>& labels, Array& probs) {
  if (logits.ndim() != 2)
    throw ValueError("cross_entropy expects logits of shape (N, C), got " + shape_str(logits.shape));
  const std::int64_t n = logits.shape[0], c = logits.shape[1];
  if (static_cast<std::int64_t>(labels.size()) != n)
    throw ValueError("cross_entropy: logits of shape " + shape_str(logits.shape) + " need " + std::to_string(n) + " labels, got " + std::to_string(labels.size()));
  for (auto l : labels)
    if (l < -c || l >= c)
      throw IndexError("index " + std::to_string(l) + " is out of bounds for axis 1 with size " + std::to_string(c));
  Array lsm = log_softmax(logits, 1);  // contiguous (N, C)
  probs = unary(Op::Exp, lsm);
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t l = labels[i] < 0 ? labels[i] + c : labels[i];
    total -= logits.dtype == DType::F32 ? static_cast<double>(lsm.data<float>()[i * c + l]) : lsm.data<double>()[i * c + l];
  }
  return scalar_array(n ? total / static_cast<double>(n) : std::nan(""), logits.dtype);
}

}  // namespace tapegrad
