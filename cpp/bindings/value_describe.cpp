// Describing objects in errors and reading numbers, for the Value type
// (value_type.cpp) and the other bindings (value_object.h).
#include <pybind11/pybind11.h>

#include <string>

#include "value_object.h"

namespace tapegrad::bindings {

// ---- describing objects in errors (docs/DESIGN.md Note [Errors]) -----------

namespace {

std::string type_attr(PyObject* o, const char* attr) {
  std::string out;
  PyObject* v = PyObject_GetAttrString(reinterpret_cast<PyObject*>(Py_TYPE(o)), attr);
  if (v != nullptr && PyUnicode_Check(v)) {
    if (const char* text = PyUnicode_AsUTF8(v)) out = text;
  }
  Py_XDECREF(v);
  PyErr_Clear();
  return out;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

bool is_foreign(PyObject* o) {
  if (is_value(o)) return false;
  std::string name = type_attr(o, "__name__");
  if (name != "Value" && name != "Tensor") return false;
  return starts_with(type_attr(o, "__module__"), "tapegrad");
}

// "a tapegrad (native) Value", "a tapegrad.reference Tensor", or the type's name.
std::string describe(PyObject* o) {
  if (!is_value(o) && !is_foreign(o)) return type_attr(o, "__name__");
  const char* backend = starts_with(type_attr(o, "__module__"), "tapegrad.reference")
                            ? "tapegrad.reference"
                            : "tapegrad (native)";
  return std::string("a ") + backend + " " + type_attr(o, "__name__");
}

// ---- numbers ---------------------------------------------------------------

// isinstance(o, numbers.Real): bool, int, float, NumPy scalars, Fraction.
int is_real(PyObject* o) {
  static PyObject* real = nullptr;
  if (real == nullptr) {
    PyObject* numbers = PyImport_ImportModule("numbers");
    if (numbers == nullptr) return -1;
    real = PyObject_GetAttrString(numbers, "Real");
    Py_DECREF(numbers);
    if (real == nullptr) return -1;
  }
  return PyObject_IsInstance(o, real);
}

bool as_double(PyObject* o, const char* what, double* out) {
  if (PyFloat_CheckExact(o)) {
    *out = PyFloat_AS_DOUBLE(o);
    return true;
  }
  int real = (is_value(o) || is_foreign(o)) ? 0 : is_real(o);
  if (real < 0) return false;
  if (real == 0) {
    PyErr_Format(PyExc_TypeError, "%s must be a real number, not %s", what, describe(o).c_str());
    return false;
  }
  *out = PyFloat_AsDouble(o);
  return !(*out == -1.0 && PyErr_Occurred());
}

}  // namespace tapegrad::bindings
