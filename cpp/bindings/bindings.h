// Declarations shared by the binding files. Bindings convert arguments,
// release the GIL and attach docstrings; they contain no math.
#pragma once

#include <pybind11/pybind11.h>

namespace tapegrad::bindings {

void register_exceptions(pybind11::module_& m);
void bind_value(pybind11::module_& m);
void bind_tensor(pybind11::module_& m);

}  // namespace tapegrad::bindings
