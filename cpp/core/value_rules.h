// The Value op table: for each op, its forward formula right above its
// local-gradient rule d(out)/d(parent). Two switches at the bottom dispatch
// on the enum (no std::function, no per-node closure).
//
// Arithmetic is plain IEEE 754 double (docs/API.md "Numbers"): 1/0 = inf,
// log(0) = -inf, sqrt(-1) = nan, nothing throws. The formulas match
// tapegrad.reference operation for operation, so both backends give the same
// bits. Rules read what the forward left on the nodes: tanh, sigmoid, exp,
// sqrt and ** use the node's own output, "**k" keeps its exponent.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "ops.h"

namespace tapegrad::rules {

// What a rule may read: the parents' data, the node's output and exponent.
struct In {
  double a;    // first parent's data
  double b;    // second parent's data (binary ops)
  double out;  // the node's own data (its forward result)
  double k;    // the exponent of "**k"
};

struct Grads {
  double da;
  double db;
};

// ---- + ----
inline double add(double a, double b) { return a + b; }
inline Grads d_add(const In&) { return {1.0, 1.0}; }  // d(a+b)/da = 1, d(a+b)/db = 1

// ---- - ----
inline double sub(double a, double b) { return a - b; }
inline Grads d_sub(const In&) { return {1.0, -1.0}; }  // d(a-b)/da = 1, d(a-b)/db = -1

// ---- * ----
inline double mul(double a, double b) { return a * b; }
inline Grads d_mul(const In& x) { return {x.b, x.a}; }  // d(ab)/da = b, d(ab)/db = a

// ---- / ----
inline double div(double a, double b) { return a / b; }
inline Grads d_div(const In& x) { return {1.0 / x.b, -x.a / (x.b * x.b)}; }  // 1/b, -a/b^2

// ---- neg ----
inline double neg(double a) { return -a; }
inline Grads d_neg(const In&) { return {-1.0, 0.0}; }  // d(-a)/da = -1

// ---- **k ----
inline double pow_const(double a, double k) { return std::pow(a, k); }
// d(a^k)/da = k a^(k-1); a^0 is constant, so 0 even at a = 0 (as PyTorch)
inline Grads d_pow_const(const In& x) {
  return {x.k == 0.0 ? 0.0 : x.k * std::pow(x.a, x.k - 1.0), 0.0};
}

// ---- ** ----
inline double pow(double a, double b) { return std::pow(a, b); }
// d(a^b)/da = b a^(b-1) (0 where b = 0), d(a^b)/db = a^b log(a) (0 where
// a = 0 <= b): PyTorch's conventions, which keep 0 * inf from making a nan.
inline Grads d_pow(const In& x) {
  double da = x.b == 0.0 ? 0.0 : x.b * std::pow(x.a, x.b - 1.0);
  double db = (x.a == 0.0 && x.b >= 0.0) ? 0.0 : x.out * std::log(x.a);
  return {da, db};
}

// ---- abs ----
inline double abs(double a) { return std::fabs(a); }
// d|a|/da = sign(a), 0 at 0 (nan stays nan)
inline Grads d_abs(const In& x) {
  return {x.a > 0.0 ? 1.0 : x.a < 0.0 ? -1.0 : x.a == 0.0 ? 0.0 : x.a, 0.0};
}

// ---- relu ----
inline double relu(double a) { return a <= 0.0 ? 0.0 : a; }  // nan stays nan
inline Grads d_relu(const In& x) { return {x.a > 0.0 ? 1.0 : 0.0, 0.0}; }  // [a > 0]

// ---- tanh ----
inline double tanh(double a) { return std::tanh(a); }
inline Grads d_tanh(const In& x) { return {1.0 - x.out * x.out, 0.0}; }  // 1 - tanh(a)^2

// ---- sigmoid ----
// 1 / (1 + e^-a), in the form where e^x never overflows (nan takes the second).
inline double sigmoid(double a) {
  if (a >= 0.0) return 1.0 / (1.0 + std::exp(-a));
  double e = std::exp(a);
  return e / (1.0 + e);
}
inline Grads d_sigmoid(const In& x) { return {x.out * (1.0 - x.out), 0.0}; }  // s (1 - s)

// ---- exp ----
inline double exp(double a) { return std::exp(a); }
inline Grads d_exp(const In& x) { return {x.out, 0.0}; }  // d e^a/da = e^a

// ---- log ----
inline double log(double a) { return std::log(a); }
inline Grads d_log(const In& x) { return {1.0 / x.a, 0.0}; }  // d ln(a)/da = 1/a

// ---- sqrt ----
inline double sqrt(double a) { return std::sqrt(a); }
inline Grads d_sqrt(const In& x) { return {1.0 / (2.0 * x.out), 0.0}; }  // 1 / (2 sqrt(a))

// ---- sin ----
inline double sin(double a) { return std::sin(a); }
inline Grads d_sin(const In& x) { return {std::cos(x.a), 0.0}; }  // d sin(a)/da = cos(a)

// ---- cos ----
inline double cos(double a) { return std::cos(a); }
inline Grads d_cos(const In& x) { return {-std::sin(x.a), 0.0}; }  // d cos(a)/da = -sin(a)

// ---- the chain rule's product ----------------------------------------------

// Note [Subnormal products]
// The backward sweep multiplies upstream * local at every edge. A gradient
// that vanishes along a deep chain (W2: 0.979 per step) goes subnormal after
// a few thousand steps, and then stays at the smallest subnormal, 5e-324, as
// long as the local factors are above 1/2. On x86 every multiplication with a
// subnormal operand or result takes a microcode assist of ~100 cycles (27 ns
// measured here, against 0.5 ns), which made 80% of a 10^6-step W2 backward.
// Flushing subnormals to zero (FTZ/DAZ) would change results (docs/API.md:
// plain IEEE 754 double, the same bits as the reference). So `chain_mul`
// takes the hardware product wherever it is normal, and computes the other
// products exactly in integers: the 106-bit product of the two significands,
// rounded to nearest-even on the subnormal grid (units of 2^-1074). Additions
// of subnormals cost no assist and stay as they are.

namespace detail {

inline std::uint64_t bits_of(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

inline double from_bits(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// The exact product a * b of two 53-bit integers as 128 bits (hi, lo),
// portably (no __int128 on MSVC).
inline void mul_53x53(std::uint64_t a, std::uint64_t b, std::uint64_t& hi, std::uint64_t& lo) {
  std::uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
  std::uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  std::uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
  lo = (mid << 32) | (p00 & 0xffffffffu);
  hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

// x * y, correctly rounded, for finite nonzero x and y whose biased exponent
// fields ex + ey < 1024, i.e. |x * y| < 2^-1021: a subnormal result, or one
// in the lowest normal binade, or an underflow to zero.
inline double tiny_product(std::uint64_t ux, std::uint64_t uy, int ex, int ey) {
  constexpr std::uint64_t kFrac = (std::uint64_t{1} << 52) - 1;
  constexpr std::uint64_t kSign = std::uint64_t{1} << 63;
  // |x| = mx * 2^(max(ex, 1) - 1075) with the hidden bit in mx for normals.
  std::uint64_t mx = (ux & kFrac) | (ex != 0 ? std::uint64_t{1} << 52 : 0);
  std::uint64_t my = (uy & kFrac) | (ey != 0 ? std::uint64_t{1} << 52 : 0);
  // |x * y| = mx * my * 2^(ex' + ey' - 2150): on the grid 2^-1074 that is
  // mx * my / 2^shift with shift = 1076 - ex' - ey' >= 52.
  int shift = 1076 - (ex != 0 ? ex : 1) - (ey != 0 ? ey : 1);
  std::uint64_t sign = (ux ^ uy) & kSign;
  if (shift >= 108) return from_bits(sign);  // below half of 2^-1074: +-0
  std::uint64_t hi, lo;
  mul_53x53(mx, my, hi, lo);
  // q = the product >> shift; rest = the bits shifted out, half = 2^(shift-1).
  std::uint64_t q, rest_hi, rest_lo, half_hi, half_lo;
  if (shift < 64) {
    q = (lo >> shift) | (hi << (64 - shift));
    rest_hi = 0;
    rest_lo = lo & ((std::uint64_t{1} << shift) - 1);
    half_hi = 0;
    half_lo = std::uint64_t{1} << (shift - 1);
  } else {
    int s = shift - 64;  // 0 <= s < 44
    q = hi >> s;
    rest_hi = hi & ((std::uint64_t{1} << s) - 1);
    rest_lo = lo;
    half_hi = s == 0 ? 0 : std::uint64_t{1} << (s - 1);
    half_lo = s == 0 ? std::uint64_t{1} << 63 : 0;
  }
  bool above = rest_hi > half_hi || (rest_hi == half_hi && rest_lo > half_lo);
  bool tie = rest_hi == half_hi && rest_lo == half_lo;
  if (above || (tie && (q & 1) != 0)) ++q;
  // q <= 2^53 here, and as raw bits q is exactly q * 2^-1074 (a subnormal,
  // or with the carry into the exponent field a normal of the lowest binades).
  return from_bits(sign | q);
}

}  // namespace detail

// upstream * local, the same bits as the hardware's IEEE product, fast for
// subnormals too (Note [Subnormal products]).
inline double chain_mul(double x, double y) {
  std::uint64_t ux = detail::bits_of(x), uy = detail::bits_of(y);
  int ex = static_cast<int>((ux >> 52) & 0x7ff), ey = static_cast<int>((uy >> 52) & 0x7ff);
  // A normal (or overflowing) product, a zero, an infinity or a NaN: the
  // hardware's product costs no assist, or is too rare to matter.
  if (ex + ey >= 1024 || x == 0.0 || y == 0.0 || ex == 0x7ff || ey == 0x7ff) return x * y;
  return detail::tiny_product(ux, uy, ex, ey);
}

// ---- dispatch ---------------------------------------------------------------

// The forward result of `op` on a (and b: the second operand, or k for "**k").
inline double forward(Op op, double a, double b) {
  switch (op) {
    case Op::Leaf: return a;
    case Op::Add: return add(a, b);
    case Op::Sub: return sub(a, b);
    case Op::Mul: return mul(a, b);
    case Op::Div: return div(a, b);
    case Op::Neg: return neg(a);
    case Op::PowConst: return pow_const(a, b);
    case Op::Pow: return pow(a, b);
    case Op::Abs: return abs(a);
    case Op::Relu: return relu(a);
    case Op::Tanh: return tanh(a);
    case Op::Sigmoid: return sigmoid(a);
    case Op::Exp: return exp(a);
    case Op::Log: return log(a);
    case Op::Sqrt: return sqrt(a);
    case Op::Sin: return sin(a);
    case Op::Cos: return cos(a);
  }
  return a;
}

// d(out)/d(parent) for each parent of a node with op `op` (unused slots 0).
inline Grads local_grads(Op op, const In& x) {
  switch (op) {
    case Op::Leaf: return {0.0, 0.0};
    case Op::Add: return d_add(x);
    case Op::Sub: return d_sub(x);
    case Op::Mul: return d_mul(x);
    case Op::Div: return d_div(x);
    case Op::Neg: return d_neg(x);
    case Op::PowConst: return d_pow_const(x);
    case Op::Pow: return d_pow(x);
    case Op::Abs: return d_abs(x);
    case Op::Relu: return d_relu(x);
    case Op::Tanh: return d_tanh(x);
    case Op::Sigmoid: return d_sigmoid(x);
    case Op::Exp: return d_exp(x);
    case Op::Log: return d_log(x);
    case Op::Sqrt: return d_sqrt(x);
    case Op::Sin: return d_sin(x);
    case Op::Cos: return d_cos(x);
  }
  return {0.0, 0.0};
}

}  // namespace tapegrad::rules
