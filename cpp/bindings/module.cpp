// The extension module tapegrad._core: one entry point calling each area's binder.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "kernels.h"

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
}
