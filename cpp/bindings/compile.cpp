// tg.compile's native half (docs/DESIGN.md, Note [Compile]): the tracer as a
// Python object (_core._Trace) for the driver in tapegrad/_compile.py, and the
// hooks the Value and Tensor bindings call while a trace runs. The tape's
// object and a replay are compile_replay.cpp's.
#include <pybind11/stl.h>

#include "bindings.h"
#include "compile_hooks.h"
#include "errors.h"
#include "tensor_convert.h"
#include "value_object.h"

namespace tapegrad::bindings {

PyObject* compile_hooks = nullptr;
PyTypeObject* traced_number_type = nullptr;

PyObject* call_hook(const char* name, PyObject* a, PyObject* b) {
  if (compile_hooks == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "tg.compile: no driver is installed");
    return nullptr;
  }
  return PyObject_CallMethod(compile_hooks, name, b == nullptr ? "(O)" : "(OO)", a, b);
}

bool traced_number(PyObject* o, double* value, long* ref) {
  PyObject* pair = call_hook("number_operand", o);
  if (pair == nullptr) return false;
  bool ok = PyArg_ParseTuple(pair, "dl", value, ref) != 0;
  Py_DECREF(pair);
  return ok;
}

void check_not_tracing(const char* what) {
  if (active_tracer() == nullptr) return;
  throw RuntimeError(std::string(what) +
                     " inside a function that tg.compile is tracing: compile the loss, then call backward() and "
                     "the optimizer's step() on its result, outside the compiled function");
}

TensorPtr traced_scalar(PyObject* number, DType dt) {
  double x = 0.0;
  long ref = -1;
  if (!traced_number(number, &x, &ref)) throw py::error_already_set();
  TensorPtr leaf = make_leaf(scalar_array(x, dt));
  if (Tracer* t = ref >= 0 ? active_tracer() : nullptr) t->tensor_from_number(leaf, static_cast<Tracer::Ref>(ref));
  return leaf;
}

py::object tensor_item(const TensorPtr& t) {
  const double x = item(t->data);
  Tracer* tr = tracing() ? active_tracer() : nullptr;
  if (tr == nullptr) return py::float_(x);
  const Tracer::Ref ref = tr->item(t);
  PyObject* n = PyObject_CallMethod(compile_hooks, "traced_number", "(dI)", x, static_cast<unsigned>(ref));
  if (n == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(n);
}

namespace {

Op op_named(const std::string& name) {
  for (const OpInfo& info : kOps)
    if (name == info.name) return info.op;
  throw ValueError("tg.compile: no op named '" + name + "'");
}

// Random draws at replay: the driver's function draws a Tensor (randn) or an
// ndarray (dropout's noise) from the stream.
class PyTensorSource final : public TensorSource {
 public:
  explicit PyTensorSource(py::object draw) : draw_(std::move(draw)) {}
  ~PyTensorSource() override {
    py::gil_scoped_acquire gil;
    draw_ = py::object();
  }
  Array draw() override {
    py::gil_scoped_acquire gil;
    py::object t = draw_();
    if (is_tensor(t.ptr())) return holder_of(t.ptr())->data;
    return array_from_py(t, t.attr("dtype"));
  }

 private:
  py::object draw_;
};

using TracerPtr = std::shared_ptr<Tracer>;

ValueNode* value_arg(py::handle v) {
  if (!is_value(v.ptr())) throw TypeError("tg.compile: expected a Value");
  return node_of(v.ptr());
}

Tracer& tracer(const TracerPtr& t) { return *t; }

// ---- _Trace ---------------------------------------------------------------------

void bind_trace(py::module_& m) {
  py::class_<Tracer, TracerPtr> cls(m, "_Trace", "tg.compile's tracer (tapegrad/_compile_native.py drives it).");
  cls.def(py::init([] { return std::make_shared<Tracer>(); }));
  cls.def("start", [](const TracerPtr& t) { t->start(); });
  cls.def("stop", [](const TracerPtr& t) { t->stop(); });
  cls.def("arg_number", [](const TracerPtr& t, std::uint32_t leaf, double x) { return t->arg_number(leaf, x); });
  cls.def("arg_value", [](const TracerPtr& t, std::uint32_t leaf, py::handle v) { t->arg_value(leaf, value_arg(v)); });
  cls.def("arg_tensor", [](const TracerPtr& t, std::uint32_t leaf, py::handle x) { t->arg_tensor(leaf, holder_of(x.ptr())); });
  cls.def("value_ref", [](const TracerPtr& t, py::handle v) { return t->value_ref(value_arg(v)); });
  cls.def("number_const", [](const TracerPtr& t, double x) { return t->number_const(x); });
  cls.def("number_op", [](const TracerPtr& t, const std::string& op, std::uint32_t a, long b) {
    return t->number_op(op_named(op), a, b < 0 ? kNoSlot : static_cast<std::uint32_t>(b));
  });
  cls.def("value_from_number", [](const TracerPtr& t, py::handle v, std::uint32_t r) { t->value_from_number(value_arg(v), r); });
  cls.def("tensor_from_number", [](const TracerPtr& t, py::handle x, std::uint32_t r) { t->tensor_from_number(holder_of(x.ptr()), r); });
  cls.def("tensor_detached", [](const TracerPtr& t, py::handle x, py::handle from) {
    t->tensor_detached(holder_of(x.ptr()), holder_of(from.ptr()));
  });
  cls.def("tensor_draw", [](const TracerPtr& t, py::handle x, py::object draw) {
    t->tensor_draw(holder_of(x.ptr()), std::make_shared<PyTensorSource>(std::move(draw)));
  });
  cls.def("tensor_noise", [](const TracerPtr& t, py::handle x, py::object draw) {
    t->tensor_noise(holder_of(x.ptr()), std::make_shared<PyTensorSource>(std::move(draw)));
  });
  cls.def("item", [](const TracerPtr& t, py::handle x) { return t->item(holder_of(x.ptr())); });
  cls.def("guard_truth", [](const TracerPtr& t, std::uint32_t r, bool b) { t->guard_truth(r, b); });
  cls.def("guard_exact", [](const TracerPtr& t, std::uint32_t r, double x) { t->guard_exact(r, x); });
  cls.def("guard_int", [](const TracerPtr& t, std::uint32_t r) { t->guard_int(r); });
  cls.def("guard_tensor", [](const TracerPtr& t, py::handle x) { t->guard_tensor(holder_of(x.ptr())); });
  cls.def("store_value", [](const TracerPtr& t, py::handle v, std::uint32_t r) { t->store_value(value_arg(v), r); });
  cls.def("store_tensor", [](const TracerPtr& t, py::handle x, py::handle src) {
    t->store_tensor(holder_of(x.ptr()), holder_of(src.ptr()));
  });
  cls.def("drop_log", [](const TracerPtr& t) { t->drop_log(); });
  cls.def("unsupported", [](const TracerPtr& t, const std::string& what) { t->unsupported(what); });
  cls.def_property_readonly("unsupported_reason", [](const TracerPtr& t) { return tracer(t).unsupported_reason(); });
  // outputs: (kind, object or ref, number type) per result; kind "V", "T" or "N"
  cls.def("finish", [](const TracerPtr& t, py::list outputs, std::string name) {
    std::vector<TraceOutput> outs;
    for (auto item : outputs) {
      auto tup = item.cast<py::tuple>();
      const std::string kind = tup[0].cast<std::string>();
      TraceOutput o;
      if (kind == "V") {
        o.kind = TraceOutput::Value;
        o.value = value_arg(tup[1]);
      } else if (kind == "T") {
        o.kind = TraceOutput::Tensor;
        o.tensor = holder_of(tup[1].ptr());
      } else {
        o.ref = tup[1].cast<std::uint32_t>();
        o.number_type = tup[2].cast<std::uint8_t>();
      }
      outs.push_back(std::move(o));
    }
    TapePtr tape = t->finish(outs);
    tape->name = std::move(name);
    t->drop_log();
    return tape;
  });
}

}  // namespace

void bind_compile(py::module_& m) {
  bind_trace(m);
  bind_tape(m);  // compile_replay.cpp
  def_function(m, "_set_compile_hooks", "hooks, number_type",
               "Install tg.compile's driver (tapegrad/_compile_native.py): its hooks and tracked-number class.",
               [](const Args& a) {
    Py_XDECREF(compile_hooks);
    Py_XDECREF(reinterpret_cast<PyObject*>(traced_number_type));
    compile_hooks = py::object(a[0]).release().ptr();
    traced_number_type = reinterpret_cast<PyTypeObject*>(py::object(a[1]).release().ptr());
  });
  def_function(m, "_tracing", "", "Whether tg.compile traces on this thread.",
               [](const Args&) { return active_tracer() != nullptr; });
}

}  // namespace tapegrad::bindings
