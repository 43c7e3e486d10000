// The methods of tapegrad._core.Value: backpropagation (backward, the
// gradients of tg.grad, fused or recorded), local gradients, copying, and the
// table of all its methods, the unary ones from the op table.
#include <exception>
#include <string>
#include <vector>

#include "bindings.h"
#include "compile_hooks.h"
#include "value_object.h"

namespace tapegrad::bindings {

namespace {


PyObject* m_local_grads(PyObject* self, PyObject*) {
  TG_TRY
  std::vector<double> g = local_grads(node_of(self));
  PyObject* out = PyTuple_New(static_cast<Py_ssize_t>(g.size()));
  if (out == nullptr) return nullptr;
  for (std::size_t i = 0; i < g.size(); ++i) {
    PyObject* x = PyFloat_FromDouble(g[i]);
    if (x == nullptr) {
      Py_DECREF(out);
      return nullptr;
    }
    PyTuple_SET_ITEM(out, static_cast<Py_ssize_t>(i), x);
  }
  return out;
  TG_CATCH(nullptr)
}

// Runs `sweep` with the GIL released: it touches no Python object, and
// the caller's reference to self keeps the whole graph alive meanwhile.
// While Python callbacks exist it keeps the GIL (Note [Callbacks]).
template <class Sweep>
bool without_gil(Sweep&& sweep) {
  if (live_callbacks() > 0) {
    try {
      sweep();
      return true;
    } catch (...) {
      set_error_from_exception();
      return false;
    }
  }
  std::exception_ptr error;
  Py_BEGIN_ALLOW_THREADS
  try {
    sweep();
  } catch (...) {
    error = std::current_exception();
  }
  Py_END_ALLOW_THREADS
  if (!error) return true;
  try {
    std::rethrow_exception(error);
  } catch (...) {
    set_error_from_exception();
  }
  return false;
}

// This pass's gradients as floats, swept without the GIL.
PyObject* numbers(ValueNode* root, const std::vector<ValueNode*>& nodes, double seed) {
  std::vector<double> grads;
  if (!without_gil([&] { grads = tapegrad::gradients(root, nodes, seed); })) return nullptr;
  PyObject* out = PyList_New(static_cast<Py_ssize_t>(grads.size()));
  if (out == nullptr) return nullptr;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    PyObject* g = PyFloat_FromDouble(grads[i]);
    if (g == nullptr) {
      Py_DECREF(out);
      return nullptr;
    }
    PyList_SET_ITEM(out, static_cast<Py_ssize_t>(i), g);
  }
  return out;
}

// This pass's gradients as recorded Values (create_graph): the sweep builds
// nodes, so it runs with the GIL held.
PyObject* recorded(ValueNode* root, const std::vector<ValueNode*>& nodes, double seed, ValueNode* seed_node) {
  std::vector<ValueNode*> grads = tapegrad::recorded_gradients(root, nodes, seed, seed_node);
  PyObject* out = PyList_New(static_cast<Py_ssize_t>(grads.size()));
  for (std::size_t i = 0; i < grads.size(); ++i) {
    PyObject* g = out == nullptr ? nullptr : wrap(grads[i]);
    release(grads[i]);  // the reference recorded_gradients handed over; the object holds its own
    if (out == nullptr) continue;
    if (g == nullptr) {
      Py_CLEAR(out);
      continue;
    }
    PyList_SET_ITEM(out, static_cast<Py_ssize_t>(i), g);
  }
  return out;
}

PyObject* m_backward(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (!no_arguments("Value.backward", self, args, nargs, kwnames)) return nullptr;
  TG_TRY
  check_not_tracing("backward()");
  TG_CATCH(nullptr)
  ValueNode* root = node_of(self);
  if (!without_gil([root] { backward(root); })) return nullptr;
  Py_RETURN_NONE;
}

PyObject* m_gradients(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* kwlist[] = {"inputs", "gradient", "retain_graph", "create_graph", nullptr};
  PyObject* inputs = nullptr;
  PyObject* gradient = Py_None;
  PyObject* retain_graph = Py_None;  // a Value graph is never freed
  int create_graph = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOp:_gradients", const_cast<char**>(kwlist),
                                   &inputs, &gradient, &retain_graph, &create_graph))
    return nullptr;
  TG_TRY
  check_not_tracing("tg.grad()");
  PyObject* seq = PySequence_Fast(inputs, "grad() inputs must be a sequence of Values");
  if (seq == nullptr) return nullptr;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
  std::vector<ValueNode*> nodes;
  nodes.reserve(static_cast<std::size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* x = PySequence_Fast_GET_ITEM(seq, i);
    if (!is_value(x)) {
      PyErr_Format(PyExc_TypeError, "grad() inputs must be Values, not %s", describe(x).c_str());
      Py_DECREF(seq);
      return nullptr;
    }
    nodes.push_back(node_of(x));
  }
  // gradient=: a number, or a Value (a recorded pass differentiates through it)
  double seed = 1.0;
  ValueNode* seed_node = gradient != Py_None && is_value(gradient) ? node_of(gradient) : nullptr;
  if (seed_node != nullptr) {
    seed = seed_node->data_;
  } else if (gradient != Py_None && !as_double(gradient, "grad() gradient", &seed)) {
    Py_DECREF(seq);
    return nullptr;
  }
  ValueNode* root = node_of(self);
  PyObject* out = create_graph ? recorded(root, nodes, seed, seed_node) : numbers(root, nodes, seed);
  Py_DECREF(seq);  // held until here: it keeps the inputs alive during the sweep
  return out;
  TG_CATCH(nullptr)
}

// Copies and pickles are leaves with the same data, grad and label: the graph
// edges are not copied (as the reference documents).
PyObject* m_reduce(PyObject* self, PyObject*) {
  const ValueNode* n = node_of(self);
  TG_TRY
  PyObject* text = get_label(self, nullptr);
  if (text == nullptr) return nullptr;
  return Py_BuildValue("O(dN)d", reinterpret_cast<PyObject*>(value_type), n->data_, text,
                       n->grad_);
  TG_CATCH(nullptr)
}

PyObject* m_setstate(PyObject* self, PyObject* state) {
  return set_grad(self, state, nullptr) == 0 ? (Py_INCREF(Py_None), Py_None) : nullptr;
}

// The unary methods come from the op table (every Value row that is made by
// a method of its own: relu, tanh, ...), the rest are listed here. Each
// docstring starts with its text signature, so inspect.signature and help()
// show it.
using FastMethod = PyObject* (*)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*);

template <class F>
PyCFunction as_method(F* f) { return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f)); }
PyCFunction fast(FastMethod f) { return as_method(f); }

// ---- the operators and __init__ as methods ----------------------------------

// Value.__add__ and the others are methods that show the reference's
// signature, (self, other, /), where CPython's slot wrappers would show
// (self, value, /); the slots stay the functions above (METH_COEXIST).
std::string method_name(PyCFunction f);  // "Value.__add__" for the method whose function f is

template <binaryfunc slot, bool reflected>
PyObject* operator_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs == 1 && (kwnames == nullptr || PyTuple_GET_SIZE(kwnames) == 0))
    return reflected ? slot(args[0], self) : slot(self, args[0]);
  // a temporary signature: it has no defaults to keep (Note [Signatures])
  const std::string name = method_name(as_method(&operator_method<slot, reflected>));
  return Signature(name.c_str(), "self, other, /").fail(self, args, nargs, kwnames);
}

PyObject* rpow(PyObject* l, PyObject* r) { return nb_pow(l, r, Py_None); }

PyObject* m_pow(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs >= 1 && nargs <= 2 && (kwnames == nullptr || PyTuple_GET_SIZE(kwnames) == 0))
    return nb_pow(self, args[0], nargs == 2 ? args[1] : Py_None);
  static const Signature& s = signature("Value.__pow__", "self, other, modulo=None, /");
  return s.fail(self, args, nargs, kwnames);
}

// Value.__init__ as a method, with its signature (super().__init__(data) in a subclass).
PyObject* m_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  if (value_init(self, args, kwargs) < 0) return nullptr;
  Py_RETURN_NONE;
}

#define TG_OPERATOR(py, slot, reflected) \
  {py, as_method(&operator_method<slot, reflected>), METH_FASTCALL | METH_KEYWORDS | METH_COEXIST, py "($self, other, /)\n--\n\n"}

PyMethodDef coexisting[] = {
    {"__init__", as_method(&m_init), METH_VARARGS | METH_KEYWORDS | METH_COEXIST,
     "__init__($self, /, data, label='')\n--\n\nA leaf holding float(data) (a real number); label a str."},
    TG_OPERATOR("__add__", nb_add, false),
    TG_OPERATOR("__radd__", nb_add, true),
    TG_OPERATOR("__sub__", nb_sub, false),
    TG_OPERATOR("__rsub__", nb_sub, true),
    TG_OPERATOR("__mul__", nb_mul, false),
    TG_OPERATOR("__rmul__", nb_mul, true),
    TG_OPERATOR("__truediv__", nb_div, false),
    TG_OPERATOR("__rtruediv__", nb_div, true),
    {"__pow__", as_method(&m_pow), METH_FASTCALL | METH_KEYWORDS | METH_COEXIST,
     "__pow__($self, other, modulo=None, /)\n--\n\na ** k for a number k (op '**k'), else a ** b (op '**')."},
    TG_OPERATOR("__rpow__", rpow, true),
};
#undef TG_OPERATOR

std::string method_name(PyCFunction f) {
  for (const PyMethodDef& m : coexisting)
    if (m.ml_meth == f) return std::string("Value.") + m.ml_name;
  return "Value.<operator>";
}


// "Value.relu", for argument errors.
template <Op op>
const char* qualname() {
  static const std::string name = std::string("Value.") + op_info(op).python;
  return name.c_str();
}

// The method form of a unary op (a.relu()): it takes no arguments.
template <Op op>
PyObject* unary_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (!no_arguments(qualname<op>(), self, args, nargs, kwnames)) return nullptr;
  return unary<op>(self);
}

PyMethodDef fixed_methods[] = {
    {"backward", fast(m_backward), METH_FASTCALL | METH_KEYWORDS,
     "backward($self, /)\n--\n\n"
     "Add d(self)/d(node) to .grad of every Value reachable from self (self included).\n\n"
     "Each call adds this pass's gradients once more; earlier .grad totals are never "
     "propagated. The GIL is released during the sweep."},
    {"_local_grads", m_local_grads, METH_NOARGS,
     "_local_grads($self, /)\n--\n\n"
     "d(self)/d(parent) for each parent, at the forward values; () for a leaf."},
    {"_gradients", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(m_gradients)),
     METH_VARARGS | METH_KEYWORDS,
     "_gradients($self, /, inputs, gradient=None, retain_graph=None, create_graph=False)\n--\n\n"
     "This pass's d(self)/d(input) for each input (0.0 if unreachable); no .grad changes. "
     "With create_graph, the gradients are Values recorded in the graph."},
    {"__reduce__", m_reduce, METH_NOARGS, "__reduce__($self, /)\n--\n\nPickle/copy as a leaf with the same data, grad, label."},
    {"__setstate__", m_setstate, METH_O, "__setstate__($self, state, /)\n--\n\nRestore the grad of a pickled Value."},
};

// unary_method<Op::Name> for every row (only the Unary rows' are used)
FastMethod unary_method_of[kOpCount] = {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) &unary_method<Op::Name>,
    TG_OPS(TG_X)
#undef TG_X
};

}  // namespace

PyMethodDef* method_table() {
  static std::vector<std::string> docs;
  static std::vector<PyMethodDef> defs;
  if (!defs.empty()) return defs.data();
  for (const OpInfo& info : kOps) {
    if (!info.value || info.kind != OpKind::Unary || info.python[0] == '_') continue;
    docs.push_back(std::string(info.python) + "($self, /)\n--\n\n" + info.doc + ".");
  }
  std::size_t d = 0;
  for (const OpInfo& info : kOps) {
    if (!info.value || info.kind != OpKind::Unary || info.python[0] == '_') continue;
    defs.push_back({info.python, fast(unary_method_of[static_cast<int>(info.op)]), METH_FASTCALL | METH_KEYWORDS,
                    docs[d++].c_str()});
  }
  for (const PyMethodDef& m : fixed_methods) defs.push_back(m);
  for (const PyMethodDef& m : coexisting) defs.push_back(m);
  defs.push_back({nullptr, nullptr, 0, nullptr});
  return defs.data();
}

}  // namespace tapegrad::bindings
