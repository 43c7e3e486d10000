// The Tensor methods that make ops: operators, the elementwise methods of the
// op table, reductions, movement, indexing, the softmax family; and the fast
// paths that Python calls them through. No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "compile_hooks.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

// `other` as a tensor (numbers take `self`'s dtype, Note [Dtypes]), or null if foreign.
TensorPtr operand(const T& self, py::handle other) {
  if (is_tensor(other.ptr())) return holder_of(other.ptr());  // no caster lookup
  if (is_traced_number(other.ptr())) return traced_operand(other, self.data.dtype);
  if (is_number(other)) return number_tensor(other, self.data.dtype);
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
    // it. As for any foreign type (and on the reference), == is False and !=
    // True; `bytes + x` is refused with the words bytes says to a Tensor
    // without a buffer, as the reference's.
    const bool raw = PyBytes_Check(other.ptr()) || PyByteArray_Check(other.ptr()) || PyMemoryView_Check(other.ptr());
    if (raw && (op == Op::Eq || op == Op::Ne)) return py::bool_(op == Op::Ne);
    if (reflected && op == Op::Add && (PyBytes_Check(other.ptr()) || PyByteArray_Check(other.ptr())))
      throw TypeError("can't concat Tensor to " + type_name(other));
    // an ordering would go on to bytearray's and memoryview's, on our raw buffer: Python's words instead
    if (raw && op_info(op).kind == OpKind::Compare)
      throw TypeError(std::string("'") + op_name(op) + "' not supported between instances of 'Tensor' and '" +
                      type_name(other) + "'");
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
              sig(info.python, "self, other, /", info.doc).c_str());
      std::string r = reflected_name(info.python);
      cls.def(r.c_str(), [op](const TensorPtr& s, py::handle o) { return binary_call(op, s, o, true); }, py::is_operator(),
              sig(r.c_str(), "self, other, /", info.doc).c_str());
    } else if (info.kind == OpKind::Compare) {
      cls.def(info.python, [op](const TensorPtr& s, py::handle o) { return binary_call(op, s, o, false); }, py::is_operator(),
              sig(info.python, "self, other, /", info.doc).c_str());
    }
  }
  cls.def("__pow__", [](const TensorPtr& s, py::handle e, py::handle modulo) -> py::object {
    if (!modulo.is_none()) return not_implemented();  // pow(x, k, m): Python's TypeError, as for float
    if (is_number(e)) {
      double k = py::float_(py::reinterpret_borrow<py::object>(e)).cast<double>();
      return py::cast(maybe_nogil(s->data.numel(), [&] { return pow_const(s, k); }));
    }
    return binary_call(Op::Pow, s, e, false);
  }, py::is_operator(), py::arg("other"), py::arg("modulo") = py::none(), py::pos_only(),
     sig("__pow__", "self, other, modulo=None, /", "x ** k for a number k (op '**k'), else x ** b (op '**').").c_str());
  cls.def("__rpow__", [](const TensorPtr& s, py::handle b) { return binary_call(Op::Pow, s, b, true); }, py::is_operator(),
          sig("__rpow__", "self, other, /", op_info(Op::Pow).doc).c_str());
  cls.def("__neg__", [](const TensorPtr& s) { return unary_call(Op::Neg, s); }, sig("__neg__", "self, /", op_info(Op::Neg).doc).c_str());
  cls.def("__abs__", [](const TensorPtr& s) { return unary_call(Op::Abs, s); }, sig("__abs__", "self, /", op_info(Op::Abs).doc).c_str());
  cls.attr("__array_ufunc__") = py::none();  // ndarray + Tensor defers to Tensor.__radd__
}

// ---- reductions, movement, indexing, softmax ------------------------------------------

// dim/keepdim with NumPy's axis/keepdims aliases; None means every dim.
TensorPtr reduce_call(Op op, const TensorPtr& s, const Args& a) {
  py::handle dim = a[0], axis = a[2];
  if (!axis.is_none()) {
    if (!dim.is_none()) throw TypeError(std::string(op_name(op)) + "() got both dim and axis");
    dim = axis;
  }
  const bool keepdim = flag_arg(a[3].is_none() ? a[1] : a[3]);
  const bool all = dim.is_none();
  std::vector<std::int64_t> dims = all ? std::vector<std::int64_t>{} : dims_arg(dim, s->data.ndim());
  return maybe_nogil(s->data.numel(), [&] { return reduce_op(op, s, dims, all, keepdim); });
}

void bind_reductions(TensorClass& cls) {
  for (Op op : {Op::Sum, Op::Mean, Op::Max, Op::Min}) {
    const OpInfo& info = op_info(op);
    def_method(cls, info.python, "self, dim=None, keepdim=False, *, axis=None, keepdims=None", info.doc,
               [op](const TensorPtr& s, const Args& a) { return reduce_call(op, s, a); });
  }
}

// reshape's sizes; one beyond int64 can never match (the core's words, with the number as given)
Shape reshape_args(const TensorPtr& s, py::handle shape) {
  return int_args(shape, "reshape: shape", [&s](const std::string&, const std::string& seq, int sign) {
    throw ValueError(sign > 0 ? reshape_mismatch(s->data.shape, seq) : bad_reshape(seq));
  });
}

std::vector<std::int64_t> permute_args(const TensorPtr& s, py::handle dims) {
  return int_args(dims, "permute: dims", [&s](const std::string& dim, const std::string&, int) {
    throw ValueError(dim_out_of_range(dim, s->data.ndim()));
  });
}

TensorPtr softmax_call(Op op, const TensorPtr& s, py::handle dim) {
  const std::int64_t d = dim_arg(dim, s->data.ndim());
  return maybe_nogil(s->data.numel(), [&] { return op == Op::Softmax ? softmax(s, d) : log_softmax(s, d); });
}

void bind_movement(TensorClass& cls) {
  def_method(cls, "reshape", "self, *shape", op_info(Op::Reshape).doc,
             [](const TensorPtr& s, const Args& a) { return reshape(s, reshape_args(s, a[0])); });
  def_method(cls, "transpose", "self, dim0, dim1", op_info(Op::Transpose).doc, [](const TensorPtr& s, const Args& a) {
    return transpose(s, dim_arg(a[0], s->data.ndim()), dim_arg(a[1], s->data.ndim()));
  });
  cls.def_property_readonly("T", &reverse_dims, "All dims reversed (NumPy's .T); a 'transpose' node.");
  def_method(cls, "permute", "self, *dims", op_info(Op::Permute).doc,
             [](const TensorPtr& s, const Args& a) { return permute(s, permute_args(s, a[0])); });
  cls.def("__getitem__", [](const TensorPtr& s, py::handle key) {
    Tracer* tr = tracing() ? active_tracer() : nullptr;
    if (tr != nullptr) {  // index tensors: the tape reads their ids at each replay
      std::vector<std::pair<std::uint32_t, TensorPtr>> sources;
      std::vector<IndexItem> items = parse_index(key, &sources);
      TensorPtr out = getitem(s, items);
      if (!sources.empty()) tr->index_from(out, items, sources);
      return out;
    }
    std::vector<IndexItem> items = parse_index(key);
    return maybe_nogil(s->data.numel(), [&] { return getitem(s, items); });
  }, sig("__getitem__", "self, key, /", op_info(Op::GetItem).doc).c_str());
  def_method(cls, "softmax", "self, dim=-1", op_info(Op::Softmax).doc,
             [](const TensorPtr& s, const Args& a) { return softmax_call(Op::Softmax, s, a[0]); });
  def_method(cls, "log_softmax", "self, dim=-1", op_info(Op::LogSoftmax).doc,
             [](const TensorPtr& s, const Args& a) { return softmax_call(Op::LogSoftmax, s, a[0]); });
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

// "Tensor.relu", for argument errors.
template <Op O>
const std::string& qualname() {
  static const std::string name = std::string("Tensor.") + op_info(O).python;
  return name;
}

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
PyObject* fast_unary(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (!no_arguments(qualname<O>().c_str(), self, args, nargs, kwnames)) return nullptr;
  try {
    return py::cast(unary_call(O, holder_of(self))).release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

// fast_unary<Op::Name> for every row (only the Unary rows' are used)
using FastMethod = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);
FastMethod fast_unary_of[kOpCount] = {
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
  // The table's elementwise methods (abs, relu, tanh, ...), each a C function
  // with its text signature that takes no arguments; the PyMethodDefs live as
  // long as the module.
  static std::vector<std::string> docs;
  static std::vector<PyMethodDef> defs;
  docs.reserve(kOpCount);
  defs.reserve(kOpCount);
  for (const OpInfo& info : kOps) {
    // only the unary ops made by a method of no arguments: gelu, clamp, ... take
    // arguments and are bound as such (tensor_nn_methods.cpp); erf has no method
    if (!info.tensor || info.kind != OpKind::Unary || info.python[0] == '_' || info.python[0] == '\0' ||
        py::hasattr(cls, info.python))
      continue;
    docs.push_back(std::string(info.python) + "($self, /)\n--\n\n" + info.doc + ".");
    defs.push_back({info.python, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_unary_of[static_cast<int>(info.op)])),
                    METH_FASTCALL | METH_KEYWORDS, docs.back().c_str()});
    py::object descr = py::reinterpret_steal<py::object>(PyDescr_NewMethod(tensor_type, &defs.back()));
    if (!descr) throw py::error_already_set();
    cls.attr(info.python) = descr;
  }
}

}  // namespace tapegrad::bindings
