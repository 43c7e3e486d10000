// tapegrad._core.Value (a raw CPython type, value_type.cpp) and the grad-mode
// functions, registered on the module.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "chain_mul.h"
#include "tensor_convert.h"
#include "grad_mode.h"
#include "value.h"
#include "value_object.h"

namespace py = pybind11;

namespace tapegrad::bindings {

PyObject* make_value_type();

void bind_value(py::module_& m) {
  PyObject* type = make_value_type();
  if (type == nullptr) throw py::error_already_set();
  m.add_object("Value", py::reinterpret_steal<py::object>(type));

  def_function(m, "is_grad_enabled", "", "False inside no_grad(): operations then record no graph (per thread).",
               [](const Args&) { return tapegrad::is_grad_enabled(); });
  def_function(m, "set_grad_enabled", "enabled", "Turn graph recording on or off for the calling thread.",
               [](const Args& a) { tapegrad::set_grad_enabled(flag_arg(a[0])); });
  def_function(m, "_set_soft_subnormal_products", "on",
               "Take the integer path for subnormal chain-rule products (True) or the hardware's (False); "
               "returns the previous setting (tests; Note [Subnormal products]).",
               [](const Args& a) {
                 const bool was = rules::soft_subnormal_products();
                 rules::set_soft_subnormal_products(flag_arg(a[0]));
                 return was;
               });
  def_function(m, "_value_stats", "", "Allocation counters of the Value engine (for tests and benchmarks).",
      [](const Args&) {
        py::dict d;
        d["live_nodes"] = tapegrad::live_value_nodes();
        d["pooled_bytes"] = tapegrad::pooled_value_bytes();
        d["labels"] = tapegrad::labelled_value_nodes();
        d["node_bytes"] = sizeof(tapegrad::ValueNode);
        d["object_bytes"] = sizeof(PyValue);
        d["room_bytes"] = tapegrad::kHostRoom;
        return d;
      });
}

}  // namespace tapegrad::bindings
