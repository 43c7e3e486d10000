// The extension module tapegrad._core: one entry point calling each area's binder.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings.h"
#include "blas_pool.h"
#include "parallel.h"
#include "kernels.h"
#include "storage.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  // Docstrings carry their own text signatures (Note [Binding technologies]).
  py::options options;
  options.disable_function_signatures();
  m.doc() = "tapegrad native engine (C++17 core behind pybind11)";
  m.attr("__version__") = TAPEGRAD_VERSION;
  tapegrad::bindings::register_exceptions(m);
  tapegrad::bindings::bind_registry(m);
  tapegrad::bindings::bind_value(m);
  tapegrad::bindings::bind_tensor(m);
  tapegrad::bindings::bind_compile(m);
  tapegrad::bindings::bind_vmath(m);
  // Thread count of matmul's BLAS; tapegrad.set_num_threads checks the argument.
  tapegrad::bindings::def_function(m, "_blas_threads", "", "Threads matmul may use.",
                                   [](const tapegrad::bindings::Args&) { return tapegrad::blas_threads(); });
  tapegrad::bindings::def_function(m, "_set_blas_threads", "n", "Let matmul use up to n threads (n >= 1).",
                                   [](const tapegrad::bindings::Args& a) { tapegrad::set_blas_threads(a[0].cast<int>()); });
  // One pool for every OpenBLAS in the process (Note [One BLAS pool]); _blas.py hands NumPy's over.
  m.attr("_blas_linked") = tapegrad::blas_linked();
  (void)tapegrad::blas_threads();  // reads OpenBLAS's default thread count, then sets it to one (Note [BLAS threads])
  m.attr("_blas_own_shared") = tapegrad::share_own_blas();
  tapegrad::bindings::def_function(m, "_blas_callback", "",
                                   "The address of the OpenBLAS threads callback that runs jobs on tapegrad's pool.",
                                   [](const tapegrad::bindings::Args&) {
    return reinterpret_cast<std::uintptr_t>(&tapegrad::tapegrad_blas_threads);
  });
  tapegrad::bindings::def_function(m, "_blas_pool_workers", "", "Worker threads the BLAS pool has started.",
                                   [](const tapegrad::bindings::Args&) { return tapegrad::blas_pool_workers(); });
  tapegrad::bindings::def_function(m, "_parallel_runs", "", "Kernels split over threads so far (Note [Parallel kernels]).",
                                   [](const tapegrad::bindings::Args&) { return tapegrad::parallel_runs(); });
  // The buffer cache (Note [Buffer cache]); tapegrad.set_cache_limit checks the argument.
  tapegrad::bindings::def_function(m, "_cache_info", "",
                                   "Bytes and buffers the cache of freed tensor memory holds, and its limit.",
                                   [](const tapegrad::bindings::Args&) {
    tapegrad::CacheInfo c = tapegrad::cache_info();
    py::dict d;
    d["held_bytes"] = c.held;
    d["limit_bytes"] = c.limit;
    d["buffers"] = c.blocks;
    return d;
  });
  tapegrad::bindings::def_function(m, "_set_cache_limit", "nbytes",
                                   "The most bytes the cache keeps (0: none); frees what is over it.",
                                   [](const tapegrad::bindings::Args& a) {
    tapegrad::set_cache_limit(a[0].cast<std::size_t>());
  });
  tapegrad::bindings::def_function(m, "_empty_cache", "", "Free every buffer the cache holds; the bytes freed.",
                                   [](const tapegrad::bindings::Args&) { return tapegrad::empty_cache(); });
}
