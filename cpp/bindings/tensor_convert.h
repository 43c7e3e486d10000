// Conversions between Python objects and core tensors, shared by the
// tensor binding files.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "tensor_node.h"

namespace tapegrad::bindings {

namespace py = pybind11;

// Note [Dtypes]: `dtype` (None or anything np.dtype takes) as a core dtype.
DType dtype_arg(py::handle dtype, DType fallback);
// The reference's conversion rule: float64 only for input that carries a
// float64 dtype, else float32, unless `dtype` says otherwise. Always a copy.
Array array_from_py(py::handle data, py::handle dtype);
// An ndarray viewing `t`'s memory (it keeps `owner` alive).
py::array array_view(const Array& a, py::handle owner);
// "a tapegrad.reference Tensor" for tapegrad objects of another kind, else "".
std::string foreign_backend(py::handle obj);
// Parse a subscript (ints, slices, None, Ellipsis, int/bool arrays, lists, Tensors).
std::vector<IndexItem> parse_index(py::handle key);
// A shape given as f(2, 3) or f((2, 3)).
// Ints beyond int64: MemoryError when they size an allocation (`allocating`), else ValueError.
Shape shape_args(const py::args& args, bool allocating = true);
// Above this many elements the kernels run without the GIL.
constexpr std::int64_t kGilFreeElements = 1 << 15;

void bind_dlpack(py::module_& m, py::class_<TensorNode, TensorPtr>& cls);

}  // namespace tapegrad::bindings
