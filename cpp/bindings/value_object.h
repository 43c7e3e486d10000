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
#pragma once

#include <Python.h>

#include "value.h"

namespace tapegrad::bindings {

struct PyValue {
  PyObject_HEAD
  ValueNode* node;      // one reference, held for the object's lifetime
  PyObject* weakrefs;   // weakref support, as the reference Value has
};

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

}  // namespace tapegrad::bindings
