// placeholder until the DLPack exchange lands
#include "tensor_convert.h"

namespace tapegrad::bindings {
void bind_dlpack(py::module_&, py::class_<TensorNode, TensorPtr>&) {}
}  // namespace tapegrad::bindings
