// The chain rule's product upstream * local of the Value sweep, exact and
// fast for subnormals (Note [Subnormal products]).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

namespace tapegrad::rules {

// Note [Subnormal products]
// The backward sweep multiplies upstream * local at every edge. A gradient
// that vanishes along a deep chain (W2: 0.979 per step) goes subnormal after
// a few thousand steps, and then stays at the smallest subnormal, 5e-324, as
// long as the local factors are above 1/2. On Intel's x86 cores every
// multiplication with a subnormal operand or result takes a microcode assist
// of ~100 cycles (27 ns measured, against 0.5 ns), which made 80% of a
// 10^6-step W2 backward.
// Flushing subnormals to zero (FTZ/DAZ) would change results (docs/API.md: plain
// IEEE 754 double, the same bits as the reference). So `chain_mul` takes the
// hardware product wherever it is normal, and computes the other products
// exactly in integers: the 106-bit product of the two significands, rounded
// to nearest-even on the subnormal grid (units of 2^-1074). Additions of
// subnormals cost no assist and stay as they are.
// That assist is Intel's. AMD's cores (Zen) multiply subnormals in hardware
// at little more than a normal product's cost: 1.26 ns a dependent product
// against 0.91 ns (measured on an EPYC, operands in registers). So the
// integer path is taken where the CPU says it is Intel's
// (soft_subnormal_products(), decided once at load); everywhere else the
// hardware's product, which has the same bits. Tests run both paths
// (`_core._set_soft_subnormal_products`).
// chain_mul reads that choice inline (detail::g_soft_subnormal) and keeps the
// integer path out of line. Asking a function for it, as chain_mul once did
// on each subnormal product, cost a call through the PLT with both operands
// spilled to the stack: W2's compiled backward at 10^5 steps went from
// 1.6-2.0 ms to 0.8-1.0 ms without it.

// Whether subnormal products take the integer path (chain_mul.cpp).
bool soft_subnormal_products() noexcept;
void set_soft_subnormal_products(bool on) noexcept;  // tests: either path, same bits

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

// x * y, correctly rounded, for finite nonzero x and y whose biased exponent
// fields ex + ey < 1024, i.e. |x * y| < 2^-1021: a subnormal result, or one
// in the lowest normal binade, or an underflow to zero (chain_mul.cpp; out of
// line, so that chain_mul inlines into the sweeps as one test and a product).
double tiny_product(std::uint64_t ux, std::uint64_t uy, int ex, int ey) noexcept;

// The path soft_subnormal_products() reports, read inline by chain_mul.
extern std::atomic<bool> g_soft_subnormal;

}  // namespace detail

// upstream * local, the same bits as the hardware's IEEE product, fast for
// subnormals too (Note [Subnormal products]).
inline double chain_mul(double x, double y) {
  if (!detail::g_soft_subnormal.load(std::memory_order_relaxed)) return x * y;
  std::uint64_t ux = detail::bits_of(x), uy = detail::bits_of(y);
  int ex = static_cast<int>((ux >> 52) & 0x7ff), ey = static_cast<int>((uy >> 52) & 0x7ff);
  // A normal (or overflowing) product, a zero, an infinity or a NaN: the
  // hardware's product costs no assist, or is too rare to matter.
  if (ex + ey >= 1024 || x == 0.0 || y == 0.0 || ex == 0x7ff || ey == 0x7ff) return x * y;
  return detail::tiny_product(ux, uy, ex, ey);
}

}  // namespace tapegrad::rules
