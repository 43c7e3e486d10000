// One element of each vector math function (Note [Vector math] in vmath.h):
// straight-line code, no branch, no table, no call, so that a loop over it
// vectorises. Special values are handled by selects (`c ? a : b`, computed
// on every lane) and by clamping arguments into the range where the formula
// works. Internal to vmath.cpp; fused kernels should call vmath.h's array
// functions, which dispatch on the CPU.
//
// Each function is a template over a policy P: F64 (float64 results, full
// double accuracy) or F32 (the float32 kernels: double arithmetic with
// shorter polynomials, rounded to float once by the caller).
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

struct F64 : coeffs::F64 {
  static constexpr bool kWide = true;       // subnormal inputs and results, exact squares
  static constexpr double kExpClamp = 1100;  // e^x is inf or 0 beyond in double
  static constexpr double kTanhClamp = 40;   // tanh(x) rounds to 1 beyond 19.1
};
struct F32 : coeffs::F32 {
  static constexpr bool kWide = false;       // a float is a normal double, its square exact
  static constexpr double kExpClamp = 200;   // e^x is inf or 0 in float beyond 89
  static constexpr double kTanhClamp = 10;   // tanh(x) rounds to 1 in float beyond 9.01
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kShift = 0x1.8p52;          // x + kShift rounds x to an integer (|x| < 2^51)
constexpr double kLog2e = 0x1.71547652b82fep0;
constexpr double kLn2Hi = 0x1.62e42fee00000p-1;  // ln 2 to 32 bits: k * kLn2Hi is exact for |k| < 2^21
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33; // ln 2 - kLn2Hi
constexpr std::uint64_t kSqrtHalfBits = 0x3fe6a09e667f3bcdULL;  // sqrt(1/2)
constexpr std::uint64_t kOneBits = 0x3ff0000000000000ULL;
constexpr std::uint64_t kTwo52Bits = 0x4330000000000000ULL;     // 2^52
constexpr std::uint64_t kMantissa = 0x000fffffffffffffULL;
constexpr double kTanhSmall = 0.625;  // make_vmath_coeffs.py's TANH_SMALL
constexpr double kErfSmall = 1.0;    // make_vmath_coeffs.py's ERF_SMALL

TG_VMATH_INLINE std::uint64_t bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
TG_VMATH_INLINE double from_bits(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// c[0] t^(N-1) + ... + c[N-1], by Horner's rule, unrolled.
template <std::size_t N, std::size_t... I>
TG_VMATH_INLINE double horner(const double (&c)[N], double t, std::index_sequence<I...>) {
  double p = c[0];
  ((p = p * t + c[I + 1]), ...);
  return p;
}
template <std::size_t N>
TG_VMATH_INLINE double poly(const double (&c)[N], double t) {
  return horner(c, t, std::make_index_sequence<N - 1>{});
}

// 2^k for an integral k in [-1022, 1023]: the exponent field written directly.
TG_VMATH_INLINE double pow2(double k) { return from_bits((bits(k + kShift) + 1023) << 52); }

// e^x = 2^k e^r: returns e^r and sets k (integral), |r| <= ln2/2 (Cody and
// Waite's reduction: x - k kLn2Hi is exact, so r carries x's full precision).
// e^r = 1 + r + r^2 Q(r). F64 keeps the rounding errors of r and of 1 + r
// (exact, by Fast2Sum) and adds them to the small terms, so that the result
// is rounded about once (~0.5 ulp, where the plain sum reaches 1 ulp), and
// sets `err` to that last rounding error (result + err = e^r within ~2^-60),
// for callers that go on computing with e^x (sigmoid, tanh). F32: err = 0.
template <class P>
TG_VMATH_INLINE double exp_r(double x, double& k, double& err) {
  k = (x * kLog2e + kShift) - kShift;
  double t = x - k * kLn2Hi;
  double klo = k * kLn2Lo;
  double r = t - klo;
  if constexpr (P::kWide) {
    double r_err = (t - r) - klo;
    double hi = 1.0 + r;
    double lo = ((1.0 - hi) + r) + (r_err + r * r * poly(P::kExpQ, r));
    double y = hi + lo;
    err = (hi - y) + lo;  // Fast2Sum: |hi| >= |lo|
    return y;
  } else {
    err = 0.0;
    return 1.0 + (r + r * r * poly(P::kExpQ, r));
  }
}

// e^x, and in `err` its rounding error (F64; 0 for F32). F64 scales by 2^k
// in two halves, so that results in the subnormal range are rounded once
// (p 2^k1 is exact) and overflow comes out as inf.
template <class P>
TG_VMATH_INLINE double exp(double x, double& err) {
  double xc = x > P::kExpClamp ? P::kExpClamp : x;  // NaN stays NaN
  xc = xc < -P::kExpClamp ? -P::kExpClamp : xc;
  double k;
  double p = exp_r<P>(xc, k, err);
  if constexpr (P::kWide) {
    double k1 = (k * 0.5 + kShift) - kShift;
    double s1 = pow2(k1), s2 = pow2(k - k1);
    err = (err * s1) * s2;
    return (p * s1) * s2;
  } else {
    return p * pow2(k);
  }
}
template <class P>
TG_VMATH_INLINE double exp(double x) {
  double err;
  return exp<P>(x, err);
}

// ln x = e ln2 + ln(1 + f), x = 2^e (1 + f), sqrt(1/2) <= 1 + f < sqrt(2);
// ln(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R), s = f / (2 + f), with
// R = 2 s^2/3 + 2 s^4/5 + ... a polynomial in s^2, summed so that the small
// terms are added to the big ones last.
template <class P>
TG_VMATH_INLINE double log(double x) {
  double xs = x, eoff = 0;
  if constexpr (P::kWide) {  // subnormal x: scaled into the normal range first
    bool tiny = x < 0x1p-1022;
    xs = tiny ? x * 0x1p54 : x;
    eoff = tiny ? 54.0 : 0.0;
  }
  std::uint64_t hx = bits(xs) + (kOneBits - kSqrtHalfBits);
  double e = (from_bits((hx >> 52) | kTwo52Bits) - (0x1p52 + 1023.0)) - eoff;
  double f = from_bits((hx & kMantissa) + kSqrtHalfBits) - 1.0;
  double s = f / (2.0 + f);
  double z = s * s;
  double r = z * poly(P::kLogR, z);
  double hfsq = 0.5 * f * f;
  double y = e * kLn2Hi - ((hfsq - (s * (hfsq + r) + e * kLn2Lo)) - f);
  y = x == 0 ? -kInf : y;
  y = x < 0 ? kNaN : y;
  y = x == kInf ? kInf : y;
  return x != x ? x : y;
}

// tanh |x| = |x| + |x|^3 T(x^2) below 0.625; above, 1 - q, q = 2 / (e + 1),
// e = e^2|x|, where q < 0.45, so that its rounding errors stay small beside
// 1. F64 corrects q for the rounding errors of e and of e + 1 (exact, by
// Fast2Sum, as e >= 1): q (1 - (d + err) / (e + 1)), 1 / (e + 1) = q / 2.
template <class P>
TG_VMATH_INLINE double tanh(double x) {
  double ax = std::fabs(x);
  double w = ax * ax;
  double small = ax + ax * (w * poly(P::kTanhT, w));
  double a = ax > P::kTanhClamp ? P::kTanhClamp : ax;
  double k, err;
  double e = exp_r<P>(2.0 * a, k, err);
  double s = pow2(k);
  e *= s;
  double den = e + 1.0;
  double q = 2.0 / den;
  if constexpr (P::kWide) q = q - q * (0.5 * q * (((e - den) + 1.0) + err * s));
  double big = 1.0 - q;
  return std::copysign(ax < kTanhSmall ? small : big, x);
}

// 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e = e^-|x| <= 1 never
// overflows. F64 corrects the quotient y for the rounding errors of e (err)
// and of 1 + e (d, exact by Fast2Sum): to first order, num / den moves by
// (dnum - y (d + err)) / den, where 1 / den = y or 1 - y.
template <class P>
TG_VMATH_INLINE double sigmoid(double x) {
  double err;
  double e = exp<P>(-std::fabs(x), err);
  double den = 1.0 + e;
  double neg = x >= 0 ? 0.0 : 1.0;
  double y = (x >= 0 ? 1.0 : e) / den;
  if constexpr (P::kWide) {
    // neg as a number, not a select on y: GCC would split the division in two
    double d = (1.0 - den) + e;
    double inv = y + neg * (1.0 - 2.0 * y);
    y = y + inv * (neg * err - y * (d + err));
  }
  return y;
}

// erf |x| = |x| + |x| F(x^2) below 1; above, 1 - e^(-x^2) G(t),
// t = 2 / (2 + |x|), G(t) = erfc(x) e^(x^2), where erfc(x) < 0.16, so its
// error is damped in the difference. e^(-x^2) needs x^2 to more than double
// precision in F64: x^2 = hi + lo exactly (Dekker's product), e^-lo = 1 - lo.
// Beyond kErfcTop erfc(x) is below half an ulp of 1 and the result 1.
template <class P>
TG_VMATH_INLINE double erf(double x) {
  double ax = std::fabs(x);
  double small = ax + ax * poly(P::kErfF, ax * ax);
  double a = ax > P::kErfcTop ? P::kErfcTop : ax;  // NaN stays NaN
  a = a < kErfSmall ? kErfSmall : a;
  double g = poly(P::kErfcG, 2.0 / (2.0 + a) - P::kErfcMid);
  double hi = a * a;
  double k, err;
  double ex = exp_r<P>(-hi, k, err) * pow2(k);
  if constexpr (P::kWide) {
    double c = 134217729.0 * a;  // 2^27 + 1: splits a into two halves of 26 bits
    double ah = c - (c - a), al = a - ah;
    double lo = ((ah * ah - hi) + 2.0 * ah * al) + al * al;
    ex = ex - ex * lo;
  }
  double big = 1.0 - ex * g;
  return std::copysign(ax < kErfSmall ? small : big, x);
}

// float32: the F32 policy in double, rounded once. Only e^x can leave
// float's range; it becomes inf in double first (a double beyond float's
// largest value has no defined conversion).
TG_VMATH_INLINE float exp(float x) {
  double y = exp<F32>(x);
  return static_cast<float>(y >= 0x1.ffffffp127 ? kInf : y);
}
TG_VMATH_INLINE float log(float x) { return static_cast<float>(log<F32>(x)); }
TG_VMATH_INLINE float tanh(float x) { return static_cast<float>(tanh<F32>(x)); }
TG_VMATH_INLINE float sigmoid(float x) { return static_cast<float>(sigmoid<F32>(x)); }
TG_VMATH_INLINE float erf(float x) { return static_cast<float>(erf<F32>(x)); }
TG_VMATH_INLINE double exp(double x) { return exp<F64>(x); }
TG_VMATH_INLINE double log(double x) { return log<F64>(x); }
TG_VMATH_INLINE double tanh(double x) { return tanh<F64>(x); }
TG_VMATH_INLINE double sigmoid(double x) { return sigmoid<F64>(x); }
TG_VMATH_INLINE double erf(double x) { return erf<F64>(x); }

}  // namespace tapegrad::vmath::lanes
