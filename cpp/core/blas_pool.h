// One thread pool for every OpenBLAS in the process (Note [One BLAS pool]).
#pragma once

#include <cstddef>

namespace tapegrad {

// OpenBLAS's caller-managed threading ABI (openblas_set_threads_callback_function,
// OpenBLAS >= 0.3.27): run dojob(i, jobdata + i * elsize, data) for i < numjobs,
// all at once (the jobs of a threaded GEMM wait for each other), and return
// when every one has finished.
using BlasJob = void (*)(int job, void* jobdata, int data);
extern "C" void tapegrad_blas_threads(int sync, BlasJob dojob, int numjobs, std::size_t elsize, void* jobdata, int data);

// Whether this build's matmul calls OpenBLAS (scipy-openblas32 was importable
// when CMake ran), not the built-in loop kernel.
bool blas_linked();

// Hands tapegrad's own OpenBLAS to the pool; false if the build has no BLAS or
// its OpenBLAS is too old to take a callback.
bool share_own_blas();

// The pool's worker threads so far (they are started on first need).
int blas_pool_workers();

}  // namespace tapegrad
