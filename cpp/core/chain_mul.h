// The chain rule's product upstream * local of the Value sweep, exact and
// fast for subnormals (Note [Subnormal products]).
#pragma once

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
// at about twice a normal product's cost: 4.6 ns a dependent product against
// 10.9 ns for the integer path (measured on an EPYC), where W2's eager
// backward at 10^5 steps took 3.5 ms with the integer path and 2.5-2.8 ms
// without. So the integer path is taken where the CPU says it is Intel's
// (soft_subnormal_products(), decided once at load); everywhere else the
// hardware's product, which has the same bits. Tests run both paths
// (`_core._set_soft_subnormal_products`).

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
  if (ex + ey >= 1024 || x == 0.0 || y == 0.0 || ex == 0x7ff || ey == 0x7ff || !soft_subnormal_products()) return x * y;
  return detail::tiny_product(ux, uy, ex, ey);
}

}  // namespace tapegrad::rules
