// softmax and log_softmax over the rows of a contiguous matrix, compiled
// into each instruction-set version of vmath.cpp (Note [Vector math] in
// vmath.h): the max, the shift, e^x, the sums and the normalisation all run
// SIMD-wide. Internal to vmath.cpp.
//
// The maxima and sums keep a vector of running values (GCC's and Clang's
// vector extension), combined in a fixed order: SIMD without reassociation
// by the compiler, so every version gives the same bits. Float32 rows sum in double (as the reductions
// do, kernels_reduce.cpp). Note [Numerics] lets the softmax family sum in
// any order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "vmath_lanes.h"

namespace tapegrad::vmath::rows {

// 64 bytes of T as one value: GCC's and Clang's vector extension, one
// AVX-512 register, or two, four... where the target's are narrower.
template <class T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(64)));
};
typedef double Acc8 __attribute__((vector_size(64)));
typedef float Float8 __attribute__((vector_size(32)));

// (by reference: a vector returned by value would change the ABI with the target)
template <class V, class T>
TG_VMATH_INLINE void load(V& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}

// The largest element of p[0, n), NaNs skipped, -inf for n = 0: a vector of
// running maxima, then a tree of pairs.
template <class T>
TG_VMATH_INLINE T row_max(const T* p, std::int64_t n) {
  using V = typename Vec<T>::type;
  constexpr int kLanes = sizeof(V) / sizeof(T);
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  V m = V{} + kNegInf;
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    V v;
    load(v, p + j);
    m = v > m ? v : m;
  }
  T t[kLanes];
  std::memcpy(t, &m, sizeof t);
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int q = 0; q < w; ++q) t[q] = t[q + w] > t[q] ? t[q + w] : t[q];
  for (; j < n; ++j) t[0] = p[j] > t[0] ? p[j] : t[0];
  return t[0];
}

// The sum of p[0, n) in double: eight running sums, then a tree of pairs.
template <class T>
TG_VMATH_INLINE double row_sum(const T* p, std::int64_t n) {
  Acc8 s = {};
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    if constexpr (sizeof(T) == 4) {
      Float8 v;
      load(v, p + j);
      s += __builtin_convertvector(v, Acc8);
    } else {
      Acc8 v;
      load(v, p + j);
      s += v;
    }
  }
  double t[8];
  std::memcpy(t, &s, sizeof t);
  for (; j < n; ++j) t[0] += static_cast<double>(p[j]);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

// o[j] = (x[j] - c) - d, or (Scale) o[j] = x[j] * c: a row's elementwise steps
// (o may be x: each vector is loaded before it is stored).
template <class T, bool Scale>
TG_VMATH_INLINE void row_map(const T* x, T c, T d, T* o, std::int64_t n) {
  using V = typename Vec<T>::type;
  constexpr int kLanes = sizeof(V) / sizeof(T);
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    V v;
    load(v, x + j);
    if constexpr (Scale) v = v * c;
    else v = (v - c) - d;
    std::memcpy(o + j, &v, sizeof v);
  }
  for (; j < n; ++j) o[j] = Scale ? x[j] * c : (x[j] - c) - d;
}

// Rows in blocks of about kBlock elements: for each row the max m and the
// shifted row a - m (m = 0 for a row of -infs: exp and log then give nan);
// e^(a - m) for the whole block in one loop; per row the sum s; then
// softmax e / s, or log_softmax (a - m) - ln s, with 1/s or ln s for the
// block's rows in one loop each.
template <class T, bool Log>
TG_VMATH_INLINE void softmax(const T* in, T* out, std::int64_t rows, std::int64_t len) {
  constexpr std::int64_t kBlock = 4096;
  const std::int64_t per = std::max<std::int64_t>(1, kBlock / std::max<std::int64_t>(len, 1));
  const std::int64_t cap = std::min(rows, per);
  std::vector<T> shifted(static_cast<std::size_t>(Log ? cap * len : 0)), m(static_cast<std::size_t>(cap));
  std::vector<double> s(static_cast<std::size_t>(cap));
  for (std::int64_t r0 = 0; r0 < rows; r0 += per) {
    const std::int64_t nr = std::min(per, rows - r0);
    const T* a = in + r0 * len;
    T* e = Log ? shifted.data() : out + r0 * len;  // softmax: e^(a - m) straight into out
    for (std::int64_t r = 0; r < nr; ++r) {
      T mr = row_max(a + r * len, len);
      m[r] = mr == -std::numeric_limits<T>::infinity() ? T(0) : mr;
      row_map<T, false>(a + r * len, m[r], T(0), e + r * len, len);
    }
    for (std::int64_t i = 0; i < nr * len; ++i) e[i] = lanes::exp(e[i]);
    for (std::int64_t r = 0; r < nr; ++r) s[r] = row_sum(e + r * len, len);
    if (Log) {
      for (std::int64_t r = 0; r < nr; ++r) s[r] = lanes::log(s[r]);
      for (std::int64_t r = 0; r < nr; ++r)
        row_map<T, false>(a + r * len, m[r], static_cast<T>(s[r]), out + (r0 + r) * len, len);
    } else {
      for (std::int64_t r = 0; r < nr; ++r) s[r] = 1.0 / s[r];
      for (std::int64_t r = 0; r < nr; ++r) row_map<T, true>(e + r * len, static_cast<T>(s[r]), T(0), e + r * len, len);
    }
  }
}

}  // namespace tapegrad::vmath::rows
