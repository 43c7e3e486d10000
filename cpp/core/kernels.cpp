// Kernels: loops the compiler can vectorise when data is contiguous, and one
// strided odometer loop for everything else. Selects on a comparison (ReLU's
// backward) vectorise only with GCC's -fno-trapping-math (CMakeLists.txt);
// a branch per element mispredicts on data like ReLU's (a tenth of a W4 step).
#include "kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>

#include "broadcast.h"

namespace tapegrad {

namespace {

// Calls f(offsets of a, b, out) over the outer dimensions of `shape`, and for
// each, the inner extent and the inner strides. `st` holds one stride vector
// per operand, all of length shape.size().
template <std::size_t N, class F>
void odometer(const Shape& shape, const std::array<const Shape*, N>& st, F&& inner_fn) {
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

// Note [float32 tanh]
// glibc's tanhf costs ~39 ns here and is up to 2 ulp off; computing in double
// through exp (tanh|x| = 1 - 2 / (e^2|x| + 1)) and rounding once costs ~16 ns
// and matched the correctly rounded result at every one of 22 million
// sampled floats. The cancellation near 0 loses at most ~1e-12 relative for
// |x| >= 2^-12; below that tanh(x) rounds to x itself (x^3/3 is under half
// an ulp). NaN, +-0, +-inf come out as tanh's.
inline float tanh_f32(float x) {
  float ax = std::fabs(x);
  if (!(ax >= 0x1p-12f)) return x;  // tiny, zero or NaN
  double e = std::exp(2.0 * static_cast<double>(ax));
  return std::copysign(static_cast<float>(1.0 - 2.0 / (e + 1.0)), x);
}

template <class T>
T unary_op(UnaryKind k, T x) {
  switch (k) {
    case UnaryKind::Neg: return -x;
    case UnaryKind::Abs: return std::abs(x);
    case UnaryKind::Relu: return x < T(0) ? T(0) : x;  // NaN passes through, as np.maximum
    case UnaryKind::Tanh:
      if constexpr (std::is_same_v<T, float>) return tanh_f32(x);
      else return std::tanh(x);
    case UnaryKind::Sigmoid: {
      // exp of a non-positive number only, so neither branch overflows
      if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
      T e = std::exp(x);
      return e / (T(1) + e);
    }
    case UnaryKind::Exp: return std::exp(x);
    case UnaryKind::Log: return std::log(x);
    case UnaryKind::Sqrt: return std::sqrt(x);
    case UnaryKind::Sin: return std::sin(x);
    case UnaryKind::Cos: return std::cos(x);
    case UnaryKind::Sign: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
    case UnaryKind::Positive: return static_cast<T>(x > T(0));
    case UnaryKind::Square: return x * x;
  }
  return x;
}

template <class T, UnaryKind K>
void unary_loop(const Array& a, T* o) {
  const T* p = a.data<T>();
  if (a.is_contiguous()) {
    const std::int64_t n = a.numel();
    for (std::int64_t i = 0; i < n; ++i) o[i] = unary_op<T>(K, p[i]);
    return;
  }
  odometer<1>(a.shape, {&a.strides}, [&](const std::array<std::int64_t, 1>& off, std::int64_t n, const std::array<std::int64_t, 1>& is) {
    const T* q = p + off[0];
    for (std::int64_t j = 0; j < n; ++j) o[j] = unary_op<T>(K, q[j * is[0]]);
    o += n;
  });
}

template <class T>
void unary_dispatch(UnaryKind k, const Array& a, T* o) {
  switch (k) {
#define TG_CASE(K) case UnaryKind::K: unary_loop<T, UnaryKind::K>(a, o); break;
    TG_CASE(Neg) TG_CASE(Abs) TG_CASE(Relu) TG_CASE(Tanh) TG_CASE(Sigmoid) TG_CASE(Exp) TG_CASE(Log)
    TG_CASE(Sqrt) TG_CASE(Sin) TG_CASE(Cos) TG_CASE(Sign) TG_CASE(Positive) TG_CASE(Square)
#undef TG_CASE
  }
}

template <class T, BinaryKind K>
inline T binary_op(T x, T y) {
  switch (K) {
    case BinaryKind::Add: return x + y;
    case BinaryKind::Sub: return x - y;
    case BinaryKind::Mul: return x * y;
    case BinaryKind::Div: return x / y;
    case BinaryKind::Pow: return std::pow(x, y);
    case BinaryKind::Lt: return static_cast<T>(x < y);
    case BinaryKind::Le: return static_cast<T>(x <= y);
    case BinaryKind::Gt: return static_cast<T>(x > y);
    case BinaryKind::Ge: return static_cast<T>(x >= y);
    case BinaryKind::Eq: return static_cast<T>(x == y);
    case BinaryKind::Ne: return static_cast<T>(x != y);
    case BinaryKind::TanhGrad: return x * (T(1) - y * y);
    case BinaryKind::SigmoidGrad: return x * y * (T(1) - y);
    case BinaryKind::ReluGrad: return x * static_cast<T>(y > T(0));  // 0 * inf = nan, as the reference
    case BinaryKind::PowGradBase: return y == T(0) ? T(0) : y * std::pow(x, y - T(1));
    case BinaryKind::PowGradExp: return (x == T(0) && y >= T(0)) ? T(0) : std::pow(x, y) * std::log(x);
  }
  return x;
}

bool all_zero(const Shape& s) { return std::all_of(s.begin(), s.end(), [](std::int64_t v) { return v == 0; }); }

// a, b already expanded to out's shape; out contiguous.
template <class T, BinaryKind K>
void binary_loop(const Array& a, const Array& b, T* o) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  const std::int64_t n = a.numel();
  const bool ca = a.is_contiguous(), cb = b.is_contiguous();
  if (ca && cb) { for (std::int64_t i = 0; i < n; ++i) o[i] = binary_op<T, K>(pa[i], pb[i]); return; }
  if (ca && all_zero(b.strides)) { const T y = pb[0]; for (std::int64_t i = 0; i < n; ++i) o[i] = binary_op<T, K>(pa[i], y); return; }
  if (cb && all_zero(a.strides)) { const T x = pa[0]; for (std::int64_t i = 0; i < n; ++i) o[i] = binary_op<T, K>(x, pb[i]); return; }
  odometer<2>(a.shape, {&a.strides, &b.strides}, [&](const std::array<std::int64_t, 2>& off, std::int64_t m, const std::array<std::int64_t, 2>& is) {
    const T* x = pa + off[0];
    const T* y = pb + off[1];
    if (is[0] == 1 && is[1] == 1) for (std::int64_t j = 0; j < m; ++j) o[j] = binary_op<T, K>(x[j], y[j]);
    else if (is[0] == 1 && is[1] == 0) for (std::int64_t j = 0; j < m; ++j) o[j] = binary_op<T, K>(x[j], y[0]);
    else if (is[0] == 0 && is[1] == 1) for (std::int64_t j = 0; j < m; ++j) o[j] = binary_op<T, K>(x[0], y[j]);
    else for (std::int64_t j = 0; j < m; ++j) o[j] = binary_op<T, K>(x[j * is[0]], y[j * is[1]]);
    o += m;
  });
}

template <class T>
void binary_dispatch(BinaryKind k, const Array& a, const Array& b, T* o) {
  switch (k) {
#define TG_CASE(K) case BinaryKind::K: binary_loop<T, BinaryKind::K>(a, b, o); break;
    TG_CASE(Add) TG_CASE(Sub) TG_CASE(Mul) TG_CASE(Div) TG_CASE(Pow) TG_CASE(Lt) TG_CASE(Le)
    TG_CASE(Gt) TG_CASE(Ge) TG_CASE(Eq) TG_CASE(Ne) TG_CASE(TanhGrad) TG_CASE(SigmoidGrad) TG_CASE(ReluGrad) TG_CASE(PowGradBase) TG_CASE(PowGradExp)
#undef TG_CASE
  }
}

}  // namespace

Array unary(UnaryKind k, const Array& a) {
  Array out = empty(a.shape, a.dtype);
  if (a.dtype == DType::F32) unary_dispatch<float>(k, a, out.data<float>());
  else unary_dispatch<double>(k, a, out.data<double>());
  return out;
}

Array binary(BinaryKind k, const Array& a0, const Array& b0) {
  if (a0.dtype == b0.dtype && a0.shape == b0.shape) {  // the common case: nothing to broadcast or convert
    Array out = empty(a0.shape, a0.dtype);
    if (a0.dtype == DType::F32) binary_dispatch<float>(k, a0, b0, out.data<float>());
    else binary_dispatch<double>(k, a0, b0, out.data<double>());
    return out;
  }
  Shape s = broadcast_shape(a0.shape, b0.shape);
  DType dt = promote(a0.dtype, b0.dtype);
  Array out = empty(s, dt);
  Array a = expand(astype(a0, dt), s), b = expand(astype(b0, dt), s);
  if (dt == DType::F32) binary_dispatch<float>(k, a, b, out.data<float>());
  else binary_dispatch<double>(k, a, b, out.data<double>());
  return out;
}

Array binary_scalar(BinaryKind k, const Array& a, double s) { return binary(k, a, scalar_array(s, a.dtype)); }
Array rbinary_scalar(BinaryKind k, double s, const Array& a) { return binary(k, scalar_array(s, a.dtype), a); }

namespace {
template <class T, bool Add>
void store_into(const Array& dst, const Array& src0) {
  Array src = expand(astype(src0, dst.dtype), dst.shape);
  T* pd = dst.data<T>();
  const T* ps = src.data<T>();
  odometer<2>(dst.shape, {&dst.strides, &src.strides}, [&](const std::array<std::int64_t, 2>& off, std::int64_t m, const std::array<std::int64_t, 2>& is) {
    T* x = pd + off[0];
    const T* y = ps + off[1];
    if (is[0] == 1 && is[1] == 1) { for (std::int64_t j = 0; j < m; ++j) { if (Add) x[j] += y[j]; else x[j] = y[j]; } }
    else for (std::int64_t j = 0; j < m; ++j) { if (Add) x[j * is[0]] += y[j * is[1]]; else x[j * is[0]] = y[j * is[1]]; }
  });
}
void copy_into(const Array& dst, const Array& src) {
  if (dst.dtype == DType::F32) store_into<float, false>(dst, src);
  else store_into<double, false>(dst, src);
}
}  // namespace

void add_into(const Array& dst, const Array& src) {
  if (dst.dtype == DType::F32) store_into<float, true>(dst, src);
  else store_into<double, true>(dst, src);
}

void scatter_add(const Array& dst, const std::vector<std::int64_t>& flat, const Array& src0) {
  Array src = contiguous(astype(src0, dst.dtype));
  const std::int64_t n = static_cast<std::int64_t>(flat.size());
  if (dst.dtype == DType::F32) { float* d = dst.data<float>(); const float* s = src.data<float>(); for (std::int64_t i = 0; i < n; ++i) d[flat[i]] += s[i]; }
  else { double* d = dst.data<double>(); const double* s = src.data<double>(); for (std::int64_t i = 0; i < n; ++i) d[flat[i]] += s[i]; }
}

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
  Array hit = binary(BinaryKind::Eq, a, m);
  Array count = reduce(ReduceKind::Sum, hit, dims, true);
  return binary(BinaryKind::Div, hit, count);
}

// ---------------------------------------------------------------------------
// Softmax family: the reduced dim is moved last, rows are processed in one
// pass each (max, then exp-sum, then normalise), the result moved back.

namespace {
template <class T, bool Log>
void softmax_rows(const T* in, T* out, std::int64_t rows, std::int64_t len) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = in + r * len;
    T* o = out + r * len;
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t j = 0; j < len; ++j) m = p[j] > m ? p[j] : m;
    // All -inf (or empty): shift by 0 and let exp/log produce nan. A +inf max
    // stays: inf - inf is nan, so the sum and with it the whole row are nan (as NumPy).
    if (m == -std::numeric_limits<T>::infinity()) m = T(0);
    typename Acc<T>::type s = 0;
    for (std::int64_t j = 0; j < len; ++j) { T e = std::exp(p[j] - m); if (!Log) o[j] = e; s += e; }
    if (Log) {
      T lse = static_cast<T>(std::log(s));
      for (std::int64_t j = 0; j < len; ++j) o[j] = (p[j] - m) - lse;
    } else {
      T inv = static_cast<T>(1.0 / s);
      for (std::int64_t j = 0; j < len; ++j) o[j] *= inv;
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
  probs = unary(UnaryKind::Exp, lsm);
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t l = labels[i] < 0 ? labels[i] + c : labels[i];
    total -= logits.dtype == DType::F32 ? static_cast<double>(lsm.data<float>()[i * c + l]) : lsm.data<double>()[i * c + l];
  }
  return scalar_array(n ? total / static_cast<double>(n) : std::nan(""), logits.dtype);
}

// ---------------------------------------------------------------------------
// Joining and selecting

Array where(const Array& cond, const Array& a, const Array& b) {
  Shape s = broadcast_shape(broadcast_shape(cond.shape, a.shape), b.shape);
  DType dt = promote(a.dtype, b.dtype);
  Array c = contiguous(expand(astype(cond, DType::F64), s));
  Array x = contiguous(expand(astype(a, dt), s)), y = contiguous(expand(astype(b, dt), s));
  Array out = empty(s, dt);
  const double* pc = c.data<double>();
  const std::int64_t n = out.numel();
  if (dt == DType::F32) { const float *px = x.data<float>(), *py = y.data<float>(); float* o = out.data<float>(); for (std::int64_t i = 0; i < n; ++i) o[i] = pc[i] != 0 ? px[i] : py[i]; }
  else { const double *px = x.data<double>(), *py = y.data<double>(); double* o = out.data<double>(); for (std::int64_t i = 0; i < n; ++i) o[i] = pc[i] != 0 ? px[i] : py[i]; }
  return out;
}

Array concatenate(const std::vector<Array>& parts, std::int64_t dim) {
  if (parts.empty()) throw ValueError("need at least one tensor to concatenate");
  const Array& first = parts[0];
  if (first.ndim() == 0) throw ValueError("zero-dimensional tensors cannot be concatenated");
  dim = normalize_dim(dim, first.ndim());
  Shape s = first.shape;
  DType dt = first.dtype;
  s[dim] = 0;
  for (const Array& p : parts) {
    bool ok = p.ndim() == first.ndim();
    for (std::int64_t i = 0; ok && i < first.ndim(); ++i) ok = i == dim || p.shape[i] == first.shape[i];
    if (!ok)
      throw ValueError("concatenate: shapes " + shape_str(first.shape) + " and " + shape_str(p.shape) + " differ outside dim " + std::to_string(dim));
    s[dim] += p.shape[dim];
    dt = promote(dt, p.dtype);
  }
  Array out = empty(s, dt);
  std::int64_t at = 0;
  for (const Array& p : parts) {
    copy_into(slice(out, dim, at, at + p.shape[dim], 1), p);
    at += p.shape[dim];
  }
  return out;
}

Array slice(const Array& a, std::int64_t dim, std::int64_t start, std::int64_t stop, std::int64_t step) {
  // plain [start, stop) with a positive step, already in range (internal use)
  Array out = a;
  std::int64_t n = stop > start ? (stop - start - 1) / step + 1 : 0;
  if (n > 0) out.offset += start * a.strides[dim];
  out.shape[dim] = n;
  out.strides[dim] = a.strides[dim] * step;
  return out;
}

Array select(const Array& a, std::int64_t dim, std::int64_t index) {
  Array out = a;
  out.offset += index * a.strides[dim];
  out.shape.erase(out.shape.begin() + dim);
  out.strides.erase(out.strides.begin() + dim);
  return out;
}

Array unsqueeze(const Array& a, std::int64_t dim) {
  Array out = a;
  out.shape.insert(out.shape.begin() + dim, 1);
  out.strides.insert(out.strides.begin() + dim, 0);
  return out;
}

}  // namespace tapegrad
