// Reductions and the softmax family: the reduced dims are arranged last (or
// first) so that each output element reduces one contiguous run.
#include <algorithm>
#include <cmath>
#include <limits>

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

template <class T>
void reduce_rows(ReduceKind k, const T* in, T* out, std::int64_t rows, std::int64_t len) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = in + r * len;
    if (k == ReduceKind::Sum) {
      typename Acc<T>::type s = 0;
      for (std::int64_t j = 0; j < len; ++j) s += p[j];
      out[r] = static_cast<T>(s);
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
  // leading reduced dims of contiguous data: column reduction, no copy
  bool leading = a.is_contiguous() && !order_red.empty() && order_red.back() == static_cast<std::int64_t>(order_red.size()) - 1;
  Array src = a;
  if (!leading) {
    std::vector<std::int64_t> perm = order_kept;
    perm.insert(perm.end(), order_red.begin(), order_red.end());
    src = contiguous(permute(a, perm));
  }
  if (a.dtype == DType::F32) {
    if (leading) reduce_cols<float>(k, src.data<float>(), out.data<float>(), len, rows);
    else reduce_rows<float>(k, src.data<float>(), out.data<float>(), rows, len);
  } else {
    if (leading) reduce_cols<double>(k, src.data<double>(), out.data<double>(), len, rows);
    else reduce_rows<double>(k, src.data<double>(), out.data<double>(), rows, len);
  }
  return out;
}

Array tie_share(const Array& a, const Array& m, const std::vector<std::int64_t>& dims) {
  Array hit = binary(Op::Eq, a, m);
  Array count = reduce(ReduceKind::Sum, hit, dims, true);
  return binary(Op::Div, hit, count);
}

// ---------------------------------------------------------------------------
// Softmax family: the reduced dim is moved last, rows are processed in one
// pass each (max, then exp-sum, then normalise), the result moved back.

namespace {
// The largest element of p[0, n), NaNs skipped (a NaN row is NaN through
// its sum), -inf for n = 0. kLanes running maxima, so that the loop
// vectorises; the order does not change the value.
template <class T>
T row_max(const T* p, std::int64_t n) {
  constexpr int kLanes = 16;
  T m[kLanes];
  for (T& v : m) v = -std::numeric_limits<T>::infinity();
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int q = 0; q < kLanes; ++q) m[q] = p[j + q] > m[q] ? p[j + q] : m[q];
  for (; j < n; ++j) m[0] = p[j] > m[0] ? p[j] : m[0];
  T r = m[0];
  for (int q = 1; q < kLanes; ++q) r = m[q] > r ? m[q] : r;
  return r;
}

// The sum of p[0, n) in Acc<T>, in kLanes running sums (vectorises; Note
// [Numerics] lets the softmax family sum in any order).
template <class T>
typename Acc<T>::type row_sum(const T* p, std::int64_t n) {
  using A = typename Acc<T>::type;
  constexpr int kLanes = 8;
  A s[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int q = 0; q < kLanes; ++q) s[q] += static_cast<A>(p[j + q]);
  for (; j < n; ++j) s[0] += static_cast<A>(p[j]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Rows in blocks of about kBlock elements: the shifted rows a - max, their
// exponentials in one vmath call per block (Note [Vector math] in vmath.h),
// then per row the sum and the normalisation.
template <class T, bool Log>
void softmax_rows(const T* in, T* out, std::int64_t rows, std::int64_t len) {
  constexpr std::int64_t kBlock = 4096;
  const std::int64_t per = std::max<std::int64_t>(1, kBlock / std::max<std::int64_t>(len, 1));
  std::vector<T> shift(static_cast<std::size_t>(std::min(rows, per) * len));
  std::vector<T> m(static_cast<std::size_t>(std::min(rows, per)));
  for (std::int64_t r0 = 0; r0 < rows; r0 += per) {
    const std::int64_t nr = std::min(per, rows - r0);
    for (std::int64_t r = 0; r < nr; ++r) {
      const T* p = in + (r0 + r) * len;
      // All -inf (or empty): shift by 0 and let exp/log produce nan. A +inf max
      // stays: inf - inf is nan, so the sum and with it the whole row are nan (as NumPy).
      T mr = row_max(p, len);
      m[r] = mr == -std::numeric_limits<T>::infinity() ? T(0) : mr;
      T* d = shift.data() + r * len;
      for (std::int64_t j = 0; j < len; ++j) d[j] = p[j] - m[r];
    }
    T* e = Log ? shift.data() : out + r0 * len;  // softmax: e^(a - max) straight into out
    vmath::exp(shift.data(), e, static_cast<std::size_t>(nr * len));
    for (std::int64_t r = 0; r < nr; ++r) {
      T* o = out + (r0 + r) * len;
      typename Acc<T>::type s = row_sum(e + r * len, len);
      if (Log) {
        // log of the sum in double (the C library: one number a row)
        T lse = static_cast<T>(std::log(s));
        const T* p = in + (r0 + r) * len;
        for (std::int64_t j = 0; j < len; ++j) o[j] = (p[j] - m[r]) - lse;
      } else {
        T inv = static_cast<T>(1.0 / s);
        for (std::int64_t j = 0; j < len; ++j) o[j] *= inv;
      }
    }
  }
}

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
  if (a.dtype == DType::F32) softmax_rows<float, Log>(src.data<float>(), out.data<float>(), rows, len);
  else softmax_rows<double, Log>(src.data<double>(), out.data<double>(), rows, len);
  return contiguous(permute(out, inv));
}
}  // namespace

Array softmax(const Array& a, std::int64_t dim) { return softmax_impl<false>(a, dim); }
Array log_softmax(const Array& a, std::int64_t dim) { return softmax_impl<true>(a, dim); }

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
