// The elementwise rules of the Tensor-only rows (op_table.h, after the Value
// rows): activations, clamp, erf, maximum and minimum. Written as rules.h's
// are, forward `f` right above local derivative `d`, so the kernels loop over
// them (forward, and g * d fused into one pass) and the recorded backward
// evaluates the same `d` on nodes. The formulas are PyTorch's, operation for
// operation where it documents them (torch/csrc/autograd/FunctionsManual and
// the CPU kernels), so float64 results agree with it to the last bits.
//
// The kernels are plain loops over these structs: vectorised exp/tanh/erf
// (issue 16) replace the scalar calls below without touching the loops.
#pragma once

#include <cmath>

#include "rules.h"

namespace tapegrad::rules {

using std::erf;
using std::exp;

// [x > t] for numbers; a constant mask for nodes (the recorded backward's).
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
bool gt(T x, double t) { return x > static_cast<T>(t); }

inline constexpr double kSqrtHalf = 0.70710678118654752440;       // 1/sqrt(2)
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;     // 1/sqrt(2 pi)
inline constexpr double kTwoOverSqrtPi = 1.12837916709551257390;  // 2/sqrt(pi)
inline constexpr double kGeluBeta = 1.41421356237309504880 * 1.12837916709551257390 * 0.5;  // sqrt(2/pi)
inline constexpr double kGeluKappa = 0.044715;

// ---- unary --------------------------------------------------------------------------

struct Gelu {
  // x Phi(x), Phi the normal cdf: x/2 (1 + erf(x/sqrt2))
  template <class T> static T f(T a) { return a * T(0.5) * (T(1) + erf(a * T(kSqrtHalf))); }
  // Phi(x) + x phi(x)
  template <class S> static S d(const S& a) {
    S cdf = S(0.5) * (S(1) + erf(a * S(kSqrtHalf)));
    S pdf = exp(S(-0.5) * (a * a)) * S(kInvSqrt2Pi);
    return cdf + a * pdf;
  }
};

struct GeluTanh {
  // x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3): gelu(approximate="tanh")
  template <class T> static T f(T a) {
    T inner = T(kGeluBeta) * (a + T(kGeluKappa) * (a * a * a));
    return T(0.5) * a * (T(1) + tanh_of(inner));
  }
  // (1 + t)/2 + x/2 (1 - t^2) u'(x), t = tanh(u)
  template <class S> static S d(const S& a) {
    S sq = a * a;
    S t = tanh_of(S(kGeluBeta) * (a + S(kGeluKappa) * (sq * a)));
    S left = S(0.5) * a;
    S du = S(kGeluBeta) * (S(1) + S(3.0 * kGeluKappa) * sq);
    return S(0.5) * (S(1) + t) + left * (S(1) - t * t) * du;
  }
};

// erf: only gelu's recorded backward makes it (no method of its own).
struct Erf {
  template <class T> static T f(T a) { return erf(a); }
  template <class S> static S d(const S& a) { return S(kTwoOverSqrtPi) * exp(-(a * a)); }  // 2/sqrt(pi) e^(-a^2)
};

struct Silu {
  template <class T> static T f(T a) { return a / (T(1) + exp(-a)); }  // x sigmoid(x)
  // s (1 + x (1 - s)), s = sigmoid(x) in its stable form: on nodes the sigmoid
  // op, whose derivative s (1 - s) stays finite where e^-x overflows
  template <class S> static S d(const S& a) {
    S s = sigmoid_of(a);
    return s * (S(1) + a * (S(1) - s));
  }
};

struct Softplus {
  static constexpr int kParams = 2;  // beta, threshold
  // log(1 + e^(beta x)) / beta, and x itself where beta x > threshold
  template <class T> static T f(T a, double beta, double threshold) {
    T bx = a * T(beta);
    return bx > T(threshold) ? a : std::log1p(exp(bx)) / T(beta);
  }
  // sigmoid(beta x), 1 where beta x > threshold
  template <class S> static S d(const S& a, double beta, double threshold) {
    S bx = a * S(beta);
    return select(gt(bx, threshold), S(1), sigmoid_of(bx));
  }
};

struct LeakyRelu {
  static constexpr int kParams = 1;  // negative_slope
  static constexpr bool kPiecewise = true;
  template <class T> static T f(T a, double slope) { return a > T(0) ? a : a * T(slope); }  // -0 stays -0
  template <class T> static T d(T a, double slope) { return a > T(0) ? T(1) : T(slope); }   // the slope at 0 and nan
};

struct Clamp {
  static constexpr int kParams = 2;  // min, max (-inf, +inf where not given)
  static constexpr bool kPiecewise = true;
  // min(max(x, lo), hi); a nan input or bound gives nan; lo > hi gives hi
  template <class T> static T f(T a, double lo, double hi) {
    const T l = T(lo), h = T(hi);
    if (a != a) return a;
    if (l != l) return l;
    if (h != h) return h;
    const T x = a < l ? l : a;
    return h < x ? h : x;
  }
  // [lo <= x <= hi]: 1 at the bounds (PyTorch's), 0 at nan
  template <class T> static T d(T a, double lo, double hi) { return a >= T(lo) && a <= T(hi) ? T(1) : T(0); }
};

// ---- binary ---------------------------------------------------------------------------
// PyTorch's maximum and minimum: nan wins; at a tie the first operand's value
// (so maximum(-0.0, 0.0) is -0.0) and each operand gets half the gradient;
// a nan hands the whole gradient to both.

struct Maximum {
  static constexpr bool kPiecewise = true;
  template <class T> static T f(T a, T b) { return a != a ? a : b != b ? b : a < b ? b : a; }
  template <class T> static Pair<T> d(T a, T b, T) {
    return {a < b ? T(0) : a == b ? T(0.5) : T(1), a > b ? T(0) : a == b ? T(0.5) : T(1)};
  }
  static constexpr int kPass[2] = {0, 0};
};

struct Minimum {
  static constexpr bool kPiecewise = true;
  template <class T> static T f(T a, T b) { return a != a ? a : b != b ? b : b < a ? b : a; }
  template <class T> static Pair<T> d(T a, T b, T) {
    return {a > b ? T(0) : a == b ? T(0.5) : T(1), a < b ? T(0) : a == b ? T(0.5) : T(1)};
  }
  static constexpr int kPass[2] = {0, 0};
};

}  // namespace tapegrad::rules
