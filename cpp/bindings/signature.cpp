// Signature: binding arguments by a text signature (Note [Signatures]).
#include "signature.h"

namespace tapegrad::bindings {

namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

}  // namespace

Signature::Signature(const char* qualname, const char* params) : qualname_(qualname), params_(params) {
  // The parameters are plain names with literal defaults ("None", "False",
  // "-1", "''"): no comma inside a default.
  std::vector<std::string> parts;
  std::string rest = params_;
  for (std::size_t comma; (comma = rest.find(',')) != std::string::npos; rest = rest.substr(comma + 1))
    parts.push_back(trim(rest.substr(0, comma)));
  if (!trim(rest).empty()) parts.push_back(trim(rest));
  Kind kind = Kind::Positional;
  py::object literal_eval = py::module_::import("ast").attr("literal_eval");
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (i == 0 && (p == "self" || p == "$self")) {
      method_ = true;
    } else if (p == "/") {
      for (Param& q : params_after_self_) q.kind = Kind::PositionalOnly;
    } else if (p == "*") {
      kind = Kind::KeywordOnly;
    } else if (p[0] == '*') {
      params_after_self_.push_back({p.substr(1), Kind::VarPositional, nullptr});
      kind = Kind::KeywordOnly;
    } else {
      const auto eq = p.find('=');
      PyObject* value = nullptr;
      if (eq != std::string::npos) value = literal_eval(py::str(trim(p.substr(eq + 1)))).release().ptr();
      params_after_self_.push_back({trim(p.substr(0, eq)), kind, value});
    }
  }
}

std::string Signature::doc(const char* text) const {
  return qualname_.substr(qualname_.rfind('.') + 1) + "(" + params_ + ")\n--\n\n" + text;
}

Args Signature::bind(py::handle self, const py::args& args, const py::kwargs& kwargs) const {
  Args out(params_after_self_.size());
  const std::size_t nargs = args.size();
  std::size_t positional = 0;  // parameters that take a positional argument
  while (positional < out.size() && (params_after_self_[positional].kind == Kind::PositionalOnly ||
                                     params_after_self_[positional].kind == Kind::Positional))
    ++positional;
  const bool var = positional < out.size() && params_after_self_[positional].kind == Kind::VarPositional;
  if (nargs > positional && !var) raise(self, args, kwargs);
  for (std::size_t i = 0; i < std::min(nargs, positional); ++i) out[i] = args[i];
  if (var) {
    py::tuple extra(nargs > positional ? nargs - positional : 0);
    for (std::size_t i = positional; i < nargs; ++i) extra[i - positional] = args[i];
    out[positional] = std::move(extra);
  }
  for (auto item : kwargs) {
    const std::string key = py::str(item.first);
    std::size_t j = 0;
    while (j < out.size() && !(params_after_self_[j].name == key && (params_after_self_[j].kind == Kind::Positional ||
                                                                    params_after_self_[j].kind == Kind::KeywordOnly)))
      ++j;
    if (j == out.size() || out[j]) raise(self, args, kwargs);
    out[j] = py::reinterpret_borrow<py::object>(item.second);
  }
  for (std::size_t j = 0; j < out.size(); ++j) {
    if (out[j]) continue;
    if (params_after_self_[j].default_value == nullptr) raise(self, args, kwargs);
    out[j] = py::reinterpret_borrow<py::object>(params_after_self_[j].default_value);
  }
  return out;
}

void Signature::raise(py::handle self, const py::tuple& args, const py::dict& kwargs) const {
  py::list all;
  if (method_) all.append(self);
  for (auto a : args) all.append(a);
  py::module_::import("tapegrad._shared").attr("argument_error")(qualname_, params_, py::tuple(all), kwargs);
  throw py::type_error(qualname_ + "(): the arguments do not bind");  // argument_error always raises
}

PyObject* Signature::fail(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) const {
  try {
    py::tuple positional(nargs);
    for (Py_ssize_t i = 0; i < nargs; ++i) positional[i] = py::reinterpret_borrow<py::object>(args[i]);
    py::dict keywords;
    const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; ++i)
      keywords[PyTuple_GET_ITEM(kwnames, i)] = py::reinterpret_borrow<py::object>(args[nargs + i]);
    raise(self, positional, keywords);
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
  }
  return nullptr;
}

const Signature& signature(const std::string& qualname, const char* params) {
  static std::deque<Signature> kept;  // stable addresses
  kept.emplace_back(qualname.c_str(), params);
  return kept.back();
}

bool no_arguments(const char* qualname, PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs == 0 && (kwnames == nullptr || PyTuple_GET_SIZE(kwnames) == 0)) return true;
  Signature(qualname, "self").fail(self, args, nargs, kwnames);
  return false;
}

}  // namespace tapegrad::bindings
