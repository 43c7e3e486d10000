// Subnormal products (Note [Subnormal products] in chain_mul.h): which path
// chain_mul takes, the integer one where the CPU is Intel's, whose hardware
// takes a microcode assist on them, the hardware's product everywhere else;
// and the integer path itself.
#include "chain_mul.h"

#include <atomic>
#include <cstdint>

namespace tapegrad::rules {

namespace {

bool intel_cpu() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_is("intel");
#elif defined(_M_X64) || defined(_M_IX86)
  return true;  // not asked: the integer path, which is never slow
#else
  return false;
#endif
}

// The exact product a * b of two 53-bit integers as 128 bits (hi, lo),
// portably (no __int128 on MSVC).
void mul_53x53(std::uint64_t a, std::uint64_t b, std::uint64_t& hi, std::uint64_t& lo) {
  std::uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
  std::uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  std::uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
  lo = (mid << 32) | (p00 & 0xffffffffu);
  hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

}  // namespace

namespace detail {

// Relaxed: a sweep reads it, a test sets it between sweeps; both paths give the same bits.
std::atomic<bool> g_soft_subnormal{intel_cpu()};

// x * y, correctly rounded, for finite nonzero x and y whose biased exponent
// fields ex + ey < 1024, i.e. |x * y| < 2^-1021: a subnormal result, or one
// in the lowest normal binade, or an underflow to zero.
double tiny_product(std::uint64_t ux, std::uint64_t uy, int ex, int ey) noexcept {
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

bool soft_subnormal_products() noexcept { return detail::g_soft_subnormal.load(std::memory_order_relaxed); }
void set_soft_subnormal_products(bool on) noexcept { detail::g_soft_subnormal.store(on, std::memory_order_relaxed); }

}  // namespace tapegrad::rules
