// tg.compile's replay (docs/DESIGN.md, Note [Compile]): the tape as a Python
// object (_core._Tape) and one call of it, from the call's flattened
// arguments to its results; and the check that lets the driver take a list of
// Values as one token of the signature (_core._distinct_values).
#include <algorithm>
#include <cstdint>
#include <limits>

#include <pybind11/stl.h>

#include "bindings.h"
#include "errors.h"
#include "tape.h"
#include "tensor_convert.h"
#include "value_object.h"

namespace tapegrad::bindings {

namespace {

// Whether every item of `seq` (a list or tuple) is a Value of exactly the
// Value type and no object appears twice. One pass for the types and the
// address range, then one bit per 8 bytes of that range (Python objects are
// 8-byte aligned and do not overlap), so 10^5 Values cost two linear passes;
// a sort when the objects are spread too far apart for a small bitmap, done
// once for a list passed again with the same items.
bool distinct_values(PyObject* seq) {
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  std::uintptr_t lo = std::numeric_limits<std::uintptr_t>::max(), hi = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (i + static_cast<Py_ssize_t>(kAhead) < n) __builtin_prefetch(items[i + kAhead]);  // objects spread over the heap
    if (Py_TYPE(items[i]) != value_type) return false;
    const auto p = reinterpret_cast<std::uintptr_t>(items[i]);
    lo = std::min(lo, p);
    hi = std::max(hi, p);
  }
  if (n < 2) return true;
  const std::uintptr_t bits = ((hi - lo) >> 3) + 1;
  if (bits <= static_cast<std::uintptr_t>(n) * 64) {
    std::vector<std::uint64_t> seen(bits / 64 + 1, 0);
    for (Py_ssize_t i = 0; i < n; ++i) {
      const std::uintptr_t k = (reinterpret_cast<std::uintptr_t>(items[i]) - lo) >> 3;
      const std::uint64_t bit = std::uint64_t{1} << (k & 63);
      if (seen[k >> 6] & bit) return false;
      seen[k >> 6] |= bit;
    }
    return true;
  }
  // The same items as the last list found distinct this way (a training loop
  // passes the same list each step): the same answer, without the sort.
  thread_local std::vector<PyObject*> last_distinct;
  if (last_distinct.size() == static_cast<std::size_t>(n) && std::equal(items, items + n, last_distinct.begin()))
    return true;
  std::vector<PyObject*> sorted(items, items + n);
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return false;
  last_distinct.assign(items, items + n);
  return true;
}

// ---- _Tape ----------------------------------------------------------------------

// The call's flattened arguments as the tape reads them.
std::vector<Tape::Leaf> leaves_of(const py::list& leaves) {
  std::vector<Tape::Leaf> out(leaves.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i + kAhead < out.size()) __builtin_prefetch(PyList_GET_ITEM(leaves.ptr(), static_cast<Py_ssize_t>(i + kAhead)));
    PyObject* o = PyList_GET_ITEM(leaves.ptr(), static_cast<Py_ssize_t>(i));
    if (Py_TYPE(o) == value_type || is_value(o)) out[i].value = node_of(o);
    else if (is_tensor(o)) out[i].tensor = &holder_of(o);
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
      case TapeOutput::Tensor: out.append(py::cast(tape->tensor_result(r, i))); break;
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
  if (!r->flat) r->t.clear();  // the intermediate tensors die now, as eager's temporaries do (flat: inputs only)
  return std::move(out);
}

}  // namespace

void bind_tape(py::module_& m) {
  py::class_<Tape, TapePtr> cls(m, "_Tape", "A compiled function's tape (Note [Compile]).");
  cls.def("replay", &replay);
  cls.def_property_readonly("instructions", [](const Tape& t) { return t.code.size(); });
  cls.def_property_readonly("scalar_slots", [](const Tape& t) { return t.scalar_init.size(); });
  cls.def_property_readonly("tensor_slots", [](const Tape& t) { return t.tensor_slots; });
  cls.def_property_readonly("draws", [](const Tape& t) { return t.draws; });
  cls.def_property_readonly("flat", [](const Tape& t) { return t.flat(); });
  cls.def_property_readonly("raw_steps", [](const Tape& t) { return t.raw_steps(); });
  def_function(m, "_distinct_values", "items",
               "Whether a list or tuple holds only Values (of exactly that type), no object twice.",
               [](const Args& a) {
    PyObject* seq = a[0].ptr();
    if (!PyList_Check(seq) && !PyTuple_Check(seq)) throw TypeError("_distinct_values: expected a list or a tuple");
    return distinct_values(seq);
  });
}

}  // namespace tapegrad::bindings
