// placeholder: filled in by the native Tensor work
#include "bindings.h"

namespace tapegrad::bindings {
void bind_tensor(pybind11::module_& /*m*/) {}
}  // namespace tapegrad::bindings
