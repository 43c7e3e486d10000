// The Tensor methods that make ops: operators, the elementwise methods of the
// op table, reductions, movement, indexing, the softmax family; and the fast
// paths that Python calls them through. No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

// `other` as a tensor (numbers take `self`'s dtype), or null if foreign.
TensorPtr operand(const T& self, py::handle other) {
  if (is_tensor(other.ptr())) return holder_of(other.ptr());  // no caster lookup
  if (is_number(other)) return make_leaf(scalar_array(py::float_(py::reinterpret_borrow<py::object>(other)).cast<double>(), self.data.dtype));
  if (py::isinstance<py::array>(other) || py::isinstance<py::list>(other) || py::isinstance<py::tuple>(other) ||
      py::isinstance(other, py::module_::import("numpy").attr("generic")))
    return make_leaf(array_from_py(other, py::none()));
  std::string foreign = foreign_backend(other);
  if (!foreign.empty()) throw TypeError("cannot combine a tapegrad (native) Tensor with " + foreign);
  return nullptr;
}

// `self (op) other`, or `other (op) self` when reflected; NotImplemented for
// operands Python should try the other way.
py::object binary_call(Op op, const TensorPtr& self, py::handle other, bool reflected) {
  TensorPtr o = operand(*self, other);
  if (!o) {
    // bytes/bytearray would answer NotImplemented with a concatenation of our
    // raw buffer (sq_concat), and bytearray/memoryview with a comparison of
    // it: refuse raw memory as an operand outright. As for any foreign type
    // (and on the reference), == is False and != True.
    const bool raw = PyBytes_Check(other.ptr()) || PyByteArray_Check(other.ptr()) || PyMemoryView_Check(other.ptr());
    if (raw && (op == Op::Eq || op == Op::Ne)) return py::bool_(op == Op::Ne);
    if (raw)
      throw TypeError(std::string("unsupported operand type for a tapegrad (native) Tensor: ") + Py_TYPE(other.ptr())->tp_name);
    return not_implemented();
  }
  const TensorPtr& a = reflected ? o : self;
  const TensorPtr& b = reflected ? self : o;
  return py::cast(maybe_nogil(std::max(a->data.numel(), b->data.numel()), [&] {
    if (op == Op::MatMul) return matmul(a, b);
    if (op_info(op).kind == OpKind::Compare) return compare(op, a, b);
    return binary_op(op, a, b);
  }));
}

TensorPtr unary_call(Op op, const TensorPtr& s) {
  return maybe_nogil(s->data.numel(), [&] { return unary_op(op, s); });
}

// ---- operators ------------------------------------------------------------------

// The reflected name of a binary operator: "__add__" -> "__radd__".
std::string reflected_name(const char* name) { return std::string("__r") + (name + 2); }

void bind_operators(TensorClass& cls) {
  for (const OpInfo& info : kOps) {
    if (!info.tensor || info.python[0] != '_') continue;
    const Op op = info.op;
    if (info.kind == OpKind::Binary || info.kind == OpKind::MatMul) {
      if (op == Op::Pow) continue;  // __pow__ also takes a number exponent: below
      cls.def(info.python, [op](const TensorPtr& s, py::handle o) { return binary_call(op, s, o, false); }, py::is_operator(),
              sig(info.python, "self, other", info.doc).c_str());
      std::string r = reflected_name(info.python);
      cls.def(r.c_str(), [op](const TensorPtr& s, py::handle o) { return binary_call(op, s, o, true); }, py::is_operator(),
              sig(r.c_str(), "self, other", info.doc).c_str());
    } else if (info.kind == OpKind::Compare) {
      cls.def(info.python, [op](const TensorPtr& s, py::handle o) { return binary_call(op, s, o, false); }, py::is_operator(),
              sig(info.python, "self, other", info.doc).c_str());
    }
  }
  cls.def("__pow__", [](const TensorPtr& s, py::handle e) -> py::object {
    if (is_number(e)) {
      double k = py::float_(py::reinterpret_borrow<py::object>(e)).cast<double>();
      return py::cast(maybe_nogil(s->data.numel(), [&] { return pow_const(s, k); }));
    }
    return binary_call(Op::Pow, s, e, false);
  }, py::is_operator(), sig("__pow__", "self, exponent", "x ** k for a number k (op '**k'), else x ** b (op '**').").c_str());
  cls.def("__rpow__", [](const TensorPtr& s, py::handle b) { return binary_call(Op::Pow, s, b, true); }, py::is_operator(),
          sig("__rpow__", "self, base", op_info(Op::Pow).doc).c_str());
  cls.def("__neg__", [](const TensorPtr& s) { return unary_call(Op::Neg, s); }, sig("__neg__", "self", op_info(Op::Neg).doc).c_str());
  cls.def("__abs__", [](const TensorPtr& s) { return unary_call(Op::Abs, s); }, sig("__abs__", "self", op_info(Op::Abs).doc).c_str());
  cls.attr("__array_ufunc__") = py::none();  // ndarray + Tensor defers to Tensor.__radd__
}

// ---- reductions, movement, indexing, softmax ------------------------------------------

// dim/keepdim with NumPy's axis/keepdims aliases; None means every dim.
TensorPtr reduce_call(Op op, const TensorPtr& s, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
  if (!axis.is_none()) {
    if (!dim.is_none()) throw TypeError(std::string(op_name(op)) + "() got both dim and axis");
    dim = axis;
  }
  if (!keepdims.is_none()) keepdim = keepdims.cast<bool>();
  std::vector<std::int64_t> dims;
  bool all = dim.is_none();
  if (!all) {
    py::object integral = py::module_::import("numbers").attr("Integral");
    bool seq = py::isinstance<py::tuple>(dim) || py::isinstance<py::list>(dim);
    for (auto d : seq ? py::iterable(dim) : py::iterable(py::make_tuple(dim))) {
      if (py::isinstance<py::bool_>(d) || !py::isinstance(d, integral))
        throw TypeError("dim must be an int or a tuple of ints, got " + py::type::handle_of(d).attr("__name__").cast<std::string>());
      dims.push_back(d.cast<std::int64_t>());
    }
  }
  return maybe_nogil(s->data.numel(), [&] { return reduce_op(op, s, dims, all, keepdim); });
}

void bind_reductions(TensorClass& cls) {
  for (Op op : {Op::Sum, Op::Mean, Op::Max, Op::Min}) {
    const OpInfo& info = op_info(op);
    cls.def(info.python, [op](const TensorPtr& s, py::object dim, bool keepdim, py::object axis, py::object keepdims) {
      return reduce_call(op, s, dim, keepdim, axis, keepdims);
    }, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("axis") = py::none(),
            py::arg("keepdims") = py::none(),
            sig(info.python, "self, dim=None, keepdim=False, *, axis=None, keepdims=None", info.doc).c_str());
  }
}

void bind_movement(TensorClass& cls) {
  cls.def("reshape", [](const TensorPtr& s, py::args shape) { return reshape(s, shape_args(shape, false)); },
          sig("reshape", "self, *shape", op_info(Op::Reshape).doc).c_str());
  cls.def("flatten", [](const TensorPtr& s) { return reshape(s, {-1}); },
          sig("flatten", "self", "A 1-D tensor of all the values (a 'reshape' node).").c_str());
  cls.def("transpose", [](const TensorPtr& s, std::int64_t d0, std::int64_t d1) { return transpose(s, d0, d1); },
          py::arg("dim0"), py::arg("dim1"), sig("transpose", "self, dim0, dim1", op_info(Op::Transpose).doc).c_str());
  cls.def_property_readonly("T", &reverse_dims, "All dims reversed (NumPy's .T); a 'transpose' node.");
  cls.def("permute", [](const TensorPtr& s, py::args dims) { return permute(s, shape_args(dims, false)); },
          sig("permute", "self, *dims", op_info(Op::Permute).doc).c_str());
  cls.def("__getitem__", [](const TensorPtr& s, py::handle key) {
    std::vector<IndexItem> items = parse_index(key);
    return maybe_nogil(s->data.numel(), [&] { return getitem(s, items); });
  }, sig("__getitem__", "self, key", op_info(Op::GetItem).doc).c_str());
  cls.def("softmax", [](const TensorPtr& s, std::int64_t dim) { return maybe_nogil(s->data.numel(), [&] { return softmax(s, dim); }); },
          py::arg("dim") = -1, sig("softmax", "self, dim=-1", op_info(Op::Softmax).doc).c_str());
  cls.def("log_softmax", [](const TensorPtr& s, std::int64_t dim) { return maybe_nogil(s->data.numel(), [&] { return log_softmax(s, dim); }); },
          py::arg("dim") = -1, sig("log_softmax", "self, dim=-1", op_info(Op::LogSoftmax).doc).c_str());
}

// ---- fast paths -----------------------------------------------------------------------
// Note [Tensor fast slots]
// pybind11 binds __add__ as a Python method, so `a + b` went through the
// generic slot wrapper (attribute lookup, bound method) and then pybind11's
// overload dispatcher (argument vectors, casters): several times the cost of
// the op itself on small tensors. After the class is complete the number
// slots of + - * / and every elementwise method of the op table point straight
// at the C functions below. They keep the pybind11 methods' semantics (same
// conversions, NotImplemented, errors); the pybind11 dunders stay in the class
// dict for explicit calls.

template <Op O>
PyObject* fast_binary(PyObject* l, PyObject* r) {
  try {
    // Python calls the slot of either operand's type: l (op) r or, reflected, r's.
    py::object out = is_tensor(l) ? binary_call(O, holder_of(l), r, false) : binary_call(O, holder_of(r), l, true);
    return out.release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

template <Op O>
PyObject* fast_unary(PyObject* self, PyObject* /*unused*/) {
  try {
    return py::cast(unary_call(O, holder_of(self))).release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

// fast_unary<Op::Name> for every row (only the Unary rows' are used)
PyCFunction fast_unary_of[kOpCount] = {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) &fast_unary<Op::Name>,
    TG_OPS(TG_X)
#undef TG_X
};

}  // namespace

void bind_tensor_methods(TensorClass& cls) {
  bind_operators(cls);
  bind_reductions(cls);
  bind_movement(cls);
}

void install_fast_paths(TensorClass& cls) {
  PyNumberMethods* nb = tensor_type->tp_as_number;
  nb->nb_add = &fast_binary<Op::Add>;
  nb->nb_subtract = &fast_binary<Op::Sub>;
  nb->nb_multiply = &fast_binary<Op::Mul>;
  nb->nb_true_divide = &fast_binary<Op::Div>;
  PyType_Modified(tensor_type);
  // The table's elementwise methods (abs, relu, tanh, ...), each a
  // METH_NOARGS function with its text signature; the PyMethodDefs live as
  // long as the module.
  static std::vector<std::string> docs;
  static std::vector<PyMethodDef> defs;
  docs.reserve(kOpCount);
  defs.reserve(kOpCount);
  for (const OpInfo& info : kOps) {
    if (!info.tensor || info.kind != OpKind::Unary || info.python[0] == '_') continue;
    docs.push_back(std::string(info.python) + "($self, /)\n--\n\n" + info.doc + ".");
    defs.push_back({info.python, fast_unary_of[static_cast<int>(info.op)], METH_NOARGS, docs.back().c_str()});
    py::object descr = py::reinterpret_steal<py::object>(PyDescr_NewMethod(tensor_type, &defs.back()));
    if (!descr) throw py::error_already_set();
    cls.attr(info.python) = descr;
  }
}

}  // namespace tapegrad::bindings
