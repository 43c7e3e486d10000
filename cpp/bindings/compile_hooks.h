// What the Value and Tensor bindings do while tg.compile traces (docs/DESIGN.md,
// Note [Compile] and Note [Compile numbers]): tracked numbers as operands, reads
// of traced data that become guards, stores, and the errors of backward().
// Outside a trace each check is one relaxed load (tracing()).
#pragma once

#include <pybind11/pybind11.h>

#include "trace.h"

namespace tapegrad::bindings {

namespace py = pybind11;

// The driver's hooks object and its tracked-number class (compile.cpp), set by
// tapegrad/_compile_native.py through _core._set_compile_hooks.
extern PyObject* compile_hooks;
extern PyTypeObject* traced_number_type;

inline bool is_traced_number(PyObject* o) { return traced_number_type != nullptr && Py_TYPE(o) == traced_number_type; }

// A tracked number's value, and its reference in the running trace (-1 if it
// belongs to none: then it is a plain number). False with a Python error set.
bool traced_number(PyObject* o, double* value, long* ref);

// hooks.<name>(args...): a new reference, or null with the Python error set.
PyObject* call_hook(const char* name, PyObject* a, PyObject* b = nullptr);

// RuntimeError (a C++ exception) if this thread traces: `what` may not run inside fn.
void check_not_tracing(const char* what);

// ---- Tensors (C++ exceptions on failure)
// A tracked number as a 0-d leaf of dtype dt, which the tape fills from the number.
TensorPtr traced_scalar(PyObject* number, DType dt);
// A read of t's values (numpy(), tolist(), an index, labels): while tracing, a guard of them all.
inline void tensor_read(const TensorPtr& t) {
  if (Tracer* tr = tracing() ? active_tracer() : nullptr) tr->guard_tensor(t);
}
// t.item(): while tracing, a tracked number (a new reference).
py::object tensor_item(const TensorPtr& t);

}  // namespace tapegrad::bindings
