// The array loops of vmath.h, compiled once per instruction set, and the
// run-time choice among them (Note [Vector math] in vmath.h).
#include "vmath.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "parallel.h"
#include "vmath_lanes.h"
#include "vmath_softmax.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define TG_VMATH_X86 1
#endif

namespace tapegrad::vmath {

namespace {

template <Fn F, class T>
TG_VMATH_INLINE T one(T x) {
  if constexpr (F == Fn::Exp) return lanes::exp(x);
  else if constexpr (F == Fn::Log) return lanes::log(x);
  // float32 tanh is the double tanh rounded once: correctly rounded, as the
  // scalar kernel was before (Note [float32 tanh]), at half the float lanes.
  else if constexpr (F == Fn::Tanh && sizeof(T) == sizeof(float)) return static_cast<T>(lanes::tanh(static_cast<double>(x)));
  else if constexpr (F == Fn::Tanh) return lanes::tanh(x);
  else if constexpr (F == Fn::Sigmoid) return lanes::sigmoid(x);
  else return lanes::erf(x);
}

// Two loops, so that neither needs a run-time overlap check to vectorise:
// separate arrays (restrict), or one array in place.
template <Fn F, class T>
TG_VMATH_INLINE void loop(const T* __restrict x, T* __restrict y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = one<F>(x[i]);
}
template <Fn F, class T>
TG_VMATH_INLINE void loop_in_place(T* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = one<F>(y[i]);
}

template <Fn F, class T>
TG_VMATH_INLINE void run_fn(const T* x, T* y, std::size_t n) {
  if (x == y) loop_in_place<F>(y, n);
  else loop<F>(x, y, n);
}

template <class T>
TG_VMATH_INLINE void run(Fn f, const T* x, T* y, std::size_t n) {
  switch (f) {
    case Fn::Exp: run_fn<Fn::Exp>(x, y, n); break;
    case Fn::Log: run_fn<Fn::Log>(x, y, n); break;
    case Fn::Tanh: run_fn<Fn::Tanh>(x, y, n); break;
    case Fn::Sigmoid: run_fn<Fn::Sigmoid>(x, y, n); break;
    case Fn::Erf: run_fn<Fn::Erf>(x, y, n); break;
  }
}

template <class T>
TG_VMATH_INLINE void softmax_any(const T* in, T* out, std::int64_t rows, std::int64_t len, bool log) {
  if (log) rows::softmax<T, true>(in, out, rows, len);
  else rows::softmax<T, false>(in, out, rows, len);
}

using Run32 = void (*)(Fn, const float*, float*, std::size_t);
using Run64 = void (*)(Fn, const double*, double*, std::size_t);
using Softmax32 = void (*)(const float*, float*, std::int64_t, std::int64_t, bool);
using Softmax64 = void (*)(const double*, double*, std::int64_t, std::int64_t, bool);

// The same source, compiled for one instruction set: the inlined lanes take
// the target of the function they are inlined into.
#define TG_VMATH_CLONE(suffix, attr)                                                                 \
  attr void run32_##suffix(Fn f, const float* x, float* y, std::size_t n) { run(f, x, y, n); }     \
  attr void run64_##suffix(Fn f, const double* x, double* y, std::size_t n) { run(f, x, y, n); }   \
  attr void softmax32_##suffix(const float* in, float* out, std::int64_t r, std::int64_t n, bool log) { \
    softmax_any(in, out, r, n, log);                                                                  \
  }                                                                                                    \
  attr void softmax64_##suffix(const double* in, double* out, std::int64_t r, std::int64_t n, bool log) { \
    softmax_any(in, out, r, n, log);                                                                    \
  }

TG_VMATH_CLONE(baseline, )
#ifdef TG_VMATH_X86
TG_VMATH_CLONE(avx2, __attribute__((target("avx2"))))
TG_VMATH_CLONE(avx512f, __attribute__((target("avx512f"))))
#endif
#undef TG_VMATH_CLONE

struct Isa {
  const char* name;
  Run32 run32;
  Run64 run64;
  Softmax32 softmax32;
  Softmax64 softmax64;
  bool (*supported)();
};

bool always() { return true; }
#ifdef TG_VMATH_X86
// __builtin_cpu_supports checks the CPU's cpuid bits and that the OS saves
// the wider registers (XGETBV).
bool has_avx2() { __builtin_cpu_init(); return __builtin_cpu_supports("avx2"); }
bool has_avx512f() { __builtin_cpu_init(); return __builtin_cpu_supports("avx512f"); }
#endif

const Isa kIsas[] = {  // widest first
#ifdef TG_VMATH_X86
    {"avx512f", run32_avx512f, run64_avx512f, softmax32_avx512f, softmax64_avx512f, has_avx512f},
    {"avx2", run32_avx2, run64_avx2, softmax32_avx2, softmax64_avx2, has_avx2},
#endif
    {"baseline", run32_baseline, run64_baseline, softmax32_baseline, softmax64_baseline, always},
};
constexpr int kIsaCount = static_cast<int>(sizeof(kIsas) / sizeof(kIsas[0]));

std::atomic<int> current{-1};  // index into kIsas; -1 until the first call

int widest() {
  for (int i = 0; i < kIsaCount; ++i)
    if (kIsas[i].supported()) return i;
  return kIsaCount - 1;
}

const Isa& active() {
  int i = current.load(std::memory_order_relaxed);
  if (i < 0) {
    i = widest();
    current.store(i, std::memory_order_relaxed);
  }
  return kIsas[i];
}

const char* const kFnNames[] = {"exp", "log", "tanh", "sigmoid", "erf"};

}  // namespace

const char* fn_name(Fn f) { return kFnNames[static_cast<int>(f)]; }

bool fn_from_name(const char* name, Fn& f) {
  for (int i = 0; i < 5; ++i)
    if (std::strcmp(name, kFnNames[i]) == 0) {
      f = static_cast<Fn>(i);
      return true;
    }
  return false;
}

// Each element (each row of a softmax) is computed alone, so the ranges of
// parallel_for give the bits one thread gives.
void apply(Fn f, const float* x, float* y, std::size_t n) {
  const Isa& isa = active();
  parallel_for(static_cast<std::int64_t>(n), kParallelGrain,
               [&](std::int64_t i, std::int64_t j) { isa.run32(f, x + i, y + i, static_cast<std::size_t>(j - i)); });
}
void apply(Fn f, const double* x, double* y, std::size_t n) {
  const Isa& isa = active();
  parallel_for(static_cast<std::int64_t>(n), kParallelGrain,
               [&](std::int64_t i, std::int64_t j) { isa.run64(f, x + i, y + i, static_cast<std::size_t>(j - i)); });
}

void softmax_rows(const float* in, float* out, std::int64_t rows, std::int64_t len, bool log) {
  const Isa& isa = active();
  parallel_for(rows, row_grain(len), [&](std::int64_t i, std::int64_t j) {
    isa.softmax32(in + i * len, out + i * len, j - i, len, log);
  });
}
void softmax_rows(const double* in, double* out, std::int64_t rows, std::int64_t len, bool log) {
  const Isa& isa = active();
  parallel_for(rows, row_grain(len), [&](std::int64_t i, std::int64_t j) {
    isa.softmax64(in + i * len, out + i * len, j - i, len, log);
  });
}

const char* isa() { return active().name; }

const char* const* isa_available() {
  static const char* names[kIsaCount + 1] = {};
  static const bool filled = [] {
    int j = 0;
    for (int i = 0; i < kIsaCount; ++i)
      if (kIsas[i].supported()) names[j++] = kIsas[i].name;
    return true;
  }();
  (void)filled;
  return names;
}

bool set_isa(const char* name) {
  for (int i = 0; i < kIsaCount; ++i)
    if (std::strcmp(name, kIsas[i].name) == 0 && kIsas[i].supported()) {
      current.store(i, std::memory_order_relaxed);
      return true;
    }
  return false;
}

}  // namespace tapegrad::vmath
