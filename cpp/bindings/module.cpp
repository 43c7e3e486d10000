// The extension module tapegrad._core: one entry point calling each area's binder.
#include <pybind11/pybind11.h>

#include "bindings.h"
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
  // Thread count of matmul's BLAS; tapegrad.set_num_threads checks the argument.
  m.def("_blas_threads", &tapegrad::blas_threads, "_blas_threads()\n--\n\nThreads matmul may use.");
  m.def("_set_blas_threads", &tapegrad::set_blas_threads, py::arg("n"),
        "_set_blas_threads(n)\n--\n\nLet matmul use up to n threads (n >= 1).");
  // The buffer cache (Note [Buffer cache]); tapegrad.set_cache_limit checks the argument.
  m.def("_cache_info", [] {
    tapegrad::CacheInfo c = tapegrad::cache_info();
    py::dict d;
    d["held_bytes"] = c.held;
    d["limit_bytes"] = c.limit;
    d["buffers"] = c.blocks;
    return d;
  }, "_cache_info()\n--\n\nBytes and buffers the cache of freed tensor memory holds, and its limit.");
  m.def("_set_cache_limit", &tapegrad::set_cache_limit, py::arg("nbytes"),
        "_set_cache_limit(nbytes)\n--\n\nThe most bytes the cache keeps (0: none); frees what is over it.");
  m.def("_empty_cache", &tapegrad::empty_cache, "_empty_cache()\n--\n\nFree every buffer the cache holds; the bytes freed.");
}
