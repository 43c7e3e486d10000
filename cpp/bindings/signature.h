// Parameters declared once, as Python writes them.
//
// Note [Signatures]
// Each native callable declares its parameters once, as the text between the
// parentheses of a Python def: "self, gradient=None, retain_graph=None,
// create_graph=False". That text is both
//   - the docstring's text signature ("name(params)\n--\n\n..."), which
//     CPython turns into __text_signature__, so inspect.signature and help()
//     show it (tests/test_signatures.py compares it with the reference's);
//   - what the arguments are bound by (Signature::bind): positional and
//     keyword arguments, defaults, *args, keyword-only and positional-only
//     parameters, as for a def.
// A call that does not bind raises the TypeError a Python function with that
// signature raises (tapegrad/_shared.py, argument_error): "Tensor.backward()
// got an unexpected keyword argument 'foo'", word for word as the reference
// says it, on every Python version. The binding then converts each argument
// with tapegrad's own words (tensor_convert.h: a bool, a dim, a shape), never
// with pybind11's casters, whose failure would print its overload list.
// A callable with no parameter (but self) keeps pybind11's plain dispatch,
// which is faster, beside a second overload that only raises the argument
// errors (def_method, def_function); the operators stay pybind11's too
// (py::is_operator returns NotImplemented, as Python wants of an operator).
#pragma once

#include <pybind11/pybind11.h>

#include <deque>
#include <string>
#include <vector>

namespace tapegrad::bindings {

namespace py = pybind11;

// The arguments of one call, one per parameter after self.
using Args = std::vector<py::object>;

class Signature {
 public:
  // `qualname` as Python spells it ("Tensor.backward", "tensor"); `params`
  // the parameter list, "self" (or "$self") first for a method.
  Signature(const char* qualname, const char* params);

  const std::string& qualname() const { return qualname_; }
  // No parameters but self: bound by pybind11's own dispatch, which is faster.
  bool takes_nothing() const { return params_after_self_.empty(); }
  // "name(params)\n--\n\n" + text: a docstring with its text signature.
  std::string doc(const char* text) const;

  // The arguments of the parameters after self, in order: defaults filled in,
  // a *args parameter as the tuple of the extra positional arguments. Throws
  // Python's TypeError (py::error_already_set) when the call does not bind.
  Args bind(py::handle self, const py::args& args, const py::kwargs& kwargs) const;
  // Sets Python's TypeError for this call (a C method's arguments) and returns nullptr.
  PyObject* fail(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) const;

 private:
  enum class Kind { PositionalOnly, Positional, VarPositional, KeywordOnly };
  struct Param {
    std::string name;
    Kind kind;
    PyObject* default_value;  // a new reference kept for the life of the process; null if none
  };
  [[noreturn]] void raise(py::handle self, const py::tuple& args, const py::dict& kwargs) const;

  std::string qualname_, params_;
  bool method_ = false;
  std::vector<Param> params_after_self_;
};

// The Signature of `qualname(params)`, kept for the life of the process: the
// bindings' lambdas refer to it.
const Signature& signature(const std::string& qualname, const char* params);

// m.def(name, ...) of f(arguments), bound by `params`.
template <class F>
void def_function(py::module_& m, const char* name, const char* params, const char* doc, F f) {
  const Signature& s = signature(name, params);
  if (s.takes_nothing()) {
    m.def(name, [f] { return f(Args{}); }, s.doc(doc).c_str());
    m.def(name, [&s](py::args args, py::kwargs kwargs) {  // only reached by arguments: Python's TypeError
      s.bind(py::none(), args, kwargs);
      throw py::type_error(s.qualname() + "() takes no arguments");
    });
    return;
  }
  m.def(name, [&s, f](py::args args, py::kwargs kwargs) { return f(s.bind(py::none(), args, kwargs)); },
        s.doc(doc).c_str());
}

// A C method that takes no arguments (METH_FASTCALL | METH_KEYWORDS): true if
// it was given none, else Python's TypeError is set ("Tensor.relu() takes 1
// positional argument but 2 were given") and false returned.
bool no_arguments(const char* qualname, PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames);

}  // namespace tapegrad::bindings
