// Elementwise math, written once per op: each rule's forward formula `f`
// sits right above its local derivative `d` (d out / d input). The same rule
// serves four callers (docs/DESIGN.md, Note [Op table]):
//   - the Value engine, with S = double: forward values and the local
//     gradients of the backward sweep (value.cpp);
//   - the Tensor kernels, with S = float or double: loops over `f` forward and
//     over g * `d` backward (kernels_elementwise.cpp);
//   - the recorded backward pass, with S = a Value or Tensor node (recorded.h):
//     `d` then builds graph nodes, so gradients can be differentiated again.
// A unary rule's `d` reads one saved value s, the op's input or its output as
// the op table's Saves column says; a binary rule's reads a, b and out.
//
// Arithmetic is plain IEEE 754 (docs/API.md "Numbers"): 1/0 = inf, log(0) = -inf,
// nothing throws. Value results are the reference's bit for bit (both call
// the C library); float32 Tensor kernels follow Note [Numerics].
#pragma once

#include <cmath>
#include <type_traits>

namespace tapegrad::rules {

using std::cos;
using std::log;
using std::sin;

// ---- scalar helpers (recorded.h overloads the ones `d` calls for node types)

// Note [float32 tanh]
// glibc's tanhf costs ~39 ns here and is up to 2 ulp off; computing in double
// through exp (tanh|x| = 1 - 2 / (e^2|x| + 1)) and rounding once costs ~16 ns
// and matched the correctly rounded result at every one of 22 million
// sampled floats. The cancellation near 0 loses at most ~1e-12 relative for
// |x| >= 2^-12; below that tanh(x) rounds to x itself (x^3/3 is under half
// an ulp). NaN, +-0, +-inf come out as tanh's.
inline float tanh_of(float x) {
  float ax = std::fabs(x);
  if (!(ax >= 0x1p-12f)) return x;  // tiny, zero or NaN
  double e = std::exp(2.0 * static_cast<double>(ax));
  return std::copysign(static_cast<float>(1.0 - 2.0 / (e + 1.0)), x);
}
inline double tanh_of(double x) { return std::tanh(x); }

// 1 / (1 + e^-a), in the form where e^x never overflows (nan takes the second).
template <class T>
T sigmoid_of(T a) {
  if (a >= T(0)) return T(1) / (T(1) + std::exp(-a));
  T e = std::exp(a);
  return e / (T(1) + e);
}

// C's pow in double, rounded once: float32's powf disagrees with NumPy/PyTorch
// at the extremes.
inline float pow_of(float a, float b) { return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b))); }
inline double pow_of(double a, double b) { return std::pow(a, b); }

// sign(s), 0 at +-0, nan at nan: the derivative of |a| (a constant for nodes)
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
T sign0(T s) { return s > T(0) ? T(1) : s < T(0) ? T(-1) : s == T(0) ? T(0) : s; }
// [s > 0]: the derivative of relu (a constant for nodes)
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
T step(T s) { return s > T(0) ? T(1) : T(0); }
// `c ? x : y` for scalars; `where` for nodes
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
T select(bool c, T x, T y) { return c ? x : y; }
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
bool is_zero(T x) { return x == T(0); }
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
bool zero_base(T a, T b) { return a == T(0) && b >= T(0); }

template <class S>
struct Pair {
  S da, db;
};

// ---- binary -----------------------------------------------------------------
// kPass: the local gradient is exactly +1 or -1 for that operand (the backward
// hands on g or -g without a kernel), 0 otherwise.

struct Add {
  template <class T> static T f(T a, T b) { return a + b; }
  template <class S> static Pair<S> d(const S&, const S&, const S&) { return {S(1), S(1)}; }  // 1, 1
  static constexpr int kPass[2] = {1, 1};
};

struct Sub {
  template <class T> static T f(T a, T b) { return a - b; }
  template <class S> static Pair<S> d(const S&, const S&, const S&) { return {S(1), S(-1)}; }  // 1, -1
  static constexpr int kPass[2] = {1, -1};
};

struct Mul {
  template <class T> static T f(T a, T b) { return a * b; }
  template <class S> static Pair<S> d(const S& a, const S& b, const S&) { return {b, a}; }  // d(ab)/da = b, /db = a
  static constexpr int kPass[2] = {0, 0};
};

struct Div {
  template <class T> static T f(T a, T b) { return a / b; }
  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
  template <class S> static Pair<S> d(const S& a, const S& b, const S&) { return {S(1) / b, -a / (b * b)}; }
  static constexpr int kPass[2] = {0, 0};
};

struct Pow {
  template <class T> static T f(T a, T b) { return pow_of(a, b); }
  // d(a^b)/da = b a^(b-1) (0 where b = 0), d(a^b)/db = a^b log(a) (0 where
  // a = 0 <= b): PyTorch's conventions, which keep 0 * inf from making a nan.
  template <class S> static Pair<S> d(const S& a, const S& b, const S& out) {
    return {select(is_zero(b), S(0), b * pow_of(a, b - S(1))), select(zero_base(a, b), S(0), out * log(a))};
  }
  static constexpr int kPass[2] = {0, 0};
};

// ---- unary --------------------------------------------------------------------
// kParams: how many of the op's numbers the rule takes (k, then k2): the
// exponent of "**k" here; a slope, bounds, beta and threshold in rules_tensor.h.

struct Neg {
  template <class T> static T f(T a) { return -a; }
  template <class S> static S d(const S&) { return S(-1); }  // d(-a)/da = -1
  static constexpr int kPass = -1;
};

struct PowConst {
  static constexpr int kParams = 1;
  // NumPy and PyTorch compute a ** 2 as a square and a ** 0.5 as a square root
  // (which differs from pow() at -inf and -0): Values and Tensors alike.
  template <class T> static T f(T a, double k) {
    return k == 2.0 ? a * a : k == 0.5 ? std::sqrt(a) : pow_of(a, static_cast<T>(k));
  }
  // d(a^k)/da = k a^(k-1); a^0 is constant, so 0 even at a = 0 (as PyTorch)
  template <class S> static S d(const S& a, double k) {
    return k == 0.0 ? S(0) : S(k) * pow_of(a, S(k - 1.0));
  }
};

struct Abs {
  template <class T> static T f(T a) { return std::fabs(a); }
  template <class S> static S d(const S& a) { return sign0(a); }  // d|a|/da = sign(a), 0 at 0
};

struct Relu {
  template <class T> static T f(T a) { return a <= T(0) ? T(0) : a; }  // relu(-0) = +0; nan stays nan
  template <class S> static S d(const S& out) { return step(out); }   // [a > 0], and out > 0 iff a > 0
};

struct Tanh {
  template <class T> static T f(T a) { return tanh_of(a); }
  template <class S> static S d(const S& out) { return S(1) - out * out; }  // 1 - tanh(a)^2
};

struct Sigmoid {
  template <class T> static T f(T a) { return sigmoid_of(a); }
  template <class S> static S d(const S& out) { return out * (S(1) - out); }  // s (1 - s)
};

struct Exp {
  template <class T> static T f(T a) { return std::exp(a); }
  template <class S> static S d(const S& out) { return out; }  // d e^a/da = e^a
};

struct Log {
  template <class T> static T f(T a) { return std::log(a); }
  template <class S> static S d(const S& a) { return S(1) / a; }  // d ln(a)/da = 1/a
};

struct Sqrt {
  template <class T> static T f(T a) { return std::sqrt(a); }
  template <class S> static S d(const S& out) { return S(1) / (S(2) * out); }  // 1 / (2 sqrt(a))
};

struct Sin {
  template <class T> static T f(T a) { return std::sin(a); }
  template <class S> static S d(const S& a) { return cos(a); }  // d sin(a)/da = cos(a)
};

struct Cos {
  template <class T> static T f(T a) { return std::cos(a); }
  template <class S> static S d(const S& a) { return -sin(a); }  // d cos(a)/da = -sin(a)
};

struct Log1p {
  template <class T> static T f(T a) { return std::log1p(a); }
  template <class S> static S d(const S& a) { return S(1) / (S(1) + a); }  // d ln(1 + a)/da = 1 / (1 + a)
};

struct Expm1 {
  template <class T> static T f(T a) { return std::expm1(a); }
  template <class S> static S d(const S& out) { return out + S(1); }  // d (e^a - 1)/da = e^a
};

// ---- comparisons: 1 or 0 in the operands' dtype, no gradient -------------------

struct Lt { template <class T> static T f(T a, T b) { return static_cast<T>(a < b); } };
struct Le { template <class T> static T f(T a, T b) { return static_cast<T>(a <= b); } };
struct Gt { template <class T> static T f(T a, T b) { return static_cast<T>(a > b); } };
struct Ge { template <class T> static T f(T a, T b) { return static_cast<T>(a >= b); } };
struct Eq { template <class T> static T f(T a, T b) { return static_cast<T>(a == b); } };
struct Ne { template <class T> static T f(T a, T b) { return static_cast<T>(a != b); } };

// ---- traits ---------------------------------------------------------------------

template <class R, class = void>
struct ParamCount : std::integral_constant<int, 0> {};
template <class R>
struct ParamCount<R, std::void_t<decltype(R::kParams)>> : std::integral_constant<int, R::kParams> {};

// kPiecewise: the rule's local derivative is piecewise constant (a step, a
// mask, a slope): the recorded backward takes it as a constant of the graph,
// evaluated by the kernel, so `d` is written for plain numbers only.
template <class R, class = void>
struct Piecewise : std::false_type {};
template <class R>
struct Piecewise<R, std::void_t<decltype(R::kPiecewise)>> : std::bool_constant<R::kPiecewise> {};

template <class R, class = void>
struct UnaryPass : std::integral_constant<int, 0> {};
template <class R>
struct UnaryPass<R, std::void_t<decltype(R::kPass)>> : std::integral_constant<int, R::kPass> {};

// f and d of a unary rule, whatever number of the op's numbers it takes.
template <class R, class T>
T forward1(T a, double k, double k2 = 0.0) {
  if constexpr (ParamCount<R>::value == 2) return R::f(a, k, k2);
  else if constexpr (ParamCount<R>::value == 1) return (void)k2, R::f(a, k);
  else return (void)k, (void)k2, R::f(a);
}
template <class R, class S>
S local1(const S& s, double k, double k2 = 0.0) {
  if constexpr (ParamCount<R>::value == 2) return R::d(s, k, k2);
  else if constexpr (ParamCount<R>::value == 1) return (void)k2, R::d(s, k);
  else return (void)k, (void)k2, R::d(s);
}

}  // namespace tapegrad::rules
