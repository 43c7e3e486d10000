// Accuracy checks of vmath.h against the C library, for the tests
// (the kernel of f against the C library's `ref`: f itself but in tests
// that show the checks can fail)
// (tests/test_vmath.py drives them through _core._vmath_check_f32/_f64).
// Note [Vector math] in vmath.h states the bound they check.
#pragma once

#include <cstdint>

#include "vmath.h"

namespace tapegrad::vmath {

struct UlpReport {
  double max_ulp = 0;       // the largest error found, in ulps of the reference
  double worst_x = 0;       // an input where it occurs
  double worst_got = 0;     // vmath's result there
  double worst_want = 0;    // the reference there
  std::uint64_t count = 0;  // inputs checked
  std::uint64_t wrong_class = 0;  // results of another class than the reference's (NaN, inf, signed zero)
  double wrong_class_x = 0;       // the first such input
  std::uint64_t shortcut_wrong = 0;  // check_f32: closed forms the C library disagrees with
  double shortcut_wrong_x = 0;
};

// Every `stride`-th float32 in [lo, hi] (stride 1: every one), against the
// float64 C library rounded to float32 (sigmoid: 1 / (1 + e^-x) in double),
// or the correctly rounded result where it has a closed form (e^x for
// |x| < 2^-26, ...; every 1024th of those is checked against the C library
// too). The error is the distance in float32 ulps (an integer). For odd
// functions (tanh, erf) `odd_half` checks x >= 0 against the reference and
// x < 0 only for f(x) == -f(-x), bit for bit.
UlpReport check_f32(Fn f, Fn ref, float lo, float hi, bool odd_half, std::int64_t stride, int threads);

// n float64 inputs drawn in [lo, hi] (half uniform in value, half uniform in
// the bit pattern, so every binade is sampled), against the C library in
// long double; the error is |got - want| / ulp(want) (a real number). The
// draw is a fixed function of the seed.
UlpReport check_f64(Fn f, Fn ref, double lo, double hi, std::uint64_t n, std::uint64_t seed, int threads);

}  // namespace tapegrad::vmath
