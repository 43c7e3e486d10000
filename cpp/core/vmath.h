// Vector math: e^x, ln x, tanh, sigmoid and erf over arrays of float32 and
// float64, and the softmax of rows, SIMD-wide, with the instruction set
// chosen when the library loads.
//
// Note [Vector math]
// The Tensor kernels of exp, log, tanh and sigmoid (forward), of the softmax
// family and of cross_entropy call these instead of the C library's scalar
// functions, one element at a time (~5 ns an element). Value stays on the C
// library, so that Value results are the reference's bit for bit.
//
// - Accuracy (Note [Numerics] in docs/DESIGN.md): within 2 ulp of the
//   correctly rounded result, in float32 and float64, and the same NaN, inf,
//   signed zero, overflow, underflow and subnormal results as the C library.
//   float32 is computed in double with shorter polynomials and rounded once
//   (~1e-11 relative before rounding, so within 1 ulp and nearly always
//   correctly rounded); float64 keeps the usual reductions and polynomials of
//   double libms. tests/test_vmath.py checks every float32 in each function's
//   useful range and millions of float64 samples (vmath_check.cpp).
// - How (vmath_lanes.h): each function is one element's worth of
//   straight-line code: range reduction with integer tricks on the bits
//   (no table, no call), polynomials by Horner's rule (coefficients fitted by
//   make_vmath_coeffs.py, in vmath_coeffs.h), special values by selects on
//   every lane. A loop over it vectorises; GCC needs -fno-trapping-math
//   (CMakeLists.txt) to compute both sides of a select.
// - Dispatch (vmath.cpp): the loops are compiled three times, for baseline
//   x86-64 (SSE2), AVX2 and AVX-512F, with __attribute__((target)); the
//   first call picks the widest the CPU and OS support (cpuid through
//   __builtin_cpu_supports), so a wheel built for baseline x86-64 runs
//   anywhere. Other architectures (aarch64: NEON is baseline) and compilers
//   get the one baseline build. No clone contracts a*b+c into an FMA (C++17
//   mode leaves -ffp-contract off): every clone performs the same IEEE
//   operations in the same order, so results are bitwise the same on every
//   CPU, and tests check that each clone the machine has agrees.
// - Layout: contiguous arrays; y may be x itself (in place), but the two must
//   not otherwise overlap. Strided tensors are made contiguous first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapegrad::vmath {

enum class Fn { Exp, Log, Tanh, Sigmoid, Erf };
const char* fn_name(Fn f);
bool fn_from_name(const char* name, Fn& f);

// y[i] = f(x[i]) for i < n.
void apply(Fn f, const float* x, float* y, std::size_t n);
void apply(Fn f, const double* x, double* y, std::size_t n);

inline void exp(const float* x, float* y, std::size_t n) { apply(Fn::Exp, x, y, n); }
inline void exp(const double* x, double* y, std::size_t n) { apply(Fn::Exp, x, y, n); }
inline void log(const float* x, float* y, std::size_t n) { apply(Fn::Log, x, y, n); }
inline void log(const double* x, double* y, std::size_t n) { apply(Fn::Log, x, y, n); }
inline void tanh(const float* x, float* y, std::size_t n) { apply(Fn::Tanh, x, y, n); }
inline void tanh(const double* x, double* y, std::size_t n) { apply(Fn::Tanh, x, y, n); }
inline void sigmoid(const float* x, float* y, std::size_t n) { apply(Fn::Sigmoid, x, y, n); }
inline void sigmoid(const double* x, double* y, std::size_t n) { apply(Fn::Sigmoid, x, y, n); }
inline void erf(const float* x, float* y, std::size_t n) { apply(Fn::Erf, x, y, n); }
inline void erf(const double* x, double* y, std::size_t n) { apply(Fn::Erf, x, y, n); }

// softmax (or, with log, log_softmax) of each row of a contiguous
// rows x len matrix; in and out must not overlap. As
// exp(a - max) / sum, max and sum per row, with the exponentials above.
void softmax_rows(const float* in, float* out, std::int64_t rows, std::int64_t len, bool log);
void softmax_rows(const double* in, double* out, std::int64_t rows, std::int64_t len, bool log);

// The instruction sets: "avx512f", "avx2", "baseline" (widest first). isa()
// is the one in use; isa_available() those this CPU runs; set_isa() switches
// to one of those (for tests and benchmarks) and returns false for any other.
const char* isa();
const char* const* isa_available();  // null-terminated
bool set_isa(const char* name);

}  // namespace tapegrad::vmath
