// DLPack exchange and zero-copy wrapping of foreign memory.
//
// Export goes through the NumPy view of the tensor (which keeps the tensor
// alive), import through numpy.from_dlpack; in both directions the bytes are
// shared, never copied, for float32/float64 data.
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

// Storage owned by a Python object: released with the GIL held, since the
// last reference may go from a thread running a kernel without it.
std::shared_ptr<void> python_owner(py::object obj) {
  auto* held = new py::object(std::move(obj));
  return std::shared_ptr<void>(held, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
}

TensorPtr wrap_array(py::object arr) {
  py::dtype dt = arr.attr("dtype").cast<py::dtype>();
  bool native_order = arr.attr("dtype").attr("isnative").cast<bool>();
  if (dt.kind() != 'f' || (dt.itemsize() != 4 && dt.itemsize() != 8) || !native_order)
    return make_leaf(array_from_py(arr, dt.kind() == 'f' && dt.itemsize() == 8 ? py::str("float64") : py::str("float32")));
  py::array a = arr;
  const py::ssize_t isz = dt.itemsize();
  Shape shape(a.shape(), a.shape() + a.ndim()), strides;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.strides(i) % isz != 0) return make_leaf(array_from_py(arr, py::str(isz == 4 ? "float32" : "float64")));
    strides.push_back(a.strides(i) / isz);
  }
  void* ptr = const_cast<void*>(a.data());
  return make_leaf(from_external(ptr, python_owner(arr), isz == 4 ? DType::F32 : DType::F64, shape, strides));
}

}  // namespace

void bind_dlpack(py::module_& m, py::class_<TensorNode, TensorPtr>& cls) {
  cls.def("__dlpack__", [](const TensorPtr& s, py::kwargs kwargs) {
    return array_view(s->data, py::cast(s)).attr("__dlpack__")(**kwargs);
  });
  cls.def("__dlpack_device__", [](const TensorNode&) { return py::make_tuple(1, 0); });  // kDLCPU, device 0
  m.def("_from_dlpack", [](py::handle obj) {
    if (py::isinstance<TensorNode>(obj)) return make_leaf(obj.cast<TensorNode&>().data);
    py::object arr = py::module_::import("numpy").attr("from_dlpack")(obj);
    return wrap_array(arr);
  });
  m.def("_from_numpy", [](py::object arr) { return wrap_array(std::move(arr)); },
        "A tensor sharing the memory of a float32/float64 ndarray (other dtypes are converted).");
  m.def("_check_shape", [](py::args shape) {
    checked_numel(shape_args(shape), DType::F64);
  });
}

}  // namespace tapegrad::bindings
