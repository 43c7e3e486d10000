// _core.op_table(): the op table (cpp/core/op_table.h) as Python reads it.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "op_table.h"

namespace py = pybind11;

namespace tapegrad::bindings {

void bind_registry(py::module_& m) {
  def_function(m, "op_table", "",
      "Every op of the engine, in table order: a list of dicts with its name (the .op string; "
      "'**k' for a ** number), code, arity (-1: any), kind, saves (what its backward reads), "
      "value/tensor (which types have it), python (the method or operator that makes it) and "
      "doc (its local gradient).",
      [](const Args&) {
        py::list rows;
        for (const OpInfo& info : kOps) {
          py::dict row;
          row["name"] = info.name;
          row["code"] = static_cast<int>(info.op);
          row["arity"] = info.arity;
          row["kind"] = kind_name(info.kind);
          row["saves"] = saves_name(info.saves);
          row["value"] = info.value;
          row["tensor"] = info.tensor;
          row["python"] = info.python;
          row["doc"] = info.doc;
          rows.append(row);
        }
        return rows;
      });
}

}  // namespace tapegrad::bindings
