// The Python object behind tapegrad._core.Value and the helpers shared by the
// Value binding files.
//
// Note [Raw Value type]
// Value is a plain CPython extension type (PyType_FromSpec) rather than a
// pybind11 class: its number slots (nb_add, nb_multiply, ...) are C functions
// that check "Value, float or int" by hand and build the result without any
// overload dispatch, holder bookkeeping or instance registry. That keeps a
// scalar op at tens of nanoseconds, which is the whole point of the native
// backend (benchmark W1). pybind11 still provides the module, the module-level
// functions and the exception translation.
//
// Note [Value constructor]
// `Value(x)` through tp_new and tp_init builds an argument tuple and parses
// it with keywords: ~150 ns, most of a leaf's cost in a forward pass that
// makes many (W3 makes 10^5). The type's tp_vectorcall (value_type.cpp,
// vectorcall_new) takes the common call, one number, in ~50 ns; any other
// call goes through tp_new and tp_init as before. CPython never inherits
// tp_vectorcall, so a subclass's own __init__ still runs.
#pragma once

#include <Python.h>

#include <string>

#include "value.h"

namespace tapegrad::bindings {

struct PyValue {
  PyObject_HEAD
  ValueNode* node;      // one reference, held for the object's lifetime
  PyObject* weakrefs;   // weakref support, as the reference Value has
};

// Note [Value object in the node's room]
// An object of the exact Value type is built in its node's host room (Note
// [Host room] in value.h), if it has one, rather than in CPython's heap: PyObject_Init on the
// room, and no tp_free at the end, since the room goes with the node, which
// the object keeps alive. The room is free while its type field is null (the
// core zeroes it; tp_dealloc nulls it again). An object is in the room iff it
// sits there (in_room); others, a subclass's instances, or an object asked for
// while the room's object is being deallocated (a weakref callback may wrap
// the node then), come from the type's tp_alloc and go back through tp_free.
static_assert(sizeof(PyValue) <= kHostRoom, "Note [Value object in the node's room]");
inline PyValue* room_of(ValueNode* n) { return static_cast<PyValue*>(host_room(n)); }
inline bool in_room(PyValue* o) { return o->node != nullptr && o->node->has_room() && o == room_of(o->node); }

extern PyTypeObject* value_type;

inline bool is_value(PyObject* o) {
  return Py_TYPE(o) == value_type || PyType_IsSubtype(Py_TYPE(o), value_type);
}

// Skips the subtype walk for the two types that dominate arithmetic.
inline bool is_value_fast(PyObject* o) {
  if (Py_TYPE(o) == value_type) return true;
  if (PyFloat_CheckExact(o) || PyLong_CheckExact(o)) return false;
  return PyType_IsSubtype(Py_TYPE(o), value_type) != 0;
}

inline ValueNode* node_of(PyObject* o) { return reinterpret_cast<PyValue*>(o)->node; }

// A new reference to the Python object for `n`: the live one if there is one
// (Note [Value handle]), else a new one. Frees `n` if it is unowned and the
// allocation fails.
PyObject* wrap(ValueNode* n);

// Sets the Python error for the exception being handled (call in a catch block).
void set_error_from_exception() noexcept;

// A C++ exception inside a slot or method becomes the Python error it maps to.
#define TG_TRY try {
#define TG_CATCH(fail)           \
  }                              \
  catch (...) {                  \
    set_error_from_exception();  \
    return fail;                 \
  }

// "a tapegrad (native) Value", "a tapegrad.reference Tensor", or the type's name.
std::string describe(PyObject* o);
// A tapegrad object other than a native Value: a reference Value, or a Tensor.
bool is_foreign(PyObject* o);
// isinstance(o, numbers.Real) (-1: an error is set).
int is_real(PyObject* o);
// float(o) for a real number, else TypeError "<what> must be a real number, not <type>".
bool as_double(PyObject* o, const char* what, double* out);
// Value.grad's setter and Value.label's getter (value_type.cpp), for pickling.
int set_grad(PyObject* self, PyObject* value, void*);
PyObject* get_label(PyObject* self, void*);

// The method `op` of the op table: a new Value from self.
template <Op op>
PyObject* unary(PyObject* self, PyObject* /*unused*/ = nullptr) {
  TG_TRY
  return wrap(make_unary(op, node_of(self)));
  TG_CATCH(nullptr)
}

// Every method of Value, terminated as CPython wants (value_methods.cpp).
PyMethodDef* method_table();
// Value.__init__ (tp_init) and the number slots of the binary operators
// (value_type.cpp), which value_methods.cpp also binds as methods, for their
// signatures (METH_COEXIST).
int value_init(PyObject* self, PyObject* args, PyObject* kwargs);
PyObject* nb_add(PyObject* l, PyObject* r);
PyObject* nb_sub(PyObject* l, PyObject* r);
PyObject* nb_mul(PyObject* l, PyObject* r);
PyObject* nb_div(PyObject* l, PyObject* r);
PyObject* nb_pow(PyObject* l, PyObject* r, PyObject* mod);

}  // namespace tapegrad::bindings
