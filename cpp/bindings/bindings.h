// Declarations shared by the binding files. Bindings convert arguments,
// release the GIL and attach docstrings; they contain no math.
//
// Note [Binding technologies]
// The module, its functions, the Tensor class and the exception translation
// are pybind11's. Value alone is a raw CPython type (Note [Raw Value type] in
// value_object.h), and Tensor's number slots and unary methods are pointed at
// plain C functions after the class is built (Note [Tensor fast slots] in
// tensor_methods.cpp): both to keep a small op at tens of nanoseconds. The
// only pybind11 internals used are in the two helpers of tensor_convert.h
// that read a Tensor's holder, and set_error_from_exception (value_type.cpp).
//
// Every docstring starts with a text signature, "name(args)\n--\n\n", which
// CPython turns into __text_signature__: inspect.signature and help() then
// show the same signature as the reference's (tests/test_signatures.py).
// pybind11's own generated signatures are switched off in module.cpp. The
// same text binds the arguments (Note [Signatures] in signature.h), so a
// call that does not fit raises Python's own words, as the reference's
// functions do, rather than pybind11's list of overloads.
//
// Both types are named in messages as Python classes are ("Tensor" and
// "Value" in tp_name; __module__ stays tapegrad._core), so that Python's
// own errors ("unsupported operand type(s) for +: 'Tensor' and 'str'") read
// the same on both backends (tests/test_same_errors.py).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "signature.h"

namespace tapegrad::bindings {

void register_exceptions(pybind11::module_& m);
void bind_value(pybind11::module_& m);
void bind_tensor(pybind11::module_& m);
void bind_registry(pybind11::module_& m);
void bind_compile(pybind11::module_& m);
void bind_tape(pybind11::module_& m);  // compile_replay.cpp (bind_compile calls it)
void bind_vmath(pybind11::module_& m);  // private test hooks (vmath.cpp)

// "name(params)\n--\n\ndoc": a docstring with its text signature.
inline std::string sig(const char* name, const char* params, const char* doc) {
  return std::string(name) + "(" + params + ")\n--\n\n" + doc;
}

}  // namespace tapegrad::bindings
