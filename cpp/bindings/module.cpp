// The extension module tapegrad._core: one entry point calling each area's binder.
#include <pybind11/pybind11.h>

#include "bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "tapegrad native engine (C++17 core behind pybind11)";
  m.attr("__version__") = TAPEGRAD_VERSION;
  tapegrad::bindings::register_exceptions(m);
  tapegrad::bindings::bind_value(m);
  tapegrad::bindings::bind_tensor(m);
}
