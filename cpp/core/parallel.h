// Elementwise kernels split over the BLAS pool's threads (Note [Parallel
// kernels] in docs/DESIGN.md).
//
// parallel_for(n, grain, f) calls f(begin, end) on disjoint ranges that
// cover [0, n): on the calling thread alone when n is small, when one thread
// is set (tg.set_num_threads), or when called from a pool job; otherwise on
// up to that many threads at once: each takes ranges until none is left, so
// a worker that a busy machine keeps waiting is never waited for. Every
// element is computed by the same code whichever range it falls in, so the
// results do not depend on the thread count. Only kernels whose elements are
// independent use it: a sum's order would change with the split.
#pragma once

#include <algorithm>
#include <cstdint>
#include <array>
#include <atomic>
#include <exception>

#include "array.h"

namespace tapegrad {

// Elements below which a kernel stays on one thread: handing a range to a
// spinning worker costs about a microsecond, a sleeping one tens.
constexpr std::int64_t kParallelGrain = std::int64_t{1} << 14;

// The grain of parallel_for over items of `size` elements each (rows of a
// softmax, say): as many whole items as make `grain` elements, at least one.
inline std::int64_t row_grain(std::int64_t size, std::int64_t grain = kParallelGrain) {
  return std::max<std::int64_t>(1, grain / std::max<std::int64_t>(size, 1));
}

// Kernels split over threads so far (for tests: proof that a split happened).
std::int64_t parallel_runs();

namespace parallel_detail {
// How many ranges to cut n into (1: run on the calling thread).
int jobs_for(std::int64_t n, std::int64_t grain);
// Runs work(ctx) on this thread and on the pool's workers that come in time
// (at most jobs - 1); returns when all of those are done. Sleeping workers
// are woken only when `wake` (enough work to pay for it).
void run(int jobs, void (*work)(void*), void* ctx, bool wake);

// Work (in grains) from which sleeping workers are woken for a kernel.
constexpr std::int64_t kWakeGrains = 8;

template <class F>
struct Ctx {
  F* f;
  std::int64_t n;
  int jobs;
  std::atomic<int> next{0};
  std::exception_ptr error[8];
};

// Range j of `jobs`; long ranges start at a multiple of 16 elements (one
// vector of the widest lanes), so that no two threads write one cache line.
inline std::int64_t bound(std::int64_t n, int j, int jobs) {
  if (j == jobs) return n;
  const std::int64_t b = n / jobs * j;
  return n / jobs >= 256 ? b & ~std::int64_t{15} : b;
}

// Takes ranges until none is left: whichever threads come share the work.
template <class F>
void work(void* p) {
  auto& c = *static_cast<Ctx<F>*>(p);
  for (int j; (j = c.next.fetch_add(1)) < c.jobs;) {
    try {
      (*c.f)(bound(c.n, j, c.jobs), bound(c.n, j + 1, c.jobs));
    } catch (...) {
      c.error[j] = std::current_exception();
    }
  }
}

// f over [0, n) in `jobs` ranges, waking sleeping workers if `wake`.
template <class F>
void run_ranges(std::int64_t n, int jobs, bool wake, F& f) {
  Ctx<F> ctx;
  ctx.f = &f;
  ctx.n = n;
  ctx.jobs = jobs;
  run(jobs, work<F>, &ctx, wake);
  for (int j = 0; j < jobs; ++j)
    if (ctx.error[j]) std::rethrow_exception(ctx.error[j]);
}
}  // namespace parallel_detail

template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& f) {
  const int jobs = parallel_detail::jobs_for(n, grain);
  if (jobs <= 1) {
    f(std::int64_t{0}, n);
    return;
  }
  parallel_detail::run_ranges(n, jobs, n >= parallel_detail::kWakeGrains * grain, f);
}

// f(p) for each of `parts` large pieces of work (a product's parts: Note
// [Matmul parts] in matmul.cpp), on up to that many threads, waking sleeping
// workers: each part is worth it.
template <class F>
void parallel_parts(std::int64_t parts, F&& f) {
  auto each = [&f](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) f(p);
  };
  const int jobs = parallel_detail::jobs_for(parts, 1);
  if (jobs <= 1) {
    each(std::int64_t{0}, parts);
    return;
  }
  parallel_detail::run_ranges(parts, jobs, true, each);
}

// ---- over the elements of arrays --------------------------------------------------

// Rows [i, j) of x along dim 0: a view of the same storage.
inline Array rows_of(const Array& x, std::int64_t i, std::int64_t j) {
  Array v = x;
  v.offset += i * x.strides[0];
  v.shape[0] = j - i;
  return v;
}

// x as one dim of n elements when its layout allows (contiguous, or one
// value broadcast everywhere), so that any array splits into equal ranges.
inline bool flat_view(const Array& x, std::int64_t n, Array& out) {
  const bool contiguous = x.is_contiguous();
  if (!contiguous && !std::all_of(x.strides.begin(), x.strides.end(), [](std::int64_t s) { return s == 0; })) return false;
  out = x;
  out.shape = Shape{n};
  out.strides = Shape{contiguous ? 1 : 0};
  return true;
}

// kernel(views of xs, i): the views hold the output's elements [i, i + m),
// on several threads when the output is large: flat ranges when every
// operand flattens, else blocks of rows (dim 0). The views cover exactly
// the range's elements, so each element sees the operands it sees unsplit.
template <std::size_t K, class Kernel>
void split_elements(const std::array<const Array*, K>& xs, Kernel&& kernel) {
  const Array& x0 = *xs[0];
  const std::int64_t n = x0.numel();
  if (x0.ndim() == 0 || parallel_detail::jobs_for(n, kParallelGrain) <= 1) {
    kernel(xs, std::int64_t{0});  // the common case: small, no copies of the Arrays
    return;
  }
  std::array<Array, K> v;
  bool flat = true;
  for (std::size_t k = 0; k < K && flat; ++k) flat = flat_view(*xs[k], n, v[k]);
  if (!flat)
    for (std::size_t k = 0; k < K; ++k) v[k] = *xs[k];
  const std::int64_t rows = v[0].shape[0], inner = n / std::max<std::int64_t>(rows, 1);
  parallel_for(rows, row_grain(inner),
               [&](std::int64_t i, std::int64_t j) {
                 std::array<Array, K> part;
                 std::array<const Array*, K> ptrs;
                 for (std::size_t k = 0; k < K; ++k) {
                   part[k] = rows_of(v[k], i, j);
                   ptrs[k] = &part[k];
                 }
                 kernel(ptrs, i * inner);
               });
}

}  // namespace tapegrad
