// Matrix products: NumPy's matmul semantics over one GEMM routine, which is
// OpenBLAS's when the build found scipy-openblas32 (TAPEGRAD_BLAS), else a
// cache-blocked loop the compiler vectorises.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "broadcast.h"
#include "kernels.h"
#include "parallel.h"

#ifdef TAPEGRAD_BLAS
extern "C" {
// The CBLAS ABI with scipy-openblas32's symbol prefix (enums are ints).
void scipy_cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                       const float* b, int ldb, float beta, float* c, int ldc);
void scipy_cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double* a, int lda,
                       const double* b, int ldb, double beta, double* c, int ldc);
void scipy_openblas_set_num_threads(int n);
int scipy_openblas_get_num_threads(void);
}
#endif

namespace tapegrad {

namespace {

// Products of fewer multiply-adds are never cut into parts (they are far
// below kPartMacs), so a pool job may run them: batched() splits a batch of
// them over the threads instead.
constexpr std::int64_t kSmallGemm = std::int64_t{1} << 16;
// The most threads tg.set_num_threads keeps (OpenBLAS's build maximum before).
constexpr int kMaxThreads = 64;

// One 2-D operand as GEMM wants it: row-major with leading dimension `ld`,
// possibly transposed, read without copying.
struct Operand {
  bool trans;
  std::int64_t ld;
};

bool as_operand(std::int64_t rows, std::int64_t cols, std::int64_t s0, std::int64_t s1, Operand& op) {
  // The stride of a size-1 dimension is never followed (it may be 0, negative or
  // anything after indexing with None): replace it by what BLAS accepts, whose
  // leading dimension must be >= max(1, columns of the stored layout).
  const std::int64_t r1 = std::max<std::int64_t>(rows, 1), c1 = std::max<std::int64_t>(cols, 1);
  const std::int64_t n0 = rows <= 1 ? c1 : s0, n1 = cols <= 1 ? 1 : s1;  // row-major reading
  if (n1 == 1 && n0 >= c1) { op = {false, n0}; return true; }
  const std::int64_t t0 = rows <= 1 ? 1 : s0, t1 = cols <= 1 ? r1 : s1;  // column-major reading
  if (t0 == 1 && t1 >= r1) { op = {true, t1}; return true; }
  return false;
}

#ifdef TAPEGRAD_BLAS
// The thread cap's start (Note [BLAS threads]); the first call sets OpenBLAS to one thread.
int blas_cap() {
  static const int cap = [] {
    const int n = scipy_openblas_get_num_threads();
    scipy_openblas_set_num_threads(1);
    return std::max(n, 1);
  }();
  return cap;
}
std::atomic<int> g_blas_threads{0};  // 0 until tg.set_num_threads: blas_cap()

// OpenBLAS at one thread for this product, even if something else set it
// since (threadpoolctl's threadpool_limits reaches every OpenBLAS loaded).
void one_blas_thread() {
  (void)blas_cap();
  if (scipy_openblas_get_num_threads() != 1) scipy_openblas_set_num_threads(1);
}

// Note [Matmul parts]
// OpenBLAS's threaded GEMM cuts a product by its thread count, and the
// elements at the cuts can come out in different bits: on an AMD EPYC with
// AVX-512 (OpenBLAS 0.3.30 to 0.3.34, its Haswell and SkylakeX kernels), a
// 512 x 64 x 256 float32 product differed from the one-thread product in
// 7,000 of its 131,072 elements. So tapegrad's OpenBLAS runs one thread, and
// a large product is cut into parts by a rule that reads only its shape and
// the machine's core count (kParts), never the thread setting: rows of A and
// C when M >= N, else columns of B and C, at multiples of 16. Each part is
// one single-threaded GEMM, run on the pool (parallel_parts), so every
// element has the same bits at any thread count. The cost is the operand a
// part does not cut, packed by OpenBLAS once per part: measured at one
// thread, two parts took 1-2% longer than one GEMM at 512 x 512 x 512 and at
// W4's 128 x 784 x 256 (eight parts: 7-17%).
const std::int64_t kParts = std::clamp<std::int64_t>(std::thread::hardware_concurrency(), 1, 8);
constexpr std::int64_t kPartMacs = std::int64_t{1} << 18;  // at least this much work in each part
constexpr std::int64_t kPartAlign = 16;

template <class T>
void blas_gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, Operand oa, const T* B, Operand ob, T* C,
               std::int64_t ldc, bool accumulate) {
  const int rm = 101, nt = 111, tr = 112;
  if constexpr (sizeof(T) == 4)
    scipy_cblas_sgemm(rm, oa.trans ? tr : nt, ob.trans ? tr : nt, int(M), int(N), int(K), 1.0f, A, int(oa.ld), B,
                      int(ob.ld), accumulate ? 1.0f : 0.0f, C, int(ldc));
  else
    scipy_cblas_dgemm(rm, oa.trans ? tr : nt, ob.trans ? tr : nt, int(M), int(N), int(K), 1.0, A, int(oa.ld), B,
                      int(ob.ld), accumulate ? 1.0 : 0.0, C, int(ldc));
}
#endif

// C = A B, or C += A B when `accumulate` (GEMM's beta = 1: linear's bias is already in C).
template <class T>
void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, Operand oa, const T* B, Operand ob, T* C,
          bool accumulate = false) {
#ifdef TAPEGRAD_BLAS
  if (M > 0 && N > 0 && K > 0 && M < (1LL << 31) && N < (1LL << 31) && K < (1LL << 31) && oa.ld < (1LL << 31) && ob.ld < (1LL << 31)) {
    one_blas_thread();
    const bool rows = M >= N;  // cut the larger of M and N: the other operand is packed once per part
    const std::int64_t cut = rows ? M : N;
    const double macs = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);  // may pass 2^63
    const auto by_work = static_cast<std::int64_t>(std::min(macs / kPartMacs, static_cast<double>(kParts)));
    const std::int64_t parts = std::min(by_work, cut / kPartAlign);
    if (parts <= 1) {
      blas_gemm(M, N, K, A, oa, B, ob, C, N, accumulate);
      return;
    }
    parallel_parts(parts, [&](std::int64_t p) {
      const std::int64_t i0 = cut * p / parts / kPartAlign * kPartAlign;
      const std::int64_t i1 = p + 1 == parts ? cut : cut * (p + 1) / parts / kPartAlign * kPartAlign;
      if (rows)  // rows i0..i1 of A (row i at i * ld, or at i when A is read transposed) and of C
        blas_gemm(i1 - i0, N, K, A + (oa.trans ? i0 : i0 * oa.ld), oa, B, ob, C + i0 * N, N, accumulate);
      else  // columns i0..i1 of B and of C
        blas_gemm(M, i1 - i0, K, A, oa, B + (ob.trans ? i0 * ob.ld : i0), ob, C + i0, N, accumulate);
    });
    return;
  }
#endif
  // C = A B with i-k-j loops over blocks of K and N: the inner j loop is a
  // contiguous axpy the compiler vectorises; blocks keep B's rows in cache.
  auto a_at = [&](std::int64_t i, std::int64_t k) { return oa.trans ? A[k * oa.ld + i] : A[i * oa.ld + k]; };
  std::vector<T> bt;
  const T* Bp = B;
  std::int64_t ldb = ob.ld;
  if (ob.trans) {  // make B row-major for the axpy loop
    bt.resize(static_cast<std::size_t>(K * N));
    for (std::int64_t k = 0; k < K; ++k) for (std::int64_t j = 0; j < N; ++j) bt[k * N + j] = B[j * ob.ld + k];
    Bp = bt.data();
    ldb = N;
  }
  if (!accumulate) std::fill(C, C + M * N, T(0));
  const std::int64_t KB = 128, NB = 512;
  for (std::int64_t k0 = 0; k0 < K; k0 += KB) {
    const std::int64_t k1 = std::min(K, k0 + KB);
    for (std::int64_t j0 = 0; j0 < N; j0 += NB) {
      const std::int64_t j1 = std::min(N, j0 + NB);
      for (std::int64_t i = 0; i < M; ++i) {
        T* c = C + i * N;
        for (std::int64_t k = k0; k < k1; ++k) {
          const T aik = a_at(i, k);
          const T* b = Bp + k * ldb;
          for (std::int64_t j = j0; j < j1; ++j) c[j] += aik * b[j];
        }
      }
    }
  }
}

template <class T>
void batched(const Array& a, const Array& b, const Shape& batch, std::int64_t M, std::int64_t N, std::int64_t K, Array& out) {
  // a: batch + (M, K), b: batch + (K, N), both expanded (stride 0 on broadcast dims)
  const std::int64_t nb = static_cast<std::int64_t>(batch.size());
  Array A = a, B = b;
  Operand oa{}, ob{};
  // a contiguous copy always qualifies (its size-1 strides are normalised by as_operand)
  if (!as_operand(M, K, A.strides[nb], A.strides[nb + 1], oa)) { A = copy(a); as_operand(M, K, A.strides[nb], A.strides[nb + 1], oa); }
  if (!as_operand(K, N, B.strides[nb], B.strides[nb + 1], ob)) { B = copy(b); as_operand(K, N, B.strides[nb], B.strides[nb + 1], ob); }
  std::int64_t count = 1;
  for (auto v : batch) count *= v;
  T* c = out.data<T>();
  auto run = [&](std::int64_t t0, std::int64_t t1) {  // products t0 .. t1 - 1, in order
    std::vector<std::int64_t> idx(nb, 0);
    std::int64_t offa = 0, offb = 0;
    for (std::int64_t d = nb - 1, rest = t0; d >= 0; --d) {
      idx[d] = rest % batch[d];
      rest /= batch[d];
      offa += idx[d] * A.strides[d];
      offb += idx[d] * B.strides[d];
    }
    for (std::int64_t t = t0; t < t1; ++t) {
      gemm<T>(M, N, K, A.data<T>() + offa, oa, B.data<T>() + offb, ob, c + t * M * N);
      for (std::int64_t d = nb - 1; d >= 0; --d) {
        offa += A.strides[d]; offb += B.strides[d];
        if (++idx[d] < batch[d]) break;
        offa -= A.strides[d] * batch[d]; offb -= B.strides[d] * batch[d];
        idx[d] = 0;
      }
    }
  };
  // Small products (attention's (T, hs) @ (hs, T) per batch and head) each
  // run on one thread inside OpenBLAS: the batch is split over the threads
  // instead (Note [Parallel kernels]). Each product is computed whole by one
  // thread, so the bits do not depend on the split.
  const std::int64_t macs = M * N * K;
  if (count > 1 && macs < kSmallGemm) parallel_for(count, row_grain(macs, 4 * kParallelGrain), run);
  else run(0, count);
}

}  // namespace

Shape matmul_shape(const Shape& a, const Shape& b) {
  const std::string shapes = "shapes " + shape_str(a) + " and " + shape_str(b);
  if (a.empty() || b.empty()) throw ValueError("@: matmul needs tensors of at least one dimension, got " + shapes);
  Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  if (a2.back() != b2[b2.size() - 2])
    throw ValueError("@: " + shapes + " do not match for matmul (" + std::to_string(a2.back()) + " != " +
                     std::to_string(b2[b2.size() - 2]) + ")");
  Shape ba(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  Shape out;
  try { out = broadcast_shape(ba, bb, "@"); } catch (const ValueError&) {
    throw ValueError("@: the batch dimensions of " + shapes + " do not broadcast");
  }
  if (a.size() > 1) out.push_back(a2[a2.size() - 2]);
  if (b.size() > 1) out.push_back(b2.back());
  return out;
}

Array matmul(const Array& a0, const Array& b0) {
  Shape out_shape = matmul_shape(a0.shape, b0.shape);
  DType dt = float_type(promote(a0.dtype, b0.dtype));  // int64 operands: float32 (Note [Dtypes])
  Array a = astype(a0, dt), b = astype(b0, dt);
  if (a.ndim() == 1) a = unsqueeze(a, 0);
  if (b.ndim() == 1) { b = unsqueeze(b, 1); b.strides[1] = 1; }
  const std::int64_t M = a.shape[a.ndim() - 2], K = a.shape.back(), N = b.shape.back();
  Shape batch = broadcast_shape(Shape(a.shape.begin(), a.shape.end() - 2), Shape(b.shape.begin(), b.shape.end() - 2), "@");
  Shape ea = batch, eb = batch;
  ea.push_back(M); ea.push_back(K);
  eb.push_back(K); eb.push_back(N);
  Shape full_out = batch;
  full_out.push_back(M); full_out.push_back(N);
  checked_numel(full_out, dt);
  Array out = empty(full_out, dt);
  if (out.numel() > 0) {
    if (dt == DType::F32) batched<float>(expand(a, ea), expand(b, eb), batch, M, N, K, out);
    else batched<double>(expand(a, ea), expand(b, eb), batch, M, N, K, out);
  }
  out.shape = out_shape;
  out.strides = contiguous_strides(out_shape);
  return out;
}

// Note [linear as one GEMM]
// F.linear's y = x w^T + b over x viewed as (rows, in): each row of y starts
// as the bias, then one GEMM adds x w^T to it (beta = 1), reading w^T from w's
// own layout (no transposed copy). Each output is b + (the dot product), the
// same as a matmul followed by the bias add, in one pass over y.
template <class T>
void linear_into(const Array& x, Operand ox, const Array& w, Operand ow, const Array* bias, Array& y) {
  const std::int64_t M = x.shape[0], K = x.shape[1], N = w.shape[0];
  T* c = y.data<T>();
  if (bias) {
    const T* b = bias->data<T>();
    for (std::int64_t i = 0; i < M; ++i) std::copy(b, b + N, c + i * N);
  }
  gemm<T>(M, N, K, x.data<T>(), ox, w.data<T>(), ow, c, bias != nullptr);
}

Array linear(const Array& x0, const Array& w0, const Array* bias) {
  // x (rows, in), w (out, in), bias (out,) or null, one float dtype (ops_linear.cpp checks and converts)
  Array x = x0, w = w0, b = bias ? contiguous(*bias) : Array();
  const std::int64_t M = x.shape[0], K = x.shape[1], N = w.shape[0];
  Operand ox{}, ow{};
  if (!as_operand(M, K, x.strides[0], x.strides[1], ox)) { x = copy(x0); as_operand(M, K, x.strides[0], x.strides[1], ox); }
  // w^T, (in, out), is w read with its strides swapped
  if (!as_operand(K, N, w.strides[1], w.strides[0], ow)) { w = copy(w0); as_operand(K, N, w.strides[1], w.strides[0], ow); }
  checked_numel(Shape{M, N}, x.dtype);
  Array y = empty(Shape{M, N}, x.dtype);
  if (y.numel() == 0) return y;
  if (x.dtype == DType::F32) linear_into<float>(x, ox, w, ow, bias ? &b : nullptr, y);
  else linear_into<double>(x, ox, w, ow, bias ? &b : nullptr, y);
  return y;
}

// Note [BLAS threads]
// tg.set_num_threads caps the threads of the pool that runs matmul's parts
// (Note [Matmul parts]) and the parallel kernels (Note [Parallel kernels]);
// OpenBLAS itself runs one thread. The cap starts as OpenBLAS's own default,
// which honours OPENBLAS_NUM_THREADS and OMP_NUM_THREADS (else one per core).
// Without OpenBLAS the loop kernel runs on the calling thread only.
int blas_threads() {
#ifdef TAPEGRAD_BLAS
  const int n = g_blas_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : blas_cap();
#else
  return 1;
#endif
}

void set_blas_threads(int n) {
#ifdef TAPEGRAD_BLAS
  (void)blas_cap();
  g_blas_threads.store(std::clamp(n, 1, kMaxThreads), std::memory_order_relaxed);
#else
  (void)n;
#endif
}

}  // namespace tapegrad
