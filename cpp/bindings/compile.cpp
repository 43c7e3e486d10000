// tg.compile's native half (docs/DESIGN.md, Note [Compile]): the tracer and
// the tape as Python objects (_core._Trace, _core._Tape) for the driver in
// tapegrad/_compile.py, and the hooks the Value and Tensor bindings call while
// a trace runs.
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

// ---- _Tape ----------------------------------------------------------------------

// The call's flattened arguments as the tape reads them.
std::vector<Tape::Leaf> leaves_of(const py::list& leaves) {
  std::vector<Tape::Leaf> out(leaves.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    PyObject* o = PyList_GET_ITEM(leaves.ptr(), static_cast<Py_ssize_t>(i));
    if (Py_TYPE(o) == value_type || is_value(o)) out[i].value = node_of(o);
    else if (is_tensor(o)) out[i].tensor = holder_of(o);
    else if (PyFloat_Check(o)) out[i].number = PyFloat_AS_DOUBLE(o);
    else if (PyLong_Check(o) || PyBool_Check(o)) out[i].number = PyLong_AsDouble(o);
    else {
      out[i].number = PyFloat_AsDouble(o);  // a NumPy scalar
      if (out[i].number == -1.0 && PyErr_Occurred()) PyErr_Clear();
    }
  }
  return out;
}

py::object number_object(double x, std::uint8_t type) {
  if (type == 2) return py::bool_(x != 0.0);
  if (type == 1) return py::reinterpret_steal<py::object>(PyLong_FromDouble(x));
  return py::float_(x);
}

// One replay: the results (a list, one per output), or the index of the guard that failed.
py::object replay(const TapePtr& tape, const py::list& leaves) {
  std::vector<Tape::Leaf> in = leaves_of(leaves);
  auto r = std::make_shared<Replay>();
  r->tape = tape;
  long failed = tape->forward(*r, in);
  if (failed >= 0) return py::int_(failed);
  py::list out;
  for (std::uint32_t i = 0; i < tape->outputs.size(); ++i) {
    const TapeOutput& o = tape->outputs[i];
    switch (o.kind) {
      case TapeOutput::Value: {
        PyObject* v = wrap(tape->value_result(r, i));
        if (v == nullptr) throw py::error_already_set();
        out.append(py::reinterpret_steal<py::object>(v));
        break;
      }
      case TapeOutput::Tensor: out.append(py::cast(r->t[o.slot])); break;
      case TapeOutput::Number: out.append(number_object(r->s[o.slot], o.number_type)); break;
      case TapeOutput::Input: {
        const TapeInput& ti = tape->inputs[o.slot];
        if (ti.kind == TapeInput::ExternalValue) {
          PyObject* v = wrap(ti.value);
          if (v == nullptr) throw py::error_already_set();
          out.append(py::reinterpret_steal<py::object>(v));
        } else if (ti.kind == TapeInput::ExternalTensor) {
          out.append(py::cast(ti.tensor));
        } else {
          out.append(leaves[ti.leaf]);
        }
        break;
      }
    }
  }
  r->t.clear();  // the intermediate tensors die now, as eager's temporaries do
  return std::move(out);
}

void bind_tape(py::module_& m) {
  py::class_<Tape, TapePtr> cls(m, "_Tape", "A compiled function's tape (Note [Compile]).");
  cls.def("replay", &replay);
  cls.def_property_readonly("instructions", [](const Tape& t) { return t.code.size(); });
  cls.def_property_readonly("scalar_slots", [](const Tape& t) { return t.scalar_init.size(); });
  cls.def_property_readonly("tensor_slots", [](const Tape& t) { return t.tensor_slots; });
  cls.def_property_readonly("draws", [](const Tape& t) { return t.draws; });
}

}  // namespace

void bind_compile(py::module_& m) {
  bind_trace(m);
  bind_tape(m);
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
