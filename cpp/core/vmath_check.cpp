// The accuracy checks of vmath_check.h. Inputs are enumerated (or drawn) in
// chunks; each chunk goes through vmath (the dispatched SIMD loops, as the
// kernels call them) and through the C library, one element at a time. The
// chunks are shared among threads through an atomic counter; each thread
// keeps its own worst case, and the reports are merged at the end.
#include "vmath_check.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace tapegrad::vmath {

namespace {

constexpr std::int64_t kChunk = 1 << 14;

// Floats in order as integers: -0 is -1, +0 is 0, neighbours differ by 1.
std::int64_t key_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return (u >> 31) ? -1 - static_cast<std::int64_t>(u & 0x7fffffffu) : static_cast<std::int64_t>(u);
}
float float_of(std::int64_t k) {
  std::uint32_t u = k < 0 ? (0x80000000u | static_cast<std::uint32_t>(-1 - k)) : static_cast<std::uint32_t>(k);
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
std::int64_t key_of(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return (u >> 63) ? -1 - static_cast<std::int64_t>(u & 0x7fffffffffffffffULL) : static_cast<std::int64_t>(u);
}
double double_of(std::int64_t k) {
  std::uint64_t u = k < 0 ? (0x8000000000000000ULL | static_cast<std::uint64_t>(-1 - k)) : static_cast<std::uint64_t>(k);
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Rounded to float; beyond float's range inf (a plain cast would be undefined).
float to_float(double d) {
  if (std::fabs(d) >= 0x1.ffffffp127) return static_cast<float>(std::copysign(HUGE_VAL, d));
  return static_cast<float>(d);
}

template <class R>
R reference(Fn f, R x) {
  using std::erf, std::exp, std::log, std::tanh;
  switch (f) {
    case Fn::Exp: return exp(x);
    case Fn::Log: return log(x);
    case Fn::Tanh: return tanh(x);
    case Fn::Erf: return erf(x);
    case Fn::Sigmoid: break;
  }
  if (x >= 0) return R(1) / (R(1) + exp(-x));
  R e = exp(x);
  return e / (R(1) + e);
}

// NaN, -inf, -0, finite nonzero, +0, +inf: results of two classes never match.
int value_class(double y) {
  if (std::isnan(y)) return 0;
  if (std::isinf(y)) return y < 0 ? 1 : 5;
  if (y == 0) return std::signbit(y) ? 2 : 4;
  return 3;
}

// Records one comparison; `err` only for two finite nonzero results.
void note(UlpReport& r, double x, double got, double want, double err) {
  ++r.count;
  if (value_class(got) != value_class(want)) {
    if (r.wrong_class++ == 0) r.wrong_class_x = x;
    return;
  }
  if (err > r.max_ulp) {
    r.max_ulp = err;
    r.worst_x = x;
    r.worst_got = got;
    r.worst_want = want;
  }
}

void merge(UlpReport& into, const UlpReport& r) {
  if (r.shortcut_wrong && (!into.shortcut_wrong || r.shortcut_wrong_x < into.shortcut_wrong_x)) into.shortcut_wrong_x = r.shortcut_wrong_x;
  into.shortcut_wrong += r.shortcut_wrong;
  if (r.wrong_class && (!into.wrong_class || r.wrong_class_x < into.wrong_class_x)) into.wrong_class_x = r.wrong_class_x;
  into.wrong_class += r.wrong_class;
  into.count += r.count;
  if (r.max_ulp > into.max_ulp || (r.max_ulp == into.max_ulp && r.max_ulp > 0 && r.worst_x < into.worst_x)) {
    into.max_ulp = r.max_ulp;
    into.worst_x = r.worst_x;
    into.worst_got = r.worst_got;
    into.worst_want = r.worst_want;
  }
}

// Runs chunk(i, report) for i in [0, chunks) on `threads` threads.
template <class Body>
UlpReport run_chunks(std::int64_t chunks, int threads, Body body) {
  std::atomic<std::int64_t> next{0};
  UlpReport total;
  std::mutex mu;
  auto work = [&] {
    UlpReport mine;
    for (std::int64_t i; (i = next.fetch_add(1)) < chunks;) body(i, mine);
    std::lock_guard<std::mutex> lock(mu);
    merge(total, mine);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(threads, 1); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return total;
}

// 64 random bits, a fixed function of the state (splitmix64).
std::uint64_t next_bits(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double ulp_of(double y) {  // the spacing of doubles at |y|
  int e;
  std::frexp(y, &e);
  return std::ldexp(1.0, std::max(e - 53, -1074));
}

}  // namespace

namespace {

// The correctly rounded float32 result where it has a closed form, so that
// the exhaustive check need not call the C library a billion times to learn
// that e^x rounds to 1: |x| < 2^-26 puts e^x within 2^-26 of 1 and
// sigmoid(x) within 2^-28 of 1/2, closer than half the spacing of floats
// on either side; for |x| < 2^-12, x - tanh x < |x|^3 / 3 is below half
// the spacing under x (Note [Vector math] in vmath.h).
bool closed_form(Fn f, float x, float& y) {
  float ax = std::fabs(x);
  if (f == Fn::Exp && ax < 0x1p-26f) y = 1.0f;
  else if (f == Fn::Sigmoid && ax < 0x1p-26f) y = 0.5f;
  else if (f == Fn::Tanh && ax < 0x1p-12f) y = x;
  else return false;
  return true;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

}  // namespace

UlpReport check_f32(Fn f, Fn ref, float lo, float hi, bool odd_half, std::int64_t stride, int threads) {
  const std::int64_t k0 = key_of(lo), k1 = key_of(hi), step = std::max<std::int64_t>(stride, 1);
  const std::int64_t total = k1 < k0 ? 0 : (k1 - k0) / step + 1;  // inputs
  const std::int64_t chunks = (total + kChunk - 1) / kChunk;
  return run_chunks(chunks, threads, [&](std::int64_t c, UlpReport& rep) {
    const std::int64_t first = c * kChunk;
    const std::size_t n = static_cast<std::size_t>(std::min(kChunk, total - first));
    std::vector<float> x(n), y(n), xm(n), ym(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = float_of(k0 + (first + static_cast<std::int64_t>(i)) * step);
    apply(f, x.data(), y.data(), n);
    if (odd_half && std::signbit(x[0])) {  // keys ascend: negatives come first
      for (std::size_t i = 0; i < n; ++i) xm[i] = -x[i];
      apply(f, xm.data(), ym.data(), n);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (odd_half && std::signbit(x[i])) {  // f(x) must be -f(-x), bit for bit
        note(rep, x[i], y[i], -ym[i], same_bits(y[i], -ym[i]) ? 0.0 : HUGE_VAL);
        continue;
      }
      float want;
      if (closed_form(ref, x[i], want)) {
        // every 1024th: the C library must agree with the closed form
        if ((first + static_cast<std::int64_t>(i)) % 1024 == 0 && !same_bits(want, to_float(reference<double>(ref, x[i])))) {
          if (rep.shortcut_wrong++ == 0) rep.shortcut_wrong_x = x[i];
        }
      } else {
        want = to_float(reference<double>(ref, x[i]));
      }
      if (std::memcmp(&y[i], &want, sizeof want) == 0) {  // the common case: the same bits
        ++rep.count;
        continue;
      }
      double err = static_cast<double>(std::llabs(key_of(y[i]) - key_of(want)));
      note(rep, x[i], y[i], want, err);
    }
  });
}

UlpReport check_f64(Fn f, Fn ref, double lo, double hi, std::uint64_t n, std::uint64_t seed, int threads) {
  const std::int64_t k0 = key_of(lo), k1 = key_of(hi);
  const std::int64_t chunks = static_cast<std::int64_t>((n + kChunk - 1) / kChunk);
  return run_chunks(chunks, threads, [&](std::int64_t c, UlpReport& rep) {
    const std::uint64_t from = static_cast<std::uint64_t>(c) * kChunk;
    const std::size_t m = static_cast<std::size_t>(std::min<std::uint64_t>(n - from, kChunk));
    std::uint64_t state = seed * 0x2545f4914f6cdd1dULL + static_cast<std::uint64_t>(c);
    std::vector<double> x(m), y(m);
    const auto span = static_cast<std::uint64_t>(k1 - k0) + 1;  // k1 >= k0: the keys of [lo, hi]
    for (std::size_t i = 0; i < m; ++i) {
      std::uint64_t b = next_bits(state);
      if (i % 2) x[i] = double_of(k0 + static_cast<std::int64_t>(b % span));
      else x[i] = lo + (hi - lo) * (static_cast<double>(b >> 11) * 0x1p-53);
    }
    apply(f, x.data(), y.data(), m);
    for (std::size_t i = 0; i < m; ++i) {
      long double want = reference<long double>(ref, static_cast<long double>(x[i]));
      double wd = static_cast<double>(want);
      double err = 0;
      if (std::isfinite(y[i]) && std::isfinite(wd) && y[i] != 0 && wd != 0) {
        double small = std::min(std::fabs(y[i]), std::fabs(wd));  // the finer ulp of the two
        err = static_cast<double>(std::fabs(static_cast<long double>(y[i]) - want) / ulp_of(small));
      }
      note(rep, x[i], y[i], wd, err);
    }
  });
}

}  // namespace tapegrad::vmath
