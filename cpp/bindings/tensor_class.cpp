// tapegrad._core.Tensor: the class, its attributes, conversions and copying.
// The ops are bound in tensor_methods.cpp, autograd and the module functions
// in tensor_functions.cpp. No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "compile_hooks.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

py::object numpy_of(const TensorPtr& s) { return array_view(s->data, py::cast(s)); }
// The values handed to Python: while tracing, a read that guards them (Note [Compile numbers]).
py::object read_numpy(const TensorPtr& s) {
  tensor_read(s);
  return numpy_of(s);
}

// t.data = v: while tracing, a store of the tape (a tensor's values, or a constant's).
void set_data(T& t, py::handle v) {
  Array data = is_tensor(v.ptr()) ? copy(astype(holder_of(v.ptr())->data, t.data.dtype))
                                  : array_from_py(v, py::str(dtype_name(t.data.dtype)));
  if (Tracer* tr = tracing() ? active_tracer() : nullptr) {
    TensorPtr self = t.shared_from_this();
    if (self->requires_grad) tr->unsupported("assigning .data of a Tensor that requires grad");
    tr->store_tensor(self, is_tensor(v.ptr()) ? holder_of(v.ptr()) : make_leaf(data));
  }
  t.data = std::move(data);
}

// bool(t) while tracing guards only the outcome; float(t) and int(t) the value.
bool truth(const TensorPtr& s) {
  const bool b = truth_value(s->data);
  if (Tracer* tr = tracing() ? active_tracer() : nullptr) tr->guard_truth(tr->item(s), b);
  return b;
}
double exact_item(const TensorPtr& s) {
  const double x = item(s->data);
  if (Tracer* tr = tracing() ? active_tracer() : nullptr) tr->guard_exact(tr->item(s), x);
  return x;
}

// NumPy's dtype objects, made once (x.dtype is read on hot paths: x.dtype == tg.int64)
py::object dtype_obj(DType d) {
  static py::object* made[3] = {nullptr, nullptr, nullptr};  // leaked on purpose: alive until exit
  py::object*& slot = made[static_cast<int>(d)];
  if (slot == nullptr) slot = new py::object(py::module_::import("numpy").attr("dtype")(dtype_name(d)));
  return *slot;
}

std::string repr(const TensorPtr& s) {
  py::module_ np = py::module_::import("numpy");
  std::string body = np.attr("array2string")(numpy_of(s), py::arg("separator") = ", ", py::arg("prefix") = "Tensor(").cast<std::string>();
  std::string extras = s->data.numel() == 0 && s->data.ndim() > 1 ? ", shape=" + shape_str(s->data.shape) : "";
  if (s->data.dtype != DType::F32) extras += std::string(", dtype=") + dtype_name(s->data.dtype);
  if (!s->is_leaf()) extras += ", op='" + op_string(*s) + "'";
  else if (s->requires_grad) extras += ", requires_grad=True";
  return "Tensor(" + body + extras + ")";
}

// .grad = g: None, a Tensor, or data converted to this tensor's dtype; never
// another backend's Tensor or a Value. The core checks the shape.
TensorPtr grad_arg(const T& t, py::handle g) {
  if (g.is_none()) return nullptr;
  if (!is_float(t.data.dtype)) throw TypeError(kIntNoGrad);
  if (is_tensor(g.ptr())) return holder_of(g.ptr());
  std::string foreign = foreign_backend(g);
  if (!foreign.empty()) throw TypeError("cannot assign " + foreign + " to the .grad of a tapegrad (native) Tensor");
  return make_leaf(array_from_py(g, py::str(dtype_name(t.data.dtype))));
}

void bind_properties(TensorClass& cls) {
  cls.def_property("data", &read_numpy, &set_data,
                   "The values as an ndarray sharing memory (assignable: optimizers write it; the dtype is kept).");
  cls.def_property_readonly("shape", [](const T& t) {
    py::tuple s(t.data.shape.size());
    for (std::size_t i = 0; i < t.data.shape.size(); ++i) s[i] = t.data.shape[i];
    return s;
  }, "The shape, a tuple of ints.");
  cls.def_property_readonly("ndim", [](const T& t) { return t.data.ndim(); }, "The number of dimensions.");
  cls.def_property_readonly("size", [](const T& t) { return t.data.numel(); }, "The number of elements (NumPy's size).");
  cls.def_property_readonly("dtype", [](const T& t) { return dtype_obj(t.data.dtype); },
                            "np.dtype('float32'), np.dtype('float64') or np.dtype('int64').");
  cls.def_property("requires_grad", [](const T& t) { return t.requires_grad; },
                   [](T& t, py::handle flag) { set_requires_grad(t, requires_grad_arg(flag)); },
                   "Whether backward() computes a gradient for this tensor (a bool, settable on leaves).");
  cls.def_property_readonly("is_leaf", [](const T& t) { return t.is_leaf(); },
                            "True for tensors not computed by a recorded op (created, detached, constants).");
  cls.def_property("grad", [](const T& t) { return t.grad; }, [](T& t, py::handle g) { set_grad(t, grad_arg(t, g)); },
                   "The accumulated gradient (a Tensor of this tensor's shape and dtype), or None; assignable.");
  cls.def_property_readonly("op", [](const T& t) { return op_string(t); }, "The op that made this tensor: '' for leaves.");
  cls.def_property_readonly("parents", [](const T& t) {
    py::tuple p(t.parents.size());
    for (std::size_t i = 0; i < t.parents.size(); ++i) p[i] = py::cast(t.parents[i]);
    return p;
  }, "The tensors this one was computed from (a tuple).");
  cls.def_property("label", [](const T& t) { return t.label; }, [](T& t, py::handle l) {
    if (!PyUnicode_Check(l.ptr())) throw TypeError("Tensor.label must be a str, not " + type_name(l));
    t.label = l.cast<std::string>();
  }, "A name shown in graph drawings (str, assignable).");
}

void bind_conversions(TensorClass& cls) {
  def_method(cls, "numpy", "self", "The values as an ndarray, without a copy.",
             [](const TensorPtr& s, const Args&) { return read_numpy(s); });
  def_method(cls, "__array__", "self, dtype=None, copy=None", "The values for NumPy (np.asarray(x)).",
             [](const TensorPtr& s, const Args& a) -> py::object {
    py::handle dtype = a[0], copy = a[1];
    py::object arr = read_numpy(s);
    py::object want = dtype.is_none() ? py::object(arr.attr("dtype")) : py::module_::import("numpy").attr("dtype")(dtype);
    if (!py::object(arr.attr("dtype")).equal(want)) {
      if (!copy.is_none() && !flag_arg(copy))
        throw ValueError("converting a " + std::string(dtype_name(s->data.dtype)) + " tensor to " +
                         py::str(want).cast<std::string>() + " needs a copy");
      return arr.attr("astype")(dtype);
    }
    return (!copy.is_none() && flag_arg(copy)) ? arr.attr("copy")() : arr;
  });
  def_method(cls, "item", "self", "The only element, as a Python float (an int for int64).",
             [](const TensorPtr& s, const Args&) -> py::object {
    if (s->data.dtype == DType::I64) {  // ids are exact: a trace guards the whole tensor, bit for bit
      tensor_read(s);
      return py::int_(item_int(s->data));
    }
    return tensor_item(s);
  });
  def_method(cls, "tolist", "self", "The values as nested lists of floats.",
             [](const TensorPtr& s, const Args&) { return read_numpy(s).attr("tolist")(); });
  def_method(cls, "__float__", "self", "float(x): the only element (item()).",
             [](const TensorPtr& s, const Args&) { return exact_item(s); });
  def_method(cls, "__int__", "self", "int(x): the only element, truncated toward zero, as NumPy and PyTorch do.",
             [](const TensorPtr& s, const Args&) {
    if (s->data.dtype == DType::I64) {
      tensor_read(s);
      return py::int_(item_int(s->data));
    }
    return py::int_(py::float_(exact_item(s)));
  });
  def_method(cls, "__bool__", "self", "bool(x): whether the only element is nonzero.",
             [](const TensorPtr& s, const Args&) { return truth(s); });
  def_method(cls, "__len__", "self", "len(x): the size of the first dimension.", [](const TensorPtr& s, const Args&) {
    if (s->data.ndim() == 0) throw TypeError("len() of a 0-d tensor");
    return s->data.shape[0];
  });
  def_method(cls, "__iter__", "self", "Iteration over the first dimension.", [](const TensorPtr& s, const Args&) {
    if (s->data.ndim() == 0) throw TypeError("iteration over a 0-d tensor");
    py::list items;
    for (std::int64_t i = 0; i < s->data.shape[0]; ++i) {
      IndexItem it;
      it.i = i;
      items.append(getitem(s, {it}));
    }
    return py::iter(items);
  });
  def_method(cls, "__repr__", "self", "", [](const TensorPtr& s, const Args&) { return repr(s); });
  cls.def("__hash__", [](py::handle self) { return py::hash(py::cast<py::object>(PyLong_FromVoidPtr(self.ptr()))); },
          sig("__hash__", "self, /", "Identity, as the reference's: tensors key dicts and sets.").c_str());
}

void bind_copying(TensorClass& cls) {
  cls.def(py::pickle(
      [](const TensorPtr& s) { return py::make_tuple(numpy_of(s).attr("copy")(), s->requires_grad, s->label); },
      [](py::tuple st) {
        TensorPtr t = make_leaf(array_from_py(st[0], st[0].attr("dtype")), st[1].cast<bool>());
        t->label = st[2].cast<std::string>();
        return t;
      }));
  def_method(cls, "__deepcopy__", "self, memo", "A leaf with copies of the data and grad.", [](const TensorPtr& s, const Args&) {
    TensorPtr t = make_leaf(copy(s->data), s->requires_grad);
    t->label = s->label;
    if (s->grad) t->grad = make_leaf(copy(s->grad->data));
    return t;
  });
}

// Note [Binding technologies]: named as a Python class is ("Tensor" in
// messages, module tapegrad._core), so that Python's own errors read as the
// reference's ("unsupported operand type(s) for +: 'Tensor' and 'str'"); and
// the properties pybind11 added after the class was made get the names
// Python gives properties in a class body ("property 'op' of 'Tensor' object
// has no setter").
void named_as_python_class(TensorClass& cls) {
  tensor_type->tp_name = "Tensor";
  for (auto item : py::reinterpret_borrow<py::dict>(cls.attr("__dict__").attr("copy")())) {
    py::handle value = item.second;
    if (py::isinstance(value, py::module_::import("builtins").attr("property")) && py::hasattr(value, "__set_name__"))
      value.attr("__set_name__")(cls, item.first);
  }
}

}  // namespace

void bind_tensor(py::module_& m) {
  TensorClass cls(m, "Tensor", py::buffer_protocol(),
                  sig("Tensor", "data, requires_grad=False, dtype=None",
                      "An n-d array of float32/float64 (or int64 indices) that records the operations applied to it.").c_str());
  tensor_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  const Signature& init = signature("Tensor.__init__", "self, data, requires_grad=False, dtype=None");
  cls.def(py::init([&init](py::args args, py::kwargs kwargs) {
            Args a = init.bind(py::none(), args, kwargs);
            const bool requires_grad = requires_grad_arg(a[1]);
            return make_leaf(array_from_py(a[0], a[2]), requires_grad);
          }),
          init.doc("A new leaf holding a copy of data.").c_str());
  cls.def_buffer([](T& t) {
    const auto isz = static_cast<py::ssize_t>(itemsize(t.data.dtype));
    std::vector<py::ssize_t> shape(t.data.shape.begin(), t.data.shape.end()), strides;
    for (auto s : t.data.strides) strides.push_back(static_cast<py::ssize_t>(s) * isz);
    const std::string format = t.data.dtype == DType::F32   ? py::format_descriptor<float>::format()
                               : t.data.dtype == DType::F64 ? py::format_descriptor<double>::format()
                                                            : py::format_descriptor<std::int64_t>::format();
    return py::buffer_info(t.data.ptr(), isz, format, t.data.ndim(), shape, strides);
  });
  bind_properties(cls);
  bind_conversions(cls);
  bind_copying(cls);
  bind_tensor_methods(cls);
  bind_tensor_index(m, cls);
  bind_tensor_nn_methods(m, cls);
  bind_tensor_autograd(cls);
  bind_tensor_functions(m);
  bind_nn_functions(m);
  bind_dlpack(m, cls);
  bind_callbacks(m, cls);
  install_fast_paths(cls);  // last: setting dunders after this would reset the slots
  named_as_python_class(cls);
}

}  // namespace tapegrad::bindings
