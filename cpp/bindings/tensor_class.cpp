// tapegrad._core.Tensor: the class, its attributes, conversions and copying.
// The ops are bound in tensor_methods.cpp, autograd and the module functions
// in tensor_functions.cpp. No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

py::object numpy_of(const TensorPtr& s) { return array_view(s->data, py::cast(s)); }

py::object dtype_obj(DType d) { return py::module_::import("numpy").attr("dtype")(dtype_name(d)); }

std::string repr(const TensorPtr& s) {
  py::module_ np = py::module_::import("numpy");
  std::string body = np.attr("array2string")(numpy_of(s), py::arg("separator") = ", ", py::arg("prefix") = "Tensor(").cast<std::string>();
  std::string extras = s->data.numel() == 0 && s->data.ndim() > 1 ? ", shape=" + shape_str(s->data.shape) : "";
  if (s->data.dtype != DType::F32) extras += ", dtype=float64";
  if (!s->is_leaf()) extras += ", op='" + op_string(*s) + "'";
  else if (s->requires_grad) extras += ", requires_grad=True";
  return "Tensor(" + body + extras + ")";
}

double one_item(const T& t) {
  if (t.data.numel() != 1) throw ValueError("item() needs a tensor with one element, got shape " + shape_str(t.data.shape));
  return item(t.data);
}

void bind_properties(TensorClass& cls) {
  cls.def_property("data", &numpy_of, [](T& t, py::handle v) { t.data = array_from_py(v, py::str(dtype_name(t.data.dtype))); },
                   "The values as an ndarray sharing memory (assignable: optimizers write it; the dtype is kept).");
  cls.def_property_readonly("shape", [](const T& t) {
    py::tuple s(t.data.shape.size());
    for (std::size_t i = 0; i < t.data.shape.size(); ++i) s[i] = t.data.shape[i];
    return s;
  }, "The shape, a tuple of ints.");
  cls.def_property_readonly("ndim", [](const T& t) { return t.data.ndim(); }, "The number of dimensions.");
  cls.def_property_readonly("size", [](const T& t) { return t.data.numel(); }, "The number of elements (NumPy's size).");
  cls.def_property_readonly("dtype", [](const T& t) { return dtype_obj(t.data.dtype); }, "numpy.float32 or numpy.float64.");
  cls.def_property("requires_grad", [](const T& t) { return t.requires_grad; }, [](T& t, bool flag) {
    if (!t.is_leaf())
      throw RuntimeError("requires_grad can only be changed on a leaf tensor; this one was computed by op '" + op_string(t) +
                         "' (use detach() to get a leaf)");
    t.requires_grad = flag;
  }, "Whether backward() computes a gradient for this tensor (settable on leaves).");
  cls.def_property_readonly("is_leaf", [](const T& t) { return t.is_leaf(); },
                            "True for tensors not computed by a recorded op (created, detached, constants).");
  cls.def_property("grad", [](const T& t) { return t.grad; }, [](T& t, py::handle g) {
    if (g.is_none()) t.grad = nullptr;
    else if (is_tensor(g.ptr())) t.grad = holder_of(g.ptr());
    else t.grad = make_leaf(array_from_py(g, py::str(dtype_name(t.data.dtype))));
  }, "The accumulated gradient (a Tensor), or None.");
  cls.def_property_readonly("op", [](const T& t) { return op_string(t); }, "The op that made this tensor: '' for leaves.");
  cls.def_property_readonly("parents", [](const T& t) {
    py::tuple p(t.parents.size());
    for (std::size_t i = 0; i < t.parents.size(); ++i) p[i] = py::cast(t.parents[i]);
    return p;
  }, "The tensors this one was computed from (a tuple).");
  cls.def_property("label", [](const T& t) { return t.label; }, [](T& t, std::string l) { t.label = std::move(l); },
                   "A name shown in graph drawings (str, assignable).");
}

void bind_conversions(TensorClass& cls) {
  cls.def("numpy", &numpy_of, sig("numpy", "self", "The values as an ndarray, without a copy.").c_str());
  cls.def("__array__", [](const TensorPtr& s, py::object dtype, py::object copy) -> py::object {
    py::object arr = numpy_of(s);
    py::object want = dtype.is_none() ? py::object(arr.attr("dtype")) : py::module_::import("numpy").attr("dtype")(dtype);
    if (!py::object(arr.attr("dtype")).equal(want)) {
      if (!copy.is_none() && !copy.cast<bool>())
        throw ValueError("converting a " + std::string(dtype_name(s->data.dtype)) + " tensor to " +
                         py::str(want).cast<std::string>() + " needs a copy");
      return arr.attr("astype")(dtype);
    }
    return (!copy.is_none() && copy.cast<bool>()) ? arr.attr("copy")() : arr;
  }, py::arg("dtype") = py::none(), py::arg("copy") = py::none(), sig("__array__", "self, dtype=None, copy=None", "").c_str());
  cls.def("item", &one_item, sig("item", "self", "The only element, as a Python float.").c_str());
  cls.def("tolist", [](const TensorPtr& s) { return numpy_of(s).attr("tolist")(); },
          sig("tolist", "self", "The values as nested lists of floats.").c_str());
  cls.def("__float__", [](const T& t) { return one_item(t); }, sig("__float__", "self", "").c_str());
  cls.def("__bool__", [](const T& t) {
    if (t.data.numel() != 1)
      throw ValueError("the truth value of a tensor of shape " + shape_str(t.data.shape) +
                       " is ambiguous (only single-element tensors have one)");
    return item(t.data) != 0;
  }, sig("__bool__", "self", "").c_str());
  cls.def("__len__", [](const T& t) {
    if (t.data.ndim() == 0) throw TypeError("len() of a 0-d tensor");
    return t.data.shape[0];
  }, sig("__len__", "self", "").c_str());
  cls.def("__iter__", [](const TensorPtr& s) {
    if (s->data.ndim() == 0) throw TypeError("iteration over a 0-d tensor");
    py::list items;
    for (std::int64_t i = 0; i < s->data.shape[0]; ++i) {
      IndexItem it;
      it.i = i;
      items.append(getitem(s, {it}));
    }
    return py::iter(items);
  }, sig("__iter__", "self", "").c_str());
  cls.def("__repr__", &repr, sig("__repr__", "self", "").c_str());
  cls.def("__hash__", [](py::handle self) { return py::hash(py::cast<py::object>(PyLong_FromVoidPtr(self.ptr()))); },
          sig("__hash__", "self", "Identity, as the reference's: tensors key dicts and sets.").c_str());
}

void bind_copying(TensorClass& cls) {
  cls.def(py::pickle(
      [](const TensorPtr& s) { return py::make_tuple(numpy_of(s).attr("copy")(), s->requires_grad, s->label); },
      [](py::tuple st) {
        TensorPtr t = make_leaf(array_from_py(st[0], st[0].attr("dtype")), st[1].cast<bool>());
        t->label = st[2].cast<std::string>();
        return t;
      }));
  cls.def("__deepcopy__", [](const TensorPtr& s, py::handle) {
    TensorPtr t = make_leaf(copy(s->data), s->requires_grad);
    t->label = s->label;
    if (s->grad) t->grad = make_leaf(copy(s->grad->data));
    return t;
  }, sig("__deepcopy__", "self, memo", "A leaf with copies of the data and grad.").c_str());
}

}  // namespace

void bind_tensor(py::module_& m) {
  TensorClass cls(m, "Tensor", py::buffer_protocol(),
                  sig("Tensor", "data, requires_grad=False, dtype=None",
                      "An n-d array of float32/float64 that records the operations applied to it.").c_str());
  tensor_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  cls.def(py::init([](py::handle data, bool requires_grad, py::handle dtype) {
            return make_leaf(array_from_py(data, dtype), requires_grad);
          }),
          py::arg("data"), py::arg("requires_grad") = false, py::arg("dtype") = py::none(),
          sig("__init__", "self, data, requires_grad=False, dtype=None", "A new leaf holding a copy of data.").c_str());
  cls.def_buffer([](T& t) {
    const auto isz = static_cast<py::ssize_t>(itemsize(t.data.dtype));
    std::vector<py::ssize_t> shape(t.data.shape.begin(), t.data.shape.end()), strides;
    for (auto s : t.data.strides) strides.push_back(static_cast<py::ssize_t>(s) * isz);
    return py::buffer_info(t.data.ptr(), isz, t.data.dtype == DType::F32 ? "f" : "d", t.data.ndim(), shape, strides);
  });
  bind_properties(cls);
  bind_conversions(cls);
  bind_copying(cls);
  bind_tensor_methods(cls);
  bind_tensor_autograd(cls);
  bind_tensor_functions(m);
  bind_dlpack(m, cls);
  install_fast_paths(cls);  // last: setting dunders after this would reset the slots
}

}  // namespace tapegrad::bindings
