// tapegrad._core.Tensor: argument conversion, GIL release and docstrings over
// the core's tensor ops (cpp/core/tensor_node.h). No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "grad_mode.h"
#include "kernels.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

bool is_number(py::handle o) {
  if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return true;
  static py::object real = py::module_::import("numbers").attr("Real");
  static py::object npbool = py::module_::import("numpy").attr("bool_");
  return py::isinstance(o, real) || py::isinstance(o, npbool);
}

// Set by install_fast_paths (Note [Tensor fast slots]).
PyTypeObject* tensor_type = nullptr;

// `o` is a Tensor (or a subclass instance): its holder, without copying it.
// An instance made by Tensor.__new__ alone has none: TypeError, not a crash.
const TensorPtr& holder_of(PyObject* o) {
  auto* inst = reinterpret_cast<py::detail::instance*>(o);
  auto vh = inst->get_value_and_holder();
  if (!vh.holder_constructed() || !vh.holder<TensorPtr>())
    throw TypeError("a tapegrad Tensor whose __init__ was not called");
  return vh.holder<TensorPtr>();
}

bool is_tensor(PyObject* o) {
  return Py_TYPE(o) == tensor_type || PyType_IsSubtype(Py_TYPE(o), tensor_type);
}

// `other` as a tensor (numbers take `self`'s dtype), or null if foreign.
TensorPtr operand(const T& self, py::handle other) {
  if (tensor_type != nullptr && is_tensor(other.ptr())) return holder_of(other.ptr());  // no caster lookup
  if (py::isinstance<T>(other)) return other.cast<TensorPtr>();
  if (is_number(other)) return make_leaf(scalar_array(py::float_(py::reinterpret_borrow<py::object>(other)).cast<double>(), self.data.dtype));
  if (py::isinstance<py::array>(other) || py::isinstance<py::list>(other) || py::isinstance<py::tuple>(other) ||
      py::isinstance(other, py::module_::import("numpy").attr("generic")))
    return make_leaf(array_from_py(other, py::none()));
  std::string foreign = foreign_backend(other);
  if (!foreign.empty()) throw TypeError("cannot combine a tapegrad (native) Tensor with " + foreign);
  return nullptr;
}

// Runs `f` without the GIL when the operands are large.
template <class F>
auto maybe_nogil(std::int64_t numel, F&& f) -> decltype(f()) {
  if (numel >= kGilFreeElements) {
    py::gil_scoped_release release;
    return f();
  }
  return f();
}

using BinFn = TensorPtr (*)(const TensorPtr&, const TensorPtr&);

py::object binary_call(const TensorPtr& self, py::handle other, BinFn fn, bool reflected) {
  TensorPtr o = operand(*self, other);
  if (!o) {
    // bytes/bytearray would answer NotImplemented with a concatenation of our
    // raw buffer (sq_concat): refuse raw memory as an operand outright.
    if (PyBytes_Check(other.ptr()) || PyByteArray_Check(other.ptr()) || PyMemoryView_Check(other.ptr()))
      throw TypeError(std::string("unsupported operand type for a tapegrad (native) Tensor: ") + Py_TYPE(other.ptr())->tp_name);
    return not_implemented();
  }
  const TensorPtr& a = reflected ? o : self;
  const TensorPtr& b = reflected ? self : o;
  return py::cast(maybe_nogil(std::max(a->data.numel(), b->data.numel()), [&] { return fn(a, b); }));
}

template <BinFn F>
void def_binary(py::class_<T, TensorPtr>& cls, const char* name, const char* rname) {
  cls.def(name, [](const TensorPtr& s, py::handle o) { return binary_call(s, o, F, false); }, py::is_operator());
  if (rname) cls.def(rname, [](const TensorPtr& s, py::handle o) { return binary_call(s, o, F, true); }, py::is_operator());
}

template <BinaryKind K>
void def_compare(py::class_<T, TensorPtr>& cls, const char* name) {
  cls.def(name, [](const TensorPtr& s, py::handle o) -> py::object {
    TensorPtr b = operand(*s, o);
    if (!b) return not_implemented();
    return py::cast(compare(static_cast<int>(K), s, b));
  }, py::is_operator());
}

void def_unary(py::class_<T, TensorPtr>& cls, const char* name, TOp op) {
  cls.def(name, [op](const TensorPtr& s) { return maybe_nogil(s->data.numel(), [&] { return unary_op(op, s); }); });
}

std::string op_string_of(TOp op) {
  TensorNode n;
  n.op = op;
  return op_string(n);
}

// dim/keepdim with NumPy's axis/keepdims aliases; None means every dim.
TensorPtr reduce_call(TOp op, const TensorPtr& s, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
  if (!axis.is_none()) {
    if (!dim.is_none()) throw TypeError(op_string_of(op) + "() got both dim and axis");
    dim = axis;
  }
  if (!keepdims.is_none()) keepdim = keepdims.cast<bool>();
  std::vector<std::int64_t> dims;
  bool all = dim.is_none();
  if (!all) {
    if (py::isinstance<py::tuple>(dim) || py::isinstance<py::list>(dim)) {
      for (auto d : dim) dims.push_back(d.cast<std::int64_t>());
    } else {
      if (py::isinstance<py::bool_>(dim) || !py::isinstance(dim, py::module_::import("numbers").attr("Integral")))
        throw TypeError("dim must be an int or a tuple of ints, got " + py::type::handle_of(dim).attr("__name__").cast<std::string>());
      dims.push_back(dim.cast<std::int64_t>());
    }
  }
  return maybe_nogil(s->data.numel(), [&] { return reduce_op(op, s, dims, all, keepdim); });
}

void def_reduce(py::class_<T, TensorPtr>& cls, const char* name, TOp op) {
  cls.def(name, [op](const TensorPtr& s, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
    return reduce_call(op, s, dim, keepdim, axis, keepdims);
  }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(), py::arg("keepdims") = py::none());
}

py::object numpy_of(const TensorPtr& s) { return array_view(s->data, py::cast(s)); }

Array gradient_arg(py::handle gradient, DType dtype) {
  return array_from_py(gradient, py::str(dtype_name(dtype)));
}

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

TensorPtr make_tensor(py::handle data, bool requires_grad, py::handle dtype) {
  return make_leaf(array_from_py(data, dtype), requires_grad);
}

std::vector<TensorPtr> tensor_list(py::handle seq, const char* what) {
  if (py::isinstance<T>(seq) || !py::hasattr(seq, "__iter__"))
    throw TypeError(std::string(what) + "() takes a sequence of tensors, got " + py::type::handle_of(seq).attr("__name__").cast<std::string>());
  std::vector<TensorPtr> out;
  for (auto x : seq) {
    if (py::isinstance<T>(x)) { out.push_back(x.cast<TensorPtr>()); continue; }
    std::string foreign = foreign_backend(x);
    if (!foreign.empty()) throw TypeError(std::string(what) + ": cannot combine " + foreign + " with tapegrad (native) Tensors");
    out.push_back(is_number(x) ? make_leaf(scalar_array(x.cast<double>(), DType::F32)) : make_leaf(array_from_py(x, py::none())));
  }
  if (out.empty()) throw ValueError(std::string(what) + "() needs at least one tensor");
  return out;
}

TensorPtr as_tensor(py::handle x, DType dtype, const char* what) {
  if (py::isinstance<T>(x)) return x.cast<TensorPtr>();
  std::string foreign = foreign_backend(x);
  if (!foreign.empty()) throw TypeError(std::string(what) + ": cannot combine " + foreign + " with tapegrad (native) Tensors");
  if (is_number(x)) return make_leaf(scalar_array(py::float_(py::reinterpret_borrow<py::object>(x)).cast<double>(), dtype));
  return make_leaf(array_from_py(x, py::none()));
}

std::vector<std::int64_t> labels_arg(py::handle labels, std::int64_t n, std::int64_t classes) {
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (py::isinstance<T>(labels)) arr = numpy_of(labels.cast<TensorPtr>());
  else {
    std::string foreign = foreign_backend(labels);
    if (!foreign.empty()) throw TypeError("cross_entropy: labels must be a NumPy array or Tensor, got " + foreign);
    arr = np.attr("asarray")(labels);
  }
  std::string kind = arr.attr("dtype").attr("kind").cast<std::string>();
  if (kind == "f") {
    if (!np.attr("all")(arr.attr("__eq__")(np.attr("round")(arr))).cast<bool>()) throw TypeError("cross_entropy: labels must be integer class ids");
  } else if (kind != "i" && kind != "u") {
    throw TypeError("cross_entropy: labels must be integer class ids, got dtype " + py::str(arr.attr("dtype")).cast<std::string>());
  }
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ints(arr);
  if (ints.ndim() != 1 || ints.shape(0) != n)
    throw ValueError("cross_entropy: labels of shape " + py::str(arr.attr("shape")).cast<std::string>() + " for logits of batch size " + std::to_string(n));
  std::vector<std::int64_t> out(ints.data(), ints.data() + ints.size());
  for (auto l : out)
    if (l < 0 || l >= classes)
      throw IndexError("cross_entropy: label " + std::to_string(l) + " is out of range for " + std::to_string(classes) + " classes");
  return out;
}

// ---- fast paths for the per-op hot path ----------------------------------
// Note [Tensor fast slots]
// pybind11 binds __add__ as a Python method, so `a + b` went through the
// generic slot wrapper (attribute lookup, bound method) and then pybind11's
// overload dispatcher (argument vectors, casters): several times the cost of
// the op itself on small tensors. After the class is complete we point the
// number slots and the unary methods straight at these functions. They keep
// the pybind11 methods' semantics (same conversions, NotImplemented, errors);
// the pybind11 methods stay in the class dict for explicit calls.

template <BinFn F>
PyObject* fast_binary(PyObject* l, PyObject* r) {
  try {
    // Python calls the slot of either operand's type: l (op) r or, reflected, r's.
    py::object out = is_tensor(l) ? binary_call(holder_of(l), r, F, false) : binary_call(holder_of(r), l, F, true);
    return out.release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

template <TOp Op>
PyObject* fast_unary(PyObject* self, PyObject* /*unused*/) {
  try {
    const TensorPtr& s = holder_of(self);
    return py::cast(maybe_nogil(s->data.numel(), [&] { return unary_op(Op, s); })).release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

// Replaces the pybind11 method `name` by a METH_NOARGS C function, keeping its docstring.
void set_fast_method(py::class_<T, TensorPtr>& cls, PyMethodDef* def) {
  static std::vector<std::string> docs;  // the PyMethodDefs point into these for the module's life
  py::object old = cls.attr(def->ml_name);
  docs.reserve(64);
  docs.push_back(py::hasattr(old, "__doc__") && !old.attr("__doc__").is_none() ? old.attr("__doc__").cast<std::string>() : "");
  def->ml_doc = docs.back().c_str();
  py::object descr = py::reinterpret_steal<py::object>(PyDescr_NewMethod(tensor_type, def));
  if (!descr) throw py::error_already_set();
  cls.attr(def->ml_name) = descr;
}

void install_fast_paths(py::class_<T, TensorPtr>& cls) {
  tensor_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  PyNumberMethods* nb = tensor_type->tp_as_number;
  nb->nb_add = &fast_binary<&add>;
  nb->nb_subtract = &fast_binary<&sub>;
  nb->nb_multiply = &fast_binary<&mul>;
  nb->nb_true_divide = &fast_binary<&div>;
  PyType_Modified(tensor_type);
  static PyMethodDef defs[] = {
      {"abs", &fast_unary<TOp::Abs>, METH_NOARGS, nullptr},
      {"relu", &fast_unary<TOp::Relu>, METH_NOARGS, nullptr},
      {"tanh", &fast_unary<TOp::Tanh>, METH_NOARGS, nullptr},
      {"sigmoid", &fast_unary<TOp::Sigmoid>, METH_NOARGS, nullptr},
      {"exp", &fast_unary<TOp::Exp>, METH_NOARGS, nullptr},
      {"log", &fast_unary<TOp::Log>, METH_NOARGS, nullptr},
      {"sqrt", &fast_unary<TOp::Sqrt>, METH_NOARGS, nullptr},
      {"sin", &fast_unary<TOp::Sin>, METH_NOARGS, nullptr},
      {"cos", &fast_unary<TOp::Cos>, METH_NOARGS, nullptr},
  };
  for (auto& d : defs) set_fast_method(cls, &d);
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::class_<T, TensorPtr> cls(m, "Tensor", py::buffer_protocol(),
                               "An n-d array of float32/float64 that records the operations applied to it.");
  cls.def(py::init([](py::handle data, bool requires_grad, py::handle dtype) { return make_tensor(data, requires_grad, dtype); }),
          py::arg("data"), py::arg("requires_grad") = false, py::arg("dtype") = py::none());
  cls.def_buffer([](T& t) {
    const auto isz = static_cast<py::ssize_t>(itemsize(t.data.dtype));
    std::vector<py::ssize_t> shape(t.data.shape.begin(), t.data.shape.end()), strides;
    for (auto s : t.data.strides) strides.push_back(static_cast<py::ssize_t>(s) * isz);
    return py::buffer_info(t.data.ptr(), isz, t.data.dtype == DType::F32 ? "f" : "d", t.data.ndim(), shape, strides);
  });

  // -- properties --
  cls.def_property("data", &numpy_of, [](T& t, py::handle v) { t.data = array_from_py(v, py::str(dtype_name(t.data.dtype))); },
                   "The values as an ndarray sharing memory (assignable: optimizers write it; the dtype is kept).");
  cls.def_property_readonly("shape", [](const T& t) { py::tuple s(t.data.shape.size()); for (std::size_t i = 0; i < t.data.shape.size(); ++i) s[i] = t.data.shape[i]; return s; });
  cls.def_property_readonly("ndim", [](const T& t) { return t.data.ndim(); });
  cls.def_property_readonly("size", [](const T& t) { return t.data.numel(); });
  cls.def_property_readonly("dtype", [](const T& t) { return dtype_obj(t.data.dtype); });
  cls.def_property("requires_grad", [](const T& t) { return t.requires_grad; }, [](T& t, bool flag) {
    if (!t.is_leaf())
      throw RuntimeError("requires_grad can only be changed on a leaf tensor; this one was computed by op '" + op_string(t) + "' (use detach() to get a leaf)");
    t.requires_grad = flag;
  });
  cls.def_property_readonly("is_leaf", [](const T& t) { return t.is_leaf(); });
  cls.def_property("grad", [](const T& t) { return t.grad; }, [](T& t, py::handle g) {
    if (g.is_none()) t.grad = nullptr;
    else if (py::isinstance<T>(g)) t.grad = g.cast<TensorPtr>();
    else t.grad = make_leaf(array_from_py(g, py::str(dtype_name(t.data.dtype))));
  });
  cls.def_property_readonly("op", [](const T& t) { return op_string(t); });
  cls.def_property_readonly("parents", [](const T& t) { py::tuple p(t.parents.size()); for (std::size_t i = 0; i < t.parents.size(); ++i) p[i] = py::cast(t.parents[i]); return p; });
  cls.def_property("label", [](const T& t) { return t.label; }, [](T& t, std::string l) { t.label = std::move(l); });

  // -- conversion --
  cls.def("numpy", &numpy_of, "The values as an ndarray, without a copy.");
  cls.def("__array__", [](const TensorPtr& s, py::object dtype, py::object copy) -> py::object {
    py::object arr = numpy_of(s);
    if (!dtype.is_none() && !py::object(arr.attr("dtype")).equal(py::module_::import("numpy").attr("dtype")(dtype))) {
      if (!copy.is_none() && !copy.cast<bool>()) throw ValueError("converting a tensor to another dtype needs a copy");
      return arr.attr("astype")(dtype);
    }
    return (!copy.is_none() && copy.cast<bool>()) ? arr.attr("copy")() : arr;
  }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
  cls.def("item", [](const T& t) {
    if (t.data.numel() != 1) throw ValueError("item() needs a tensor with one element, got shape " + shape_str(t.data.shape));
    return item(t.data);
  });
  cls.def("tolist", [](const TensorPtr& s) { return numpy_of(s).attr("tolist")(); });
  cls.def("__float__", [](const T& t) {
    if (t.data.numel() != 1) throw ValueError("item() needs a tensor with one element, got shape " + shape_str(t.data.shape));
    return item(t.data);
  });
  cls.def("__bool__", [](const T& t) {
    if (t.data.numel() != 1) throw ValueError("the truth value of a tensor of shape " + shape_str(t.data.shape) + " is ambiguous (only single-element tensors have one)");
    return item(t.data) != 0;
  });
  cls.def("__len__", [](const T& t) {
    if (t.data.ndim() == 0) throw TypeError("len() of a 0-d tensor");
    return t.data.shape[0];
  });
  cls.def("__iter__", [](const TensorPtr& s) {
    if (s->data.ndim() == 0) throw TypeError("iteration over a 0-d tensor");
    py::list items;
    for (std::int64_t i = 0; i < s->data.shape[0]; ++i) {
      IndexItem it; it.i = i;
      items.append(getitem(s, {it}));
    }
    return py::iter(items);
  });
  cls.def("__repr__", &repr);
  cls.def("__hash__", [](py::handle self) { return py::hash(py::cast<py::object>(PyLong_FromVoidPtr(self.ptr()))); });
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
  });

  // -- operators --
  def_binary<&add>(cls, "__add__", "__radd__");
  def_binary<&sub>(cls, "__sub__", "__rsub__");
  def_binary<&mul>(cls, "__mul__", "__rmul__");
  def_binary<&div>(cls, "__truediv__", "__rtruediv__");
  def_binary<&matmul>(cls, "__matmul__", "__rmatmul__");
  cls.def("__pow__", [](const TensorPtr& s, py::handle e) -> py::object {
    if (is_number(e)) {
      double k = py::float_(py::reinterpret_borrow<py::object>(e)).cast<double>();
      return py::cast(maybe_nogil(s->data.numel(), [&] { return pow_const(s, k); }));
    }
    return binary_call(s, e, &pow, false);
  }, py::is_operator());
  cls.def("__rpow__", [](const TensorPtr& s, py::handle b) { return binary_call(s, b, &pow, true); }, py::is_operator());
  cls.def("__neg__", [](const TensorPtr& s) { return neg(s); });
  cls.def("__abs__", [](const TensorPtr& s) { return unary_op(TOp::Abs, s); });
  def_compare<BinaryKind::Lt>(cls, "__lt__");
  def_compare<BinaryKind::Le>(cls, "__le__");
  def_compare<BinaryKind::Gt>(cls, "__gt__");
  def_compare<BinaryKind::Ge>(cls, "__ge__");
  def_compare<BinaryKind::Eq>(cls, "__eq__");
  def_compare<BinaryKind::Ne>(cls, "__ne__");
  cls.attr("__array_ufunc__") = py::none();  // ndarray + Tensor defers to Tensor.__radd__

  // -- elementwise functions --
  def_unary(cls, "abs", TOp::Abs);
  def_unary(cls, "relu", TOp::Relu);
  def_unary(cls, "tanh", TOp::Tanh);
  def_unary(cls, "sigmoid", TOp::Sigmoid);
  def_unary(cls, "exp", TOp::Exp);
  def_unary(cls, "log", TOp::Log);
  def_unary(cls, "sqrt", TOp::Sqrt);
  def_unary(cls, "sin", TOp::Sin);
  def_unary(cls, "cos", TOp::Cos);

  // -- reductions --
  def_reduce(cls, "sum", TOp::Sum);
  def_reduce(cls, "mean", TOp::Mean);
  def_reduce(cls, "max", TOp::Max);
  def_reduce(cls, "min", TOp::Min);

  // -- movement --
  cls.def("reshape", [](const TensorPtr& s, py::args shape) { return reshape(s, shape_args(shape, false)); });
  cls.def("flatten", [](const TensorPtr& s) { return reshape(s, {-1}); });
  cls.def("transpose", [](const TensorPtr& s, std::int64_t d0, std::int64_t d1) { return transpose(s, d0, d1); }, py::arg("dim0"), py::arg("dim1"));
  cls.def_property_readonly("T", [](const TensorPtr& s) {
    std::vector<std::int64_t> rev;
    for (std::int64_t i = s->data.ndim(); i-- > 0;) rev.push_back(i);
    TensorPtr n = permute(s, rev);
    if (!n->is_leaf()) n->op = TOp::Transpose;
    return n;
  });
  cls.def("permute", [](const TensorPtr& s, py::args dims) { return permute(s, shape_args(dims, false)); });
  cls.def("__getitem__", [](const TensorPtr& s, py::handle key) {
    std::vector<IndexItem> items = parse_index(key);
    return maybe_nogil(s->data.numel(), [&] { return getitem(s, items); });
  });

  // -- softmax family --
  cls.def("softmax", [](const TensorPtr& s, std::int64_t dim) { return maybe_nogil(s->data.numel(), [&] { return softmax(s, dim); }); }, py::arg("dim") = -1);
  cls.def("log_softmax", [](const TensorPtr& s, std::int64_t dim) { return maybe_nogil(s->data.numel(), [&] { return log_softmax(s, dim); }); }, py::arg("dim") = -1);

  // -- autograd --
  cls.def("detach", [](const TensorPtr& s) { return make_leaf(s->data); }, "A leaf sharing this tensor's data, outside the graph.");
  cls.def("zero_grad", [](T& t) { t.grad = nullptr; });
  cls.def("backward", [](const TensorPtr& s, py::handle gradient, bool retain_graph) {
    Array g;
    if (!gradient.is_none()) g = gradient_arg(gradient, s->data.dtype);
    BackwardPass pass;
    {
      py::gil_scoped_release release;
      pass = tapegrad::backward(s, gradient.is_none() ? nullptr : &g, retain_graph);
    }
    commit(std::move(pass));  // .grad and .parents change with the GIL held
  }, py::arg("gradient") = py::none(), py::arg("retain_graph") = false,
     "Add d(self)/d(leaf) into .grad of every leaf that requires grad.");
  cls.def("_gradients", [](const TensorPtr& s, py::iterable inputs, py::handle gradient, bool retain_graph) {
    std::vector<TensorPtr> ins;
    for (auto x : inputs) {
      if (!py::isinstance<T>(x))
        throw TypeError("grad() inputs must be tapegrad (native) Tensors, got " + py::type::handle_of(x).attr("__name__").cast<std::string>());
      ins.push_back(x.cast<TensorPtr>());
    }
    Array g;
    if (!gradient.is_none()) g = gradient_arg(gradient, s->data.dtype);
    std::vector<Array> gs;
    BackwardPass pass;
    {
      py::gil_scoped_release release;
      gs = gradients(s, ins, gradient.is_none() ? nullptr : &g, retain_graph, pass);
    }
    commit(std::move(pass));
    py::list out;
    for (auto& a : gs) out.append(make_leaf(std::move(a)));
    return out;
  }, py::arg("inputs"), py::arg("gradient") = py::none(), py::arg("retain_graph") = false);

  // -- module functions --
  m.def("tensor", &make_tensor, py::arg("data"), py::arg("requires_grad") = false, py::arg("dtype") = py::none(),
        "A new leaf holding a copy of data.");
  m.def("zeros", [](py::args shape, py::handle dtype, bool requires_grad) {
    return make_leaf(zeros(shape_args(shape), dtype_arg(dtype, DType::F32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("ones", [](py::args shape, py::handle dtype, bool requires_grad) {
    return make_leaf(full(shape_args(shape), dtype_arg(dtype, DType::F32), 1.0), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("_wrap", [](py::handle data, bool requires_grad) { return make_tensor(data, requires_grad, py::none()); });
  m.def("concatenate", [](py::handle ts, std::int64_t dim, py::object axis) {
    auto v = tensor_list(ts, "concatenate");
    return concatenate(v, axis.is_none() ? dim : axis.cast<std::int64_t>());
  }, py::arg("tensors"), py::arg("dim") = 0, py::kw_only(), py::arg("axis") = py::none());
  m.def("stack", [](py::handle ts, std::int64_t dim, py::object axis) {
    auto v = tensor_list(ts, "stack");
    return stack(v, axis.is_none() ? dim : axis.cast<std::int64_t>());
  }, py::arg("tensors"), py::arg("dim") = 0, py::kw_only(), py::arg("axis") = py::none());
  m.def("where", [](py::handle cond, py::handle a, py::handle b) {
    DType dt = DType::F32;
    bool any = false;
    for (auto x : {a, b})
      if (py::isinstance<T>(x)) { dt = any ? promote(dt, x.cast<T&>().data.dtype) : x.cast<T&>().data.dtype; any = true; }
    TensorPtr c = as_tensor(cond, DType::F32, "where"), x = as_tensor(a, dt, "where"), y = as_tensor(b, dt, "where");
    return where(c, x, y);
  }, py::arg("cond"), py::arg("a"), py::arg("b"));
  m.def("cross_entropy", [](py::handle logits, py::handle labels) {
    TensorPtr z = as_tensor(logits, DType::F32, "cross_entropy");
    if (z->data.ndim() != 2) throw ValueError("cross_entropy: logits must have shape (N, C), got " + shape_str(z->data.shape));
    auto ls = labels_arg(labels, z->data.shape[0], z->data.shape[1]);
    return cross_entropy(z, ls);
  }, py::arg("logits"), py::arg("labels"), "Mean over the batch of -log softmax(logits)[label], fused and stable.");
  m.def("mse_loss", [](py::handle pred, py::handle target) {
    TensorPtr p = as_tensor(pred, DType::F32, "mse_loss");
    TensorPtr t = as_tensor(target, p->data.dtype, "mse_loss");
    return mse_loss(p, t);
  }, py::arg("pred"), py::arg("target"), "Mean of (pred - target)^2 over all elements (shapes broadcast).");

  bind_dlpack(m, cls);
  install_fast_paths(cls);  // last: setting dunders after this would reset the slots
}

}  // namespace tapegrad::bindings
