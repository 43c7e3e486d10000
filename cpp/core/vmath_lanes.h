// One element of each vector math function (Note [Vector math] in vmath.h):
// straight-line code, no branch, no table, no call, so that a loop over it
// vectorises. Special values are handled by selects (`c ? a : b`, computed
// on every lane) and by clamping arguments into the range where the formula
// works. Internal to vmath.cpp; fused kernels should call vmath.h's array
// functions, which dispatch on the CPU.
//
// Each function is one template for float and double (T); Fmt<T> holds what
// differs: the bit layout, the constants, and the polynomials (vmath_coeffs.h,
// double for float64, float for float32). Every operation is in T.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "vmath_coeffs.h"

#if defined(__GNUC__) || defined(__clang__)
#define TG_VMATH_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define TG_VMATH_INLINE __forceinline
#else
#define TG_VMATH_INLINE inline
#endif

namespace tapegrad::vmath::lanes {

template <class T>
struct Fmt;

template <>
struct Fmt<double> : coeffs::F64 {
  using U = std::uint64_t;  // the bits
  static constexpr int kMant = 52;       // mantissa bits
  static constexpr U kBias = 1023;
  static constexpr double kShift = 0x1.8p52;  // x + kShift rounds x to an integer (|x| < 2^51)
  static constexpr double kTwoMant = 0x1p52;  // 2^kMant: its bits | n (n < 2^kMant) is 2^kMant + n
  static constexpr double kLog2e = 0x1.71547652b82fep0;
  static constexpr double kLn2Hi = 0x1.62e42feep-1;  // ln 2 to 32 bits: k kLn2Hi is exact for |k| < 2^21
  static constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;  // ln 2 - kLn2Hi
  static constexpr U kSqrtHalf = 0x3fe6a09e667f3bcdULL;    // the bits of sqrt(1/2)
  static constexpr double kMinNormal = 0x1p-1022;
  static constexpr int kSubExp = 54;  // kSubScale = 2^kSubExp brings a subnormal into the normal range
  static constexpr double kSubScale = 0x1p54;
  static constexpr double kSplit = 0x1p27 + 1;  // Veltkamp's splitter: halves of 26 bits
  static constexpr double kExpClamp = 1100;     // e^x is inf or 0 beyond
  static constexpr double kTanhClamp = 40;      // tanh(x) rounds to 1 beyond 19.1
};

template <>
struct Fmt<float> : coeffs::F32 {
  using U = std::uint32_t;
  static constexpr int kMant = 23;
  static constexpr U kBias = 127;
  static constexpr float kShift = 0x1.8p23f;
  static constexpr float kTwoMant = 0x1p23f;
  static constexpr float kLog2e = 0x1.715476p0f;
  static constexpr float kLn2Hi = 0x1.62e4p-1f;     // ln 2 to 16 bits: k kLn2Hi is exact for |k| < 2^8
  static constexpr float kLn2Lo = 0x1.7f7d1cp-20f;  // ln 2 - kLn2Hi
  static constexpr U kSqrtHalf = 0x3f3504f3u;
  static constexpr float kMinNormal = 0x1p-126f;
  static constexpr int kSubExp = 24;
  static constexpr float kSubScale = 0x1p24f;
  static constexpr float kSplit = 0x1p12f + 1;  // halves of 12 bits
  static constexpr float kExpClamp = 104;       // e^x is inf beyond 88.8, 0 below -104
  static constexpr float kTanhClamp = 10;       // tanh(x) rounds to 1 beyond 9.01
};

// Where the formulas switch (make_vmath_coeffs.py's TANH_SMALL, ERF_SMALL).
constexpr double kTanhSmall = 0.625;
constexpr double kErfSmall = 1.0;

template <class T>
TG_VMATH_INLINE typename Fmt<T>::U bits(T x) {
  typename Fmt<T>::U u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
template <class T>
TG_VMATH_INLINE T from_bits(typename Fmt<T>::U u) {
  T x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// c[0] t^(N-1) + ... + c[N-1], by Horner's rule, unrolled.
template <class T, std::size_t N, std::size_t... I>
TG_VMATH_INLINE T horner(const T (&c)[N], T t, std::index_sequence<I...>) {
  T p = c[0];
  ((p = p * t + c[I + 1]), ...);
  return p;
}
template <class T, std::size_t N>
TG_VMATH_INLINE T poly(const T (&c)[N], T t) {
  return horner(c, t, std::make_index_sequence<N - 1>{});
}

// 2^k for an integral k in the normal range: the exponent field written directly.
template <class T>
TG_VMATH_INLINE T pow2(T k) {
  using F = Fmt<T>;
  return from_bits<T>((bits(k + F::kShift) + F::kBias) << F::kMant);
}

// e^x = 2^k e^r: returns e^r and sets k (integral), |r| <= ln2/2 (Cody and
// Waite's reduction: x - k kLn2Hi is exact, so r carries x's full precision).
// e^r = 1 + r + r^2 Q(r), with the rounding errors of r and of 1 + r (exact,
// by Fast2Sum) added to the small terms, so that the result is rounded about
// once (~0.5 ulp, where the plain sum reaches 1 ulp). `err` is that last
// rounding error (result + err is e^r to a few bits more), for callers that
// go on computing with e^x (sigmoid, tanh).
template <class T>
TG_VMATH_INLINE T exp_r(T x, T& k, T& err) {
  using F = Fmt<T>;
  k = (x * F::kLog2e + F::kShift) - F::kShift;
  T t = x - k * F::kLn2Hi;
  T klo = k * F::kLn2Lo;
  T r = t - klo;
  T r_err = (t - r) - klo;
  T hi = T(1) + r;
  T lo = ((T(1) - hi) + r) + (r_err + r * r * poly(F::kExpQ, r));
  T y = hi + lo;
  err = (hi - y) + lo;  // Fast2Sum: |hi| >= |lo|
  return y;
}

// e^x, and in `err` its rounding error. The scaling by 2^k is done in two
// halves, so that results in the subnormal range are rounded once (p 2^k1 is
// exact) and overflow comes out as inf.
template <class T>
TG_VMATH_INLINE T exp(T x, T& err) {
  using F = Fmt<T>;
  T xc = x > F::kExpClamp ? F::kExpClamp : x;  // NaN stays NaN
  xc = xc < -F::kExpClamp ? -F::kExpClamp : xc;
  T k;
  T p = exp_r(xc, k, err);
  T k1 = (k * T(0.5) + F::kShift) - F::kShift;
  T s1 = pow2(k1), s2 = pow2(k - k1);
  err = (err * s1) * s2;
  return (p * s1) * s2;
}
template <class T>
TG_VMATH_INLINE T exp(T x) {
  T err;
  return exp(x, err);
}

// ln x = e ln2 + ln(1 + f), x = 2^e (1 + f), sqrt(1/2) <= 1 + f < sqrt(2);
// ln(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R), s = f / (2 + f), with
// R = 2 s^2/3 + 2 s^4/5 + ... a polynomial in s^2, summed so that the small
// terms are added to the big ones last.
template <class T>
TG_VMATH_INLINE T log(T x) {
  using F = Fmt<T>;
  using U = typename F::U;
  constexpr U kOne = F::kBias << F::kMant;
  constexpr T kInf = std::numeric_limits<T>::infinity();
  bool tiny = x < F::kMinNormal;  // subnormal x: scaled into the normal range first
  T xs = tiny ? x * F::kSubScale : x;
  T eoff = tiny ? T(F::kSubExp) : T(0);
  U hx = bits(xs) + (kOne - F::kSqrtHalf);
  // the exponent field of hx as a number: 2^kMant + field, less 2^kMant and the bias
  T e = (from_bits<T>((hx >> F::kMant) | bits(F::kTwoMant)) - (F::kTwoMant + T(F::kBias))) - eoff;
  T f = from_bits<T>((hx & ((U(1) << F::kMant) - 1)) + F::kSqrtHalf) - T(1);
  T s = f / (T(2) + f);
  T z = s * s;
  T r = z * poly(F::kLogR, z);
  T hfsq = T(0.5) * f * f;
  T y = e * F::kLn2Hi - ((hfsq - (s * (hfsq + r) + e * F::kLn2Lo)) - f);
  y = x == 0 ? -kInf : y;
  y = x < 0 ? std::numeric_limits<T>::quiet_NaN() : y;
  y = x == kInf ? kInf : y;
  return x != x ? x : y;
}

// tanh |x| = |x| + |x|^3 T(x^2) below 0.625; above, 1 - q, q = 2 / (e + 1),
// e = e^2|x|, where q < 0.45, so that its rounding errors stay small beside
// 1; q is corrected for the rounding errors of e and of e + 1 (exact, by
// Fast2Sum, as e >= 1): q (1 - (d + err) / (e + 1)), 1 / (e + 1) = q / 2.
template <class T>
TG_VMATH_INLINE T tanh(T x) {
  using F = Fmt<T>;
  T ax = std::fabs(x);
  T w = ax * ax;
  T small = ax + ax * (w * poly(F::kTanhT, w));
  T a = ax > F::kTanhClamp ? F::kTanhClamp : ax;
  T k, err;
  T e = exp_r(T(2) * a, k, err);
  T s = pow2(k);
  e *= s;
  T den = e + T(1);
  T q = T(2) / den;
  q = q - q * (T(0.5) * q * (((e - den) + T(1)) + err * s));
  T big = T(1) - q;
  return std::copysign(ax < T(kTanhSmall) ? small : big, x);
}

// 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e = e^-|x| <= 1 never
// overflows. The quotient y is corrected for the rounding errors of e (err)
// and of 1 + e (d, exact by Fast2Sum): to first order, num / den moves by
// (dnum - y (d + err)) / den, where 1 / den = y or 1 - y.
template <class T>
TG_VMATH_INLINE T sigmoid(T x) {
  T err;
  T e = exp(-std::fabs(x), err);
  T den = T(1) + e;
  T neg = x >= 0 ? T(0) : T(1);
  T y = (x >= 0 ? T(1) : e) / den;
  // neg as a number, not a select on y: GCC would split the division in two
  T d = (T(1) - den) + e;
  T inv = y + neg * (T(1) - T(2) * y);
  return y + inv * (neg * err - y * (d + err));
}

// erf |x| = |x| + |x| F(x^2) below 1; above, 1 - e^(-x^2) G(t),
// t = 2 / (2 + |x|), G(t) = erfc(x) e^(x^2), where erfc(x) < 0.16, so its
// error is damped in the difference. e^(-x^2) needs x^2 to more than T's
// precision: x^2 = hi + lo exactly (Dekker's product), e^-lo = 1 - lo.
// Beyond kErfcTop erfc(x) is below half an ulp of 1 and the result 1.
template <class T>
TG_VMATH_INLINE T erf(T x) {
  using F = Fmt<T>;
  T ax = std::fabs(x);
  T small = ax + ax * poly(F::kErfF, ax * ax);
  T a = ax > F::kErfcTop ? F::kErfcTop : ax;  // NaN stays NaN
  a = a < T(kErfSmall) ? T(kErfSmall) : a;
  T g = poly(F::kErfcG, T(2) / (T(2) + a) - F::kErfcMid);
  T hi = a * a;
  T c = F::kSplit * a;
  T ah = c - (c - a), al = a - ah;
  T lo = ((ah * ah - hi) + T(2) * ah * al) + al * al;
  T k, err;
  T ex = exp_r(-hi, k, err) * pow2(k);
  ex = ex - ex * lo;
  T big = T(1) - ex * g;
  return std::copysign(ax < T(kErfSmall) ? small : big, x);
}

}  // namespace tapegrad::vmath::lanes
