// Python code the core's backward passes call (cpp/core/callbacks.h): the
// backward of a tg.autograd.Function on Values and Tensors, tensor hooks;
// with retain_grad, anomaly detection and the marks of recorded nodes.
// Note [Callbacks]: while any of these objects lives, the bindings keep the
// GIL during backward passes, so the calls below already hold it (the
// acquire is then a no-op); they take it anyway for the destructors.
#include <pybind11/stl.h>

#include "bindings.h"
#include "grad_mode.h"
#include "tensor_convert.h"
#include "value_object.h"

namespace tapegrad::bindings {

namespace {

// Drops a Python object with the GIL held, wherever the last reference goes.
struct Held {
  py::object obj;
  explicit Held(py::object o) : obj(std::move(o)) {}
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  ~Held() {
    py::gil_scoped_acquire gil;
    obj = py::object();
  }
};

// run(g, recorded) -> a list with one entry per input: a gradient or None
// (tapegrad/_autograd_impl.py's Function.apply makes it).
class PyValueFunction final : public ValueFunction {
 public:
  PyValueFunction(std::string name, py::object run) : name_(std::move(name)), run_(std::move(run)) {}
  const std::string& name() const override { return name_; }
  std::vector<double> backward(double g) override {
    py::gil_scoped_acquire gil;
    py::object grad = py::reinterpret_steal<py::object>(wrap(make_leaf(g)));
    if (!grad) throw py::error_already_set();
    std::vector<double> out;
    for (auto x : run_.obj(grad, false)) out.push_back(x.is_none() ? 0.0 : py::float_(py::reinterpret_borrow<py::object>(x)).cast<double>());
    return out;
  }
  std::vector<ValueNode*> backward_recorded(ValueNode* g) override {
    py::gil_scoped_acquire gil;
    py::object grad = py::reinterpret_steal<py::object>(wrap(g));
    if (!grad) throw py::error_already_set();
    std::vector<ValueNode*> out;
    for (auto x : run_.obj(grad, true)) {
      ValueNode* n = nullptr;
      if (is_value(x.ptr())) n = node_of(x.ptr());
      else if (!x.is_none()) n = make_leaf(py::float_(py::reinterpret_borrow<py::object>(x)).cast<double>());
      if (n != nullptr) retain(n);  // handed over to the sweep
      out.push_back(n);
    }
    return out;
  }

 private:
  std::string name_;
  Held run_;
};

class PyTensorFunction final : public TensorFunction {
 public:
  PyTensorFunction(std::string name, py::object run) : name_(std::move(name)), run_(std::move(run)) {}
  const std::string& name() const override { return name_; }
  std::vector<Array> backward(const Array& g) override {
    py::gil_scoped_acquire gil;
    std::vector<Array> out;
    for (auto x : run_.obj(py::cast(make_leaf(g)), false)) out.push_back(x.is_none() ? Array() : holder_of(x.ptr())->data);
    return out;
  }
  std::vector<TensorPtr> backward_recorded(const TensorPtr& g) override {
    py::gil_scoped_acquire gil;
    std::vector<TensorPtr> out;
    for (auto x : run_.obj(py::cast(g), true)) out.push_back(x.is_none() ? nullptr : holder_of(x.ptr()));
    return out;
  }

 private:
  std::string name_;
  Held run_;
};

// fn(grad) -> a gradient of the same shape, or None for "unchanged"
class PyHook final : public GradHook {
 public:
  explicit PyHook(py::object fn) : fn_(std::move(fn)) {}
  Array apply(const Array& g) override {
    py::gil_scoped_acquire gil;
    TensorPtr t = result(fn_.obj(py::cast(make_leaf(g))), g.shape);
    return t ? astype(t->data, g.dtype) : Array();
  }
  TensorPtr apply_recorded(const TensorPtr& g) override {
    py::gil_scoped_acquire gil;
    return result(fn_.obj(py::cast(g)), g->data.shape);
  }

 private:
  static TensorPtr result(py::handle r, const Shape& shape) {
    if (r.is_none()) return nullptr;
    if (!is_tensor(r.ptr()))
      throw TypeError("a tensor hook must return a Tensor or None, not " + py::type::handle_of(r).attr("__name__").cast<std::string>());
    const TensorPtr& t = holder_of(r.ptr());
    if (t->data.shape != shape)
      throw ValueError("a tensor hook returned a gradient of shape " + shape_str(t->data.shape) + " for a tensor of shape " +
                       shape_str(shape));
    return t;
  }
  Held fn_;
};

}  // namespace

void bind_callbacks(py::module_& m, TensorClass& cls) {
  m.def("_value_function", [](py::handle out, py::sequence inputs, std::string name, py::object run) -> py::object {
    std::vector<ValueNode*> nodes;
    for (auto x : inputs) nodes.push_back(node_of(x.ptr()));  // checked Values (_autograd_impl.py)
    double data = py::float_(py::reinterpret_borrow<py::object>(out)).cast<double>();
    ValueNode* n = make_function(data, nodes, std::make_shared<PyValueFunction>(std::move(name), std::move(run)));
    return py::reinterpret_steal<py::object>(wrap(n));
  }, py::arg("out"), py::arg("inputs"), py::arg("name"), py::arg("run"),
        sig("_value_function", "out, inputs, name, run", "A Function node on Values (tg.autograd.Function.apply).").c_str());
  m.def("_tensor_function", [](py::handle out, py::sequence inputs, std::string name, py::object run) {
    std::vector<TensorPtr> parents;
    for (auto x : inputs) parents.push_back(holder_of(x.ptr()));
    return record_function(holder_of(out.ptr())->data, std::move(parents),
                           std::make_shared<PyTensorFunction>(std::move(name), std::move(run)));
  }, py::arg("out"), py::arg("inputs"), py::arg("name"), py::arg("run"),
        sig("_tensor_function", "out, inputs, name, run", "A Function node on Tensors (tg.autograd.Function.apply).").c_str());
  def_function(m, "is_anomaly_enabled", "", "True inside tg.autograd.detect_anomaly() (per thread).",
               [](const Args&) { return is_anomaly_enabled(); });
  def_function(m, "set_anomaly_enabled", "enabled", "Turn the backward passes' NaN check on or off for this thread.",
               [](const Args& a) { set_anomaly_enabled(flag_arg(a[0])); });

  def_method(cls, "register_hook", "self, hook",
             "Call hook(grad) each time this tensor's gradient is computed; a Tensor it returns is used instead. "
             "Returns a handle whose remove() unregisters it.", [](const TensorPtr& s, const Args& a) {
    py::handle fn = a[0];
    if (!s->requires_grad) throw RuntimeError("cannot register a hook on a tensor that does not require grad");
    if (!PyCallable_Check(fn.ptr())) throw TypeError("register_hook() takes a callable, not " + type_name(fn));
    int id = add_hook(*s, std::make_shared<PyHook>(py::reinterpret_borrow<py::object>(fn)));
    return py::module_::import("tapegrad._hooks").attr("RemovableHandle")(py::cast(s), id);
  });
  cls.def("_remove_hook", [](TensorNode& t, int id) { return remove_hook(t, id); }, py::arg("id"),
          sig("_remove_hook", "self, id", "Unregister the hook with this id (False if it was not registered).").c_str());
  def_method(cls, "retain_grad", "self", "Keep this non-leaf tensor's .grad after backward (leaves always do).",
             [](const TensorPtr& t, const Args&) {
    if (!t->requires_grad) throw RuntimeError("cannot retain_grad() on a tensor that does not require grad");
    if (!t->is_leaf()) t->retains_grad = true;
  });
  cls.def_property_readonly("retains_grad", [](const TensorNode& t) { return t.retains_grad; },
                            "True after retain_grad() on a non-leaf tensor.");
  cls.def_property_readonly("_from_backward", [](const TensorNode& t) { return t.from_backward; },
                            "Made by a recorded backward pass (create_graph).");
}

}  // namespace tapegrad::bindings
