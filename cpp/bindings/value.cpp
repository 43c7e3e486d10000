// placeholder: filled in by the native Value work
#include "bindings.h"

namespace tapegrad::bindings {
void bind_value(pybind11::module_& /*m*/) {}
}  // namespace tapegrad::bindings
