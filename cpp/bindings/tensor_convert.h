// Conversions between Python objects and core tensors, shared by the
// tensor binding files.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <string>
#include <vector>

#include "signature.h"
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
// The same, with the position of each item read from a Tensor (tg.compile replays them from it).
std::vector<IndexItem> parse_index(py::handle key, std::vector<std::pair<std::uint32_t, TensorPtr>>* sources);
// Ints given as f(2, 3) or f((2, 3)) (`args` the tuple of f's *args): a
// TypeError "<what> (2.5,) must hold ints, got float" for anything else. An
// int beyond int64 is handed to too_big(its repr, the whole repr, its sign),
// which throws.
Shape int_args(py::handle args, const char* what,
               const std::function<void(const std::string&, const std::string&, int)>& too_big);
// A shape to allocate: beyond int64 it is too big (MemoryError) or negative.
Shape shape_args(py::handle args);
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
// int, bool and NumPy's integers and bool: the numbers an int64 tensor keeps int64 with.
bool is_integral_number(py::handle o);
// A number next to a tensor of dtype `dtype` (Note [Dtypes]): in that dtype,
// except a non-integral number next to int64, which is float32; an int beyond
// int64 is an OverflowError.
TensorPtr number_tensor(py::handle x, DType dtype);
// A tracked number of tg.compile as an operand (Note [Compile numbers]): a
// leaf the tape fills from it; for int64, a leaf of its exact value (guarded).
TensorPtr traced_operand(py::handle x, DType dtype);

// ---- arguments, converted in tapegrad's words (the reference's, tapegrad/reference/_shapes.py)

std::string type_name(py::handle v);  // type(v).__name__
bool is_int(py::handle v);             // an int (numbers.Integral), not a bool
bool flag_arg(py::handle v);           // truthiness, as the reference's bool(v)
// requires_grad: a bool (or NumPy bool), else TypeError "requires_grad must be a bool, not str".
bool requires_grad_arg(py::handle v);
// One dim: an int, else TypeError "dim must be an int, got float"; in range
// for `ndim` dimensions (the core's ValueError, with the number as given),
// and returned normalized (>= 0).
std::int64_t dim_arg(py::handle v, std::int64_t ndim);
// A reduction's dim: an int or a tuple/list of ints, each in range, as given
// (the core checks for repeats and normalizes).
std::vector<std::int64_t> dims_arg(py::handle v, std::int64_t ndim);

// The Tensor a method was called on (Note [Signatures]: self arrives as a handle).
const TensorPtr& tensor_self(py::handle self, const Signature& s);

// cls.def(name, ...) of f(self, arguments), bound by `params` ("self, dim=None, ...").
// A method of no parameters but self is pybind11's plain method, with a second
// overload that only raises the argument errors: pybind11's dispatch is then
// the fast path, and its overload list never shows.
template <class F>
void def_method(TensorClass& cls, const char* name, const char* params, const char* doc, F f) {
  const Signature& s = signature(std::string("Tensor.") + name, params);
  if (s.takes_nothing()) {
    cls.def(name, [f](const TensorPtr& t) { return f(t, Args{}); }, s.doc(doc).c_str());
    cls.def(name, [&s](py::handle self, py::args args, py::kwargs kwargs) {  // arguments, or self not a Tensor
      tensor_self(self, s);
      s.bind(self, args, kwargs);
      throw py::type_error(s.qualname() + "() takes no arguments");
    });
    return;
  }
  cls.def(name, [&s, f](py::handle self, py::args args, py::kwargs kwargs) {
    const TensorPtr& t = tensor_self(self, s);
    return f(t, s.bind(self, args, kwargs));
  }, s.doc(doc).c_str());
}

void bind_tensor_class(py::module_& m, TensorClass& cls);
void bind_tensor_methods(TensorClass& cls);
void bind_tensor_index(py::module_& m, TensorClass& cls);
void bind_tensor_autograd(TensorClass& cls);
void bind_tensor_functions(py::module_& m);
void bind_nn_functions(py::module_& m);
void bind_dlpack(py::module_& m, TensorClass& cls);
void bind_callbacks(py::module_& m, TensorClass& cls);
void bind_tensor_nn_methods(py::module_& m, TensorClass& cls);
void install_fast_paths(TensorClass& cls);

}  // namespace tapegrad::bindings
