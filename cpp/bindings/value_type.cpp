// tapegrad._core.Value as a CPython type: number slots, attributes, methods.
// Note [Raw Value type] in value_object.h says why it is not a pybind11 class.
#include <pybind11/pybind11.h>

#include <structmember.h>

#include <exception>
#include <string>
#include <vector>

#include "bindings.h"
#include "compile_hooks.h"
#include "value_object.h"

namespace tapegrad::bindings {

PyTypeObject* value_type = nullptr;

void set_error_from_exception() noexcept {
  try {
    pybind11::detail::try_translate_exceptions();
  } catch (...) {
    PyErr_SetString(PyExc_SystemError, "tapegrad: untranslatable C++ exception");
  }
}

namespace {

// A new, uninitialised object of `type` for node `n`: in the node's room when
// it can be (Note [Value object in the node's room]), else from tp_alloc.
PyValue* allocate_for(PyTypeObject* type, ValueNode* n) {
  if (type != value_type) return reinterpret_cast<PyValue*>(type->tp_alloc(type, 0));
  if (n->has_room()) {
    PyObject* room = reinterpret_cast<PyObject*>(room_of(n));
    if (Py_TYPE(room) == nullptr) return reinterpret_cast<PyValue*>(PyObject_Init(room, type));
  }
  return PyObject_New(PyValue, value_type);  // what tp_alloc gives, without zeroing it first
}

// Makes the freshly allocated Python object `o` the handle of node `n`, which
// it then co-owns; if the allocation failed, an unowned `n` is released.
PyObject* adopt(PyValue* o, ValueNode* n) {
  if (o == nullptr) {
    discard_if_unowned(n);
    return nullptr;
  }
  o->node = n;
  o->weakrefs = nullptr;
  retain(n);
  n->handle_ = o;
  return reinterpret_cast<PyObject*>(o);
}

}  // namespace

PyObject* wrap(ValueNode* n) {
  if (n->handle_ != nullptr) {
    auto* o = static_cast<PyObject*>(n->handle_);
    Py_INCREF(o);
    return o;
  }
  return adopt(allocate_for(value_type, n), n);
}

namespace {

enum class Operand { Node, Number, Traced, Unsupported, Error };

// A tracked number of tg.compile (Note [Compile numbers]) as a leaf whose data
// the tape reads from the number at each replay.
ValueNode* traced_leaf(double value, long ref) {
  ValueNode* leaf = make_leaf(value);
  if (Tracer* t = ref >= 0 ? active_tracer() : nullptr) t->value_from_number(leaf, static_cast<Tracer::Ref>(ref));
  return leaf;
}

// `other` in `self <op> other`: a native Value, a number (to become a constant
// leaf), a tracked number (`ref` its reference), unsupported (the operator
// returns NotImplemented, so Python raises its usual "unsupported operand
// type(s)" TypeError), or an error already set (a Tensor or another backend's
// Value: a TypeError naming both sides).
Operand classify(PyObject* other, PyObject* self, bool reflected, double* number, long* ref) {
  // Exact types first: the common cases cost one pointer compare each.
  if (Py_TYPE(other) == value_type) return Operand::Node;
  if (PyFloat_CheckExact(other)) {
    *number = PyFloat_AS_DOUBLE(other);
    return Operand::Number;
  }
  if (PyLong_CheckExact(other)) {
    *number = PyLong_AsDouble(other);  // OverflowError beyond float range, as float(10**400)
    return (*number == -1.0 && PyErr_Occurred()) ? Operand::Error : Operand::Number;
  }
  if (is_value(other)) return Operand::Node;  // a subclass
  if (PyFloat_Check(other)) {                 // a float subclass such as numpy.float64
    *number = PyFloat_AS_DOUBLE(other);
    return Operand::Number;
  }
  if (is_traced_number(other)) return traced_number(other, number, ref) ? Operand::Traced : Operand::Error;
  if (is_foreign(other)) {
    PyObject* left = reflected ? other : self;
    PyObject* right = reflected ? self : other;
    PyErr_Format(PyExc_TypeError, "cannot combine %s with %s", describe(left).c_str(),
                 describe(right).c_str());
    return Operand::Error;
  }
  int real = is_real(other);
  if (real < 0) return Operand::Error;
  if (real == 0) return Operand::Unsupported;
  *number = PyFloat_AsDouble(other);
  return (*number == -1.0 && PyErr_Occurred()) ? Operand::Error : Operand::Number;
}

// ---- number slots: a Value or a plain number on either side ------------------

PyObject* binary(Op op, PyObject* l, PyObject* r) {
  TG_TRY
  double number = 0.0;
  long ref = -1;
  if (is_value_fast(l)) {
    switch (classify(r, l, false, &number, &ref)) {
      case Operand::Node: return wrap(make_binary(op, node_of(l), node_of(r)));
      case Operand::Number: return wrap(make_binary(op, node_of(l), number));
      case Operand::Traced: return wrap(make_binary(op, node_of(l), traced_leaf(number, ref)));
      case Operand::Unsupported: Py_RETURN_NOTIMPLEMENTED;
      case Operand::Error: return nullptr;
    }
  }
  // Reflected: `2 - a` keeps operand order, parents (Value(2.0), a).
  switch (classify(l, r, true, &number, &ref)) {
    case Operand::Node: return wrap(make_binary(op, node_of(l), node_of(r)));
    case Operand::Number: return wrap(make_binary(op, number, node_of(r)));
    case Operand::Traced: return wrap(make_binary(op, traced_leaf(number, ref), node_of(r)));
    case Operand::Unsupported: Py_RETURN_NOTIMPLEMENTED;
    case Operand::Error: return nullptr;
  }
  Py_RETURN_NOTIMPLEMENTED;
  TG_CATCH(nullptr)
}

}  // namespace

// The number slots of the binary operators; value_methods.cpp binds them as methods too.
PyObject* nb_add(PyObject* l, PyObject* r) { return binary(Op::Add, l, r); }
PyObject* nb_sub(PyObject* l, PyObject* r) { return binary(Op::Sub, l, r); }
PyObject* nb_mul(PyObject* l, PyObject* r) { return binary(Op::Mul, l, r); }
PyObject* nb_div(PyObject* l, PyObject* r) { return binary(Op::Div, l, r); }

// a ** k for a number k is "**k" (one parent); a ** b and 2 ** a are "**".
PyObject* nb_pow(PyObject* l, PyObject* r, PyObject* mod) {
  if (mod != Py_None) Py_RETURN_NOTIMPLEMENTED;
  TG_TRY
  if (is_value_fast(l) && !is_value_fast(r)) {
    double k = 0.0;
    long ref = -1;
    switch (classify(r, l, false, &k, &ref)) {
      case Operand::Number: return wrap(make_pow_const(node_of(l), k));
      case Operand::Traced: {  // a ** x: the exponent is read from the tracked number
        ValueNode* n = make_pow_const(node_of(l), k);
        if (Tracer* t = ref >= 0 ? active_tracer() : nullptr) t->value_from_number(n, static_cast<Tracer::Ref>(ref));
        return wrap(n);
      }
      case Operand::Unsupported: Py_RETURN_NOTIMPLEMENTED;
      default: return nullptr;
    }
  }
  return binary(Op::Pow, l, r);
  TG_CATCH(nullptr)
}


namespace {

PyObject* nb_neg(PyObject* self) { return unary<Op::Neg>(self); }
PyObject* nb_abs(PyObject* self) { return unary<Op::Abs>(self); }
// float(v) reads the exact value: while tracing, a guard (Note [Compile numbers]).
PyObject* nb_float(PyObject* self) {
  PyObject* x = PyFloat_FromDouble(node_of(self)->data_);
  if (x == nullptr || !tracing() || active_tracer() == nullptr) return x;
  PyObject* out = call_hook("value_float", self, x);
  Py_DECREF(x);
  return out;
}

// ---- object lifetime ------------------------------------------------------

// A new leaf Value(0.0); __init__ sets data and label (so subclasses may
// define their own __init__ and call super().__init__(data)).
PyObject* tp_new(PyTypeObject* type, PyObject* /*args*/, PyObject* /*kwargs*/) {
  TG_TRY
  ValueNode* n = make_leaf(0.0);
  return adopt(allocate_for(type, n), n);
  TG_CATCH(nullptr)
}

bool set_label_from(PyObject* self, PyObject* value) {
  if (!PyUnicode_Check(value)) {
    PyErr_Format(PyExc_TypeError, "Value.label must be a str, not %s", describe(value).c_str());
    return false;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(value, &size);
  if (text == nullptr) return false;
  set_label(node_of(self), std::string(text, static_cast<std::size_t>(size)));
  return true;
}

int init_from(PyObject* self, PyObject* data, PyObject* label_obj) {
  double x = 0.0;
  long ref = -1;
  if (is_traced_number(data) ? !traced_number(data, &x, &ref) : !as_double(data, "Value() data", &x)) return -1;
  node_of(self)->data_ = x;
  if (Tracer* t = tracing() ? active_tracer() : nullptr) {  // the leaf's event gets its data, or the number
    if (ref >= 0) t->value_from_number(node_of(self), static_cast<Tracer::Ref>(ref));
    else t->on_value_init(node_of(self));
  }
  if (label_obj != nullptr && !set_label_from(self, label_obj)) return -1;
  return 0;
}

}  // namespace

// Value(data, label=''): the common calls directly, the others bound by the
// signature (Note [Signatures]), whose argument errors are Python's own.
int value_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  const Py_ssize_t nargs = PyTuple_GET_SIZE(args);
  if (kwargs == nullptr && (nargs == 1 || nargs == 2))
    return init_from(self, PyTuple_GET_ITEM(args, 0), nargs == 2 ? PyTuple_GET_ITEM(args, 1) : nullptr);
  TG_TRY
  static const Signature& s = signature("Value.__init__", "self, data, label=''");
  Args a = s.bind(self, py::reinterpret_borrow<py::args>(args),
                  kwargs ? py::reinterpret_borrow<py::kwargs>(kwargs) : py::kwargs());
  return init_from(self, a[0].ptr(), a[1].ptr());
  TG_CATCH(-1)
}

namespace {

// Value(data, label="") called on the exact type (Note [Value constructor]):
// the common call, one number and no label, without building an argument
// tuple or parsing keywords. Anything else takes tp_new and tp_init.
PyObject* vectorcall_new(PyObject* type, PyObject* const* args, std::size_t nargsf, PyObject* kwnames) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs == 1 && kwnames == nullptr) {
    double x = 0.0;
    if (PyFloat_CheckExact(args[0])) {
      x = PyFloat_AS_DOUBLE(args[0]);
    } else if (is_traced_number(args[0])) {
      long ref = -1;
      if (!traced_number(args[0], &x, &ref)) return nullptr;
      TG_TRY
      ValueNode* n = traced_leaf(x, ref);
      return adopt(allocate_for(value_type, n), n);
      TG_CATCH(nullptr)
    } else if (!as_double(args[0], "Value() data", &x)) {
      return nullptr;
    }
    TG_TRY
    ValueNode* n = make_leaf(x);
    return adopt(allocate_for(value_type, n), n);
    TG_CATCH(nullptr)
  }
  PyObject* tuple = PyTuple_New(nargs);
  if (tuple == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    Py_INCREF(args[i]);
    PyTuple_SET_ITEM(tuple, i, args[i]);
  }
  PyObject* kwargs = nullptr;
  if (kwnames != nullptr) {
    kwargs = PyDict_New();
    for (Py_ssize_t i = 0; kwargs != nullptr && i < PyTuple_GET_SIZE(kwnames); ++i)
      if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) Py_CLEAR(kwargs);
  }
  PyObject* out = nullptr;
  if (kwnames == nullptr || kwargs != nullptr) {
    auto* t = reinterpret_cast<PyTypeObject*>(type);
    out = t->tp_new(t, tuple, kwargs);
    if (out != nullptr && t->tp_init(out, tuple, kwargs) < 0) Py_CLEAR(out);
  }
  Py_DECREF(tuple);
  Py_XDECREF(kwargs);
  return out;
}

void tp_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  auto* o = reinterpret_cast<PyValue*>(self);
  ValueNode* n = o->node;
  // Unhook first: a weakref callback below may ask for this node's object
  // (through some child's .parents) and must then get a fresh one.
  if (n != nullptr && n->handle_ == self) n->handle_ = nullptr;
  if (o->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  if (in_room(o)) {
    Py_SET_TYPE(self, nullptr);  // the room is free again (Note [Value object in the node's room])
    release(n);  // may free the room with the node, and a whole graph, iteratively
  } else {
    if (n != nullptr) release(n);
    type->tp_free(self);
  }
  Py_DECREF(type);
}

// ---- attributes -------------------------------------------------------------

PyObject* tp_repr(PyObject* self) {
  const ValueNode* n = node_of(self);
  char* data = PyOS_double_to_string(n->data_, 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);
  char* grad = PyOS_double_to_string(n->grad_, 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);
  PyObject* out = (data != nullptr && grad != nullptr)
                      ? PyUnicode_FromFormat("Value(data=%s, grad=%s)", data, grad)
                      : PyErr_NoMemory();
  PyMem_Free(data);
  PyMem_Free(grad);
  return out;
}

// The words Python 3.11+ uses for a property without a setter or deleter,
// which the reference's Value says on every version (tapegrad/_shared.py).
int no_delete(PyObject* self, const char* name) {
  PyErr_Format(PyExc_AttributeError, "property '%s' of '%s' object has no deleter", name, Py_TYPE(self)->tp_name);
  return -1;
}

int read_only(PyObject* self, PyObject* value, void* name) {
  if (value == nullptr) return no_delete(self, static_cast<const char*>(name));
  PyErr_Format(PyExc_AttributeError, "property '%s' of '%s' object has no setter", static_cast<const char*>(name),
               Py_TYPE(self)->tp_name);
  return -1;
}

// While tracing, v.data is a tracked number, and assigning it is a store of the tape.
PyObject* get_data(PyObject* self, void*) {
  PyObject* x = PyFloat_FromDouble(node_of(self)->data_);
  if (x == nullptr || !tracing() || active_tracer() == nullptr) return x;
  PyObject* out = call_hook("value_data", self, x);
  Py_DECREF(x);
  return out;
}
int set_data(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) return no_delete(self, "data");
  if (tracing() && active_tracer() != nullptr) {
    PyObject* x = call_hook("value_store", self, value);  // logs the store; the value to set
    if (x == nullptr) return -1;
    int rc = as_double(x, "Value.data", &node_of(self)->data_) ? 0 : -1;
    Py_DECREF(x);
    return rc;
  }
  return as_double(value, "Value.data", &node_of(self)->data_) ? 0 : -1;
}

PyObject* get_grad(PyObject* self, void*) { return PyFloat_FromDouble(node_of(self)->grad_); }
}  // namespace

int set_grad(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) return no_delete(self, "grad");
  return as_double(value, "Value.grad", &node_of(self)->grad_) ? 0 : -1;
}

namespace {

PyObject* get_op(PyObject* self, void*) {
  static PyObject* names[kOpCount] = {};
  const ValueNode* n = node_of(self);
  TG_TRY
  if (n->op() == Op::PowConst || n->op() == Op::Function) return PyUnicode_FromString(op_string(n).c_str());
  PyObject*& name = names[static_cast<int>(n->op())];
  if (name == nullptr) {
    name = PyUnicode_InternFromString(op_name(n->op()));
    if (name == nullptr) return nullptr;
  }
  Py_INCREF(name);
  return name;
  TG_CATCH(nullptr)
}

PyObject* get_parents(PyObject* self, void*) {
  const ValueNode* n = node_of(self);
  int arity = n->arity();
  PyObject* out = PyTuple_New(arity);
  if (out == nullptr) return nullptr;
  for (int i = 0; i < arity; ++i) {
    PyObject* p = wrap(n->parent(i));
    if (p == nullptr) {
      Py_DECREF(out);
      return nullptr;
    }
    PyTuple_SET_ITEM(out, i, p);
  }
  return out;
}

// micrograd's v._prev: the distinct parents, as a frozenset (read-only all
// the way down; .parents keeps their order and repeats).
PyObject* get_prev(PyObject* self, void*) {
  PyObject* parents = get_parents(self, nullptr);
  if (parents == nullptr) return nullptr;
  PyObject* out = PyFrozenSet_New(parents);
  Py_DECREF(parents);
  return out;
}

}  // namespace

PyObject* get_label(PyObject* self, void*) {
  const std::string& text = label(node_of(self));
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}
namespace {

int set_label_attr(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) return no_delete(self, "label");
  TG_TRY
  return set_label_from(self, value) ? 0 : -1;
  TG_CATCH(-1)
}

PyObject* get_from_backward(PyObject* self, void*) { return PyBool_FromLong(from_backward(node_of(self))); }

PyGetSetDef getset[] = {
    {"data", get_data, set_data, "The forward value (float, assignable).", nullptr},
    {"grad", get_grad, set_grad, "The accumulated gradient (float, assignable).", nullptr},
    {"op", get_op, read_only, "The op that made this Value: '' for leaves, '+', '**2', 'tanh', ...",
     const_cast<char*>("op")},
    {"parents", get_parents, read_only, "The Values this one was computed from (tuple).", const_cast<char*>("parents")},
    {"label", get_label, set_label_attr, "A name shown in graph drawings (str, assignable).",
     nullptr},
    {"_from_backward", get_from_backward, read_only, "Made by a recorded backward pass (create_graph).",
     const_cast<char*>("_from_backward")},
    {"_prev", get_prev, read_only, "micrograd's name: the distinct parents (frozenset).", const_cast<char*>("_prev")},
    {"_op", get_op, read_only, "micrograd's name for op (the same string).", const_cast<char*>("_op")},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PyValue, weakrefs), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

const char* doc =
    "Value(data, label='')\n--\n\n"
    "A scalar node of a computation graph (micrograd-compatible), backed by the C++ tape.\n"
    "data and grad are floats and assignable; op is '' for leaves; parents is a tuple.";

PyType_Slot slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(tp_new)},
    {Py_tp_init, reinterpret_cast<void*>(value_init)},
    {Py_tp_dealloc, reinterpret_cast<void*>(tp_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(tp_repr)},
    {Py_tp_getset, getset},
    {Py_tp_methods, nullptr},  // method_table(), set in make_value_type
    {Py_tp_members, members},
    {Py_tp_doc, const_cast<char*>(doc)},
    {Py_nb_add, reinterpret_cast<void*>(nb_add)},
    {Py_nb_subtract, reinterpret_cast<void*>(nb_sub)},
    {Py_nb_multiply, reinterpret_cast<void*>(nb_mul)},
    {Py_nb_true_divide, reinterpret_cast<void*>(nb_div)},
    {Py_nb_power, reinterpret_cast<void*>(nb_pow)},
    {Py_nb_negative, reinterpret_cast<void*>(nb_neg)},
    {Py_nb_absolute, reinterpret_cast<void*>(nb_abs)},
    {Py_nb_float, reinterpret_cast<void*>(nb_float)},
    {0, nullptr},
};

PyType_Spec spec = {
    "tapegrad._core.Value",
    sizeof(PyValue),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    slots,
};

}  // namespace

PyObject* make_value_type() {
  for (PyType_Slot* slot = slots; slot->slot != 0; ++slot)
    if (slot->slot == Py_tp_methods) slot->pfunc = method_table();
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) return nullptr;
  // NumPy scalars on the left defer to our reflected operators, as in the reference.
  if (PyObject_SetAttrString(type, "__array_ufunc__", Py_None) < 0) {
    Py_DECREF(type);
    return nullptr;
  }
  value_type = reinterpret_cast<PyTypeObject*>(type);
  // Named in messages as a Python class is (__module__ stays tapegrad._core),
  // so that Python's own errors read as the reference's: "unsupported operand
  // type(s) for +: 'Value' and 'str'" (Note [Binding technologies]).
  value_type->tp_name = "Value";
  // Note [Value constructor]: calls of the type itself (never inherited by
  // subclasses, whose __init__ then runs as usual) take vectorcall_new.
  value_type->tp_vectorcall = reinterpret_cast<vectorcallfunc>(vectorcall_new);
  Py_INCREF(type);  // the module holds one reference, value_type another (never dropped)
  return type;
}

}  // namespace tapegrad::bindings
