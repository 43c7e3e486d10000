// Kernels of var, std and logsumexp: the reduced dims are moved last (no copy
// when they already are, in contiguous data) so that each output element
// reduces one contiguous row, and each backward is one pass over the rows.
// float32 accumulates in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.h"

namespace tapegrad {

namespace {

template <class T>
struct Acc { using type = T; };
template <>
struct Acc<float> { using type = double; };

// `a` as contiguous rows of `len` values: its dims permuted, kept ones first.
struct Rows {
  Array data;
  std::vector<std::int64_t> perm;  // the permutation; empty when it is the identity
  std::int64_t rows = 1, len = 1;
};

Rows rows_of(const Array& a, const std::vector<std::int64_t>& dims) {
  Rows r;
  std::vector<bool> reduced(a.shape.size(), false);
  for (auto d : dims) reduced[d] = true;
  std::vector<std::int64_t> perm;
  for (std::int64_t i = 0; i < a.ndim(); ++i)
    if (!reduced[i]) { perm.push_back(i); r.rows *= a.shape[i]; }
  for (std::int64_t i = 0; i < a.ndim(); ++i)
    if (reduced[i]) { perm.push_back(i); r.len *= a.shape[i]; }
  bool identity = true;
  for (std::size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<std::int64_t>(i);
  if (identity) {
    r.data = contiguous(a);
  } else {
    r.data = contiguous(permute(a, perm));
    r.perm = std::move(perm);
  }
  return r;
}

// Values laid out like rows_of's data, back in a's layout (a view).
Array unrows(const Array& values, const Rows& r) {
  if (r.perm.empty()) return values;
  std::vector<std::int64_t> inv(r.perm.size());
  for (std::size_t i = 0; i < r.perm.size(); ++i) inv[r.perm[i]] = static_cast<std::int64_t>(i);
  return permute(values, inv);
}

// a's shape with the reduced dims as 1
Shape kept_shape(const Array& a, const std::vector<std::int64_t>& dims) {
  Shape s = a.shape;
  for (auto d : dims) s[d] = 1;
  return s;
}

double dof(std::int64_t len, double correction) { return std::max(0.0, static_cast<double>(len) - correction); }

}  // namespace

Array moments(const Array& a, const std::vector<std::int64_t>& dims, double correction, bool std_dev, Array& mean) {
  const Rows r = rows_of(a, dims);
  const Shape kept = kept_shape(a, dims);
  Array out = empty(kept, a.dtype);
  mean = empty(kept, DType::F64);
  const double den = dof(r.len, correction);
  by_float_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    const T* x = r.data.data<T>();
    T* o = out.data<T>();
    double* m = mean.data<double>();
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const T* p = x + i * r.len;
      double s = 0;  // two passes: the mean, then the squares about it
      for (std::int64_t j = 0; j < r.len; ++j) s += static_cast<double>(p[j]);
      const double mu = s / static_cast<double>(r.len);
      double ss = 0;
      for (std::int64_t j = 0; j < r.len; ++j) {
        const double d = static_cast<double>(p[j]) - mu;
        ss += d * d;
      }
      const double v = ss / den;
      o[i] = static_cast<T>(std_dev ? std::sqrt(v) : v);
      m[i] = mu;
    }
  });
  return out;
}

// PyTorch's var_backward: (2 / dof) g (a - mean); std's first takes
// g / (2 std), 0 where std = 0.
Array moments_grad(const Array& g, const Array& a, const Array& mean, const Array& out,
                   const std::vector<std::int64_t>& dims, double correction, bool std_dev) {
  const Rows r = rows_of(a, dims);
  const Array gc = contiguous(astype(g, a.dtype)), mc = contiguous(mean);
  const Array oc = std_dev ? contiguous(out) : out;
  Array res = empty(r.data.shape, a.dtype);
  const double scale = 2.0 / dof(r.len, correction);
  by_float_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    const T *x = r.data.data<T>(), *pg = gc.data<T>();
    const T* po = std_dev ? oc.data<T>() : nullptr;
    const double* m = mc.data<double>();
    T* o = res.data<T>();
    for (std::int64_t i = 0; i < r.rows; ++i) {
      double gi = static_cast<double>(pg[i]);
      if (std_dev) gi = po[i] == T(0) ? 0.0 : gi / (static_cast<double>(po[i]) * 2.0);
      const double coef = scale * gi;
      const T* p = x + i * r.len;
      T* q = o + i * r.len;
      for (std::int64_t j = 0; j < r.len; ++j) q[j] = static_cast<T>(coef * (static_cast<double>(p[j]) - m[i]));
    }
  });
  return unrows(res, r);
}

// Per row: the max (a nan anywhere makes it nan), the exponentials into a
// scratch row, then their sum: the max and exp loops are plain maps the
// compiler vectorises (and a vectorised exp can replace std::exp in them).
Array logsumexp(const Array& a, const std::vector<std::int64_t>& dims) {
  const Rows r = rows_of(a, dims);
  Array out = empty(kept_shape(a, dims), a.dtype);
  by_float_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    const T* x = r.data.data<T>();
    T* o = out.data<T>();
    std::vector<T> e(static_cast<std::size_t>(r.len));
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const T* p = x + i * r.len;
      T m = -std::numeric_limits<T>::infinity();
      bool nan = false;
      for (std::int64_t j = 0; j < r.len; ++j) {
        m = p[j] > m ? p[j] : m;
        nan = nan || p[j] != p[j];
      }
      // An infinite max would make inf - inf: shift by 0 instead (a +inf
      // gives +inf, a row of -inf or no values -inf), as PyTorch.
      if (nan) m = std::numeric_limits<T>::quiet_NaN();
      else if (std::isinf(m)) m = T(0);
      for (std::int64_t j = 0; j < r.len; ++j) e[j] = std::exp(p[j] - m);
      typename Acc<T>::type s = 0;
      for (std::int64_t j = 0; j < r.len; ++j) s += e[j];
      o[i] = static_cast<T>(std::log(s) + m);
    }
  });
  return out;
}

// d logsumexp / da_i = e^(a_i - out): g e^(a - out)
Array logsumexp_grad(const Array& g, const Array& a, const Array& out, const std::vector<std::int64_t>& dims) {
  const Rows r = rows_of(a, dims);
  const Array gc = contiguous(astype(g, a.dtype)), oc = contiguous(out);
  Array res = empty(r.data.shape, a.dtype);
  by_float_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    const T *x = r.data.data<T>(), *pg = gc.data<T>(), *po = oc.data<T>();
    T* o = res.data<T>();
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const T* p = x + i * r.len;
      T* q = o + i * r.len;
      const T gi = pg[i], oi = po[i];
      for (std::int64_t j = 0; j < r.len; ++j) q[j] = gi * std::exp(p[j] - oi);
    }
  });
  return unrows(res, r);
}

}  // namespace tapegrad
