// The normalizations' kernels (Note [Normalization numerics] in kernels_nn.h).
#include <cmath>

#include "kernels_nn.h"
#include "parallel.h"

namespace tapegrad {

namespace {

// Sums in 8 lanes, element j of a run into lane j % 8, the lanes added
// pairwise at the end: a fixed order, which the compiler vectorises.
// Not kernels_reduce.cpp's sum_run (16 lanes added in sequence, the tail after
// them): that order differs, and these lanes also carry over several runs.
struct Lanes {
  double v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  double total() const { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
  template <class F>
  void add_run(std::int64_t n, F f) {
    std::int64_t j = 0;
    for (; j + 8 <= n; j += 8)
      for (int l = 0; l < 8; ++l) v[l] += f(j + l);
    for (int l = 0; j < n; ++j, ++l) v[l] += f(j);
  }
};

// y = ((x - m) * s) * w + b over one run; w and b are per element (layer_norm)
template <class T>
void affine_run(const T* x, T* y, std::int64_t n, T m, T s, const T* w, const T* b) {
  if (w && b) for (std::int64_t j = 0; j < n; ++j) y[j] = ((x[j] - m) * s) * w[j] + b[j];
  else if (w) for (std::int64_t j = 0; j < n; ++j) y[j] = ((x[j] - m) * s) * w[j];
  else if (b) for (std::int64_t j = 0; j < n; ++j) y[j] = ((x[j] - m) * s) + b[j];
  else for (std::int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * s;
}

// the same with one w and b for the whole run (batch_norm's channel)
template <class T>
void affine_run_scalar(const T* x, T* y, std::int64_t n, T m, T s, const T* w, const T* b) {
  if (w && b) { const T wc = *w, bc = *b; for (std::int64_t j = 0; j < n; ++j) y[j] = ((x[j] - m) * s) * wc + bc; }
  else if (w) { const T wc = *w; for (std::int64_t j = 0; j < n; ++j) y[j] = ((x[j] - m) * s) * wc; }
  else if (b) { const T bc = *b; for (std::int64_t j = 0; j < n; ++j) y[j] = ((x[j] - m) * s) + bc; }
  else for (std::int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * s;
}

template <class T>
const T* data_or_null(const Array* a, const Array& c) { return a ? c.data<T>() : nullptr; }

Array contiguous_or_empty(const Array* a) { return a ? contiguous(*a) : Array(); }

// Sizes of x viewed as (N, C, L) for batch_norm.
void ncl(const Array& x, std::int64_t& N, std::int64_t& C, std::int64_t& L) {
  N = x.shape[0];
  C = x.shape[1];
  L = 1;
  for (std::int64_t d = 2; d < x.ndim(); ++d) L *= x.shape[d];
}

}  // namespace

// ---- layer_norm -------------------------------------------------------------------------

Array layer_norm_forward(const Array& x0, const Array* w0, const Array* b0, std::int64_t rows, std::int64_t cols,
                         double eps, Array& mean, Array& rstd) {
  Array x = contiguous(x0), w = contiguous_or_empty(w0), b = contiguous_or_empty(b0);
  Array y = empty(x.shape, x.dtype);
  mean = empty(Shape{rows}, x.dtype);
  rstd = empty(Shape{rows}, x.dtype);
  by_float_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T *wp = data_or_null<T>(w0, w), *bp = data_or_null<T>(b0, b);
    parallel_for(rows, row_grain(cols), [&](std::int64_t r0, std::int64_t r1) {  // rows are independent
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* xr = x.data<T>() + r * cols;
        Lanes s1, s2;
        s1.add_run(cols, [&](std::int64_t j) { return static_cast<double>(xr[j]); });
        const double mu = s1.total() / static_cast<double>(cols);
        s2.add_run(cols, [&](std::int64_t j) { const double d = static_cast<double>(xr[j]) - mu; return d * d; });
        const double var = s2.total() / static_cast<double>(cols);
        const T m = static_cast<T>(mu), s = static_cast<T>(1.0 / std::sqrt(var + eps));
        mean.data<T>()[r] = m;
        rstd.data<T>()[r] = s;
        affine_run(xr, y.data<T>() + r * cols, cols, m, s, wp, bp);
      }
    });
  });
  return y;
}

void layer_norm_backward(const Array& g0, const Array& x0, const Array* w0, const Array& mean, const Array& rstd,
                         std::int64_t rows, std::int64_t cols, Array* dx, Array* dw, Array* db) {
  const DType dt = x0.dtype;
  Array g = contiguous(astype(g0, dt)), x = contiguous(x0), w = contiguous_or_empty(w0);
  Array m_arr = contiguous(mean), s_arr = contiguous(rstd);
  if (dx) *dx = empty(x.shape, dt);
  by_float_dtype(dt, [&](auto zero) {
    using T = decltype(zero);
    const T* wp = data_or_null<T>(w0, w);
    std::vector<double> dw_acc(dw ? static_cast<std::size_t>(cols) : 0), db_acc(db ? static_cast<std::size_t>(cols) : 0);
    // Row r's part of the work; its dw and db terms for columns [c0, c1) when c0 < c1.
    auto row = [&](std::int64_t r, bool want_dx, std::int64_t c0, std::int64_t c1) {
      const T *gr = g.data<T>() + r * cols, *xr = x.data<T>() + r * cols;
      const T m = m_arr.data<T>()[r], s = s_arr.data<T>()[r];
      auto xhat = [&](std::int64_t j) { return (xr[j] - m) * s; };
      auto dxhat = [&](std::int64_t j) { return wp ? gr[j] * wp[j] : gr[j]; };
      if (want_dx) {
        Lanes la, lc;
        la.add_run(cols, [&](std::int64_t j) { return static_cast<double>(dxhat(j)); });
        lc.add_run(cols, [&](std::int64_t j) { return static_cast<double>(dxhat(j)) * static_cast<double>(xhat(j)); });
        const T a = static_cast<T>(la.total() / static_cast<double>(cols));
        const T c = static_cast<T>(lc.total() / static_cast<double>(cols));
        T* o = dx->data<T>() + r * cols;
        for (std::int64_t j = 0; j < cols; ++j) o[j] = s * ((dxhat(j) - a) - xhat(j) * c);
      }
      if (dw) for (std::int64_t j = c0; j < c1; ++j) dw_acc[j] += static_cast<double>(gr[j]) * static_cast<double>(xhat(j));
      if (db) for (std::int64_t j = c0; j < c1; ++j) db_acc[j] += static_cast<double>(gr[j]);
    };
    // Split: dx by rows; dw and db by columns, each column summed over the
    // rows in order, so that their bits do not depend on the thread count.
    if (parallel_detail::jobs_for(rows * cols, kParallelGrain) > 1) {
      if (dx) parallel_for(rows, row_grain(cols), [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) row(r, true, 0, 0);
      });
      if (dw || db) parallel_for(cols, row_grain(rows), [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t r = 0; r < rows; ++r) row(r, false, c0, c1);
      });
    } else {
      for (std::int64_t r = 0; r < rows; ++r) row(r, dx != nullptr, 0, cols);
    }
    for (auto [out, acc] : {std::make_pair(dw, &dw_acc), std::make_pair(db, &db_acc)}) {
      if (!out) continue;
      *out = empty(Shape{cols}, dt);
      T* o = out->template data<T>();
      for (std::int64_t j = 0; j < cols; ++j) o[j] = static_cast<T>((*acc)[j]);
    }
  });
}

// ---- batch_norm -------------------------------------------------------------------------

void channel_moments(const Array& x0, std::vector<double>& mean, std::vector<double>& sq_dev) {
  Array x = contiguous(x0);
  std::int64_t N, C, L;
  ncl(x, N, C, L);
  mean.assign(static_cast<std::size_t>(C), 0.0);
  sq_dev.assign(static_cast<std::size_t>(C), 0.0);
  by_float_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    for (std::int64_t c = 0; c < C; ++c) {
      Lanes s1, s2;
      for (std::int64_t n = 0; n < N; ++n) {
        const T* run = x.data<T>() + (n * C + c) * L;
        s1.add_run(L, [&](std::int64_t j) { return static_cast<double>(run[j]); });
      }
      const double mu = s1.total() / static_cast<double>(N * L);
      for (std::int64_t n = 0; n < N; ++n) {
        const T* run = x.data<T>() + (n * C + c) * L;
        s2.add_run(L, [&](std::int64_t j) { const double d = static_cast<double>(run[j]) - mu; return d * d; });
      }
      mean[c] = mu;
      sq_dev[c] = s2.total();
    }
  });
}

Array batch_norm_forward(const Array& x0, const Array* w0, const Array* b0, const Array& mean, const Array& rstd) {
  Array x = contiguous(x0), w = contiguous_or_empty(w0), b = contiguous_or_empty(b0);
  Array m_arr = contiguous(mean), s_arr = contiguous(rstd);
  Array y = empty(x.shape, x.dtype);
  std::int64_t N, C, L;
  ncl(x, N, C, L);
  by_float_dtype(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T *wp = data_or_null<T>(w0, w), *bp = data_or_null<T>(b0, b);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t at = (n * C + c) * L;
        affine_run_scalar(x.data<T>() + at, y.data<T>() + at, L, m_arr.data<T>()[c], s_arr.data<T>()[c],
                          wp ? wp + c : nullptr, bp ? bp + c : nullptr);
      }
  });
  return y;
}

void batch_norm_backward(const Array& g0, const Array& x0, const Array* w0, const Array& mean, const Array& rstd,
                         bool training, Array* dx, Array* dw, Array* db) {
  const DType dt = x0.dtype;
  Array g = contiguous(astype(g0, dt)), x = contiguous(x0), w = contiguous_or_empty(w0);
  Array m_arr = contiguous(mean), s_arr = contiguous(rstd);
  std::int64_t N, C, L;
  ncl(x, N, C, L);
  const double count = static_cast<double>(N * L);
  if (dx) *dx = empty(x.shape, dt);
  if (dw) *dw = empty(Shape{C}, dt);
  if (db) *db = empty(Shape{C}, dt);
  by_float_dtype(dt, [&](auto zero) {
    using T = decltype(zero);
    const T* wp = data_or_null<T>(w0, w);
    for (std::int64_t c = 0; c < C; ++c) {
      const T m = m_arr.data<T>()[c], s = s_arr.data<T>()[c];
      const T wc = wp ? wp[c] : T(1);
      // over every run of channel c: f(g run, x run, j)
      auto each_run = [&](auto f) {
        for (std::int64_t n = 0; n < N; ++n) {
          const std::int64_t at = (n * C + c) * L;
          f(g.data<T>() + at, x.data<T>() + at, at);
        }
      };
      Lanes la, lc, lw, lb;
      each_run([&](const T* gr, const T* xr, std::int64_t) {
        auto dxhat = [&](std::int64_t j) { return wp ? gr[j] * wc : gr[j]; };
        auto xhat = [&](std::int64_t j) { return (xr[j] - m) * s; };
        if (dx && training) {
          la.add_run(L, [&](std::int64_t j) { return static_cast<double>(dxhat(j)); });
          lc.add_run(L, [&](std::int64_t j) { return static_cast<double>(dxhat(j)) * static_cast<double>(xhat(j)); });
        }
        if (dw) lw.add_run(L, [&](std::int64_t j) { return static_cast<double>(gr[j]) * static_cast<double>(xhat(j)); });
        if (db) lb.add_run(L, [&](std::int64_t j) { return static_cast<double>(gr[j]); });
      });
      if (dw) dw->data<T>()[c] = static_cast<T>(lw.total());
      if (db) db->data<T>()[c] = static_cast<T>(lb.total());
      if (!dx) continue;
      const T a = static_cast<T>(la.total() / count), cc = static_cast<T>(lc.total() / count);
      each_run([&](const T* gr, const T* xr, std::int64_t at) {
        T* o = dx->data<T>() + at;
        if (!training) {
          for (std::int64_t j = 0; j < L; ++j) o[j] = s * (wp ? gr[j] * wc : gr[j]);
          return;
        }
        for (std::int64_t j = 0; j < L; ++j) {
          const T dh = wp ? gr[j] * wc : gr[j], xh = (xr[j] - m) * s;
          o[j] = s * ((dh - a) - xh * cc);
        }
      });
    }
  });
}

}  // namespace tapegrad
