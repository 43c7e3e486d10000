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

// Runs `f` without the GIL when the operands are large.
template <class F>
auto maybe_nogil(std::int64_t numel, F&& f) -> decltype(f()) {
  if (numel >= kGilFreeElements) {
    py::gil_scoped_release release;
    return f();
  }
  return f();
}

using TensorClass = py::class_<TensorNode, TensorPtr>;

// The Tensor type, once the class exists (tensor_class.cpp).
extern PyTypeObject* tensor_type;
bool is_tensor(PyObject* o);
// A Tensor object's holder, without copying it (pybind11's instance layout).
// An instance made by Tensor.__new__ alone has none: TypeError, not a crash.
const TensorPtr& holder_of(PyObject* o);
// bool, int, float, NumPy scalars, Fraction: what a tensor op takes as a number.
bool is_number(py::handle o);
// A Tensor argument of a function: itself, a number in `dtype`, or array data.
TensorPtr as_tensor(py::handle x, DType dtype, const char* what);

void bind_tensor_class(py::module_& m, TensorClass& cls);
void bind_tensor_methods(TensorClass& cls);
void bind_tensor_autograd(TensorClass& cls);
void bind_tensor_functions(py::module_& m);
void bind_dlpack(py::module_& m, TensorClass& cls);
void install_fast_paths(TensorClass& cls);

}  // namespace tapegrad::bindings
