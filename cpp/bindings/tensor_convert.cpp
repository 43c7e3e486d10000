// Python -> core conversions: data, dtypes, shapes, subscripts.
#include <cstring>
#include <limits>
#include <new>

#include "compile_hooks.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

PyTypeObject* tensor_type = nullptr;

bool is_tensor(PyObject* o) {
  return tensor_type != nullptr && (Py_TYPE(o) == tensor_type || PyType_IsSubtype(Py_TYPE(o), tensor_type));
}

const TensorPtr& holder_of(PyObject* o) {
  auto* inst = reinterpret_cast<py::detail::instance*>(o);
  auto vh = inst->get_value_and_holder();
  if (!vh.holder_constructed() || !vh.holder<TensorPtr>())
    throw TypeError("a tapegrad Tensor whose __init__ was not called");
  return vh.holder<TensorPtr>();
}

bool is_number(py::handle o) {
  if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return true;
  static py::object real = py::module_::import("numbers").attr("Real");
  static py::object npbool = py::module_::import("numpy").attr("bool_");
  return py::isinstance(o, real) || py::isinstance(o, npbool);
}

bool is_integral_number(py::handle o) {
  if (PyLong_Check(o.ptr())) return true;  // bool too
  static py::object integer = py::module_::import("numpy").attr("integer");
  static py::object npbool = py::module_::import("numpy").attr("bool_");
  return py::isinstance(o, integer) || py::isinstance(o, npbool);
}

TensorPtr number_tensor(py::handle x, DType dtype) {
  if (dtype == DType::I64) {
    if (!is_integral_number(x)) return make_leaf(scalar_array(py::float_(py::reinterpret_borrow<py::object>(x)).cast<double>(), DType::F32));
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(py::int_(py::reinterpret_borrow<py::object>(x)).ptr(), &overflow);
    if (overflow != 0) {
      PyErr_SetString(PyExc_OverflowError, "Python int too large to convert to int64");
      throw py::error_already_set();
    }
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    return make_leaf(scalar_int(static_cast<std::int64_t>(v)));
  }
  return make_leaf(scalar_array(py::float_(py::reinterpret_borrow<py::object>(x)).cast<double>(), dtype));
}

TensorPtr traced_operand(py::handle x, DType dtype) {
  if (dtype != DType::I64) return traced_scalar(x.ptr(), dtype);
  py::object exact = py::reinterpret_steal<py::object>(PyObject_CallMethod(x.ptr(), "_exact", nullptr));
  if (!exact) throw py::error_already_set();
  return number_tensor(exact, dtype);
}

TensorPtr as_tensor(py::handle x, DType dtype, const char* what) {
  if (is_tensor(x.ptr())) return holder_of(x.ptr());
  std::string foreign = foreign_backend(x);
  if (!foreign.empty()) throw TypeError(std::string(what) + ": cannot combine " + foreign + " with tapegrad (native) Tensors");
  if (is_traced_number(x.ptr())) return traced_operand(x, dtype);
  if (is_number(x)) return number_tensor(x, dtype);
  return make_leaf(array_from_py(x, py::none()));
}

DType dtype_arg(py::handle dtype, DType fallback) {
  if (dtype.is_none()) return fallback;
  py::dtype dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype));
  if (dt.kind() == 'f' && dt.itemsize() == 2) return DType::F32;  // float16 widens
  if (dt.kind() == 'f' && dt.itemsize() == 4) return DType::F32;
  if (dt.kind() == 'f' && dt.itemsize() == 8) return DType::F64;
  if (dt.kind() == 'i' && dt.itemsize() == 8) return DType::I64;
  throw TypeError("tapegrad tensors hold float32, float64 or int64, not " + py::str(dt).cast<std::string>());
}

std::string foreign_backend(py::handle obj) {
  std::string mod = py::str(py::type::handle_of(obj).attr("__module__")).cast<std::string>();
  std::string name = py::type::handle_of(obj).attr("__name__").cast<std::string>();
  if (mod.rfind("tapegrad.reference", 0) == 0) return "a tapegrad.reference " + name;
  if (name == "Value" && (mod == "tapegrad" || mod.rfind("tapegrad.", 0) == 0)) return "a tapegrad (native) Value";
  return "";
}

Array array_from_py(py::handle data, py::handle dtype) {
  if (is_tensor(data.ptr())) {
    tensor_read(holder_of(data.ptr()));
    const Array& src = holder_of(data.ptr())->data;
    return copy(astype(src, dtype_arg(dtype, src.dtype)));
  }
  py::module_ np = py::module_::import("numpy");
  std::string foreign = foreign_backend(data);
  if (!foreign.empty() && !py::hasattr(data, "__array__"))
    throw TypeError("cannot make a tapegrad (native) Tensor from " + foreign);
  py::object arr;
  try {
    arr = np.attr("asarray")(data);
  } catch (py::error_already_set& e) {
    if (e.matches(PyExc_ValueError))
      throw ValueError("tensor data has an irregular (ragged) shape: " + py::str(e.value()).cast<std::string>());
    throw;
  }
  py::dtype adt = arr.attr("dtype").cast<py::dtype>();
  char kind = adt.kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw TypeError("tensor data must be real numbers, got " + py::type::handle_of(data).attr("__name__").cast<std::string>() +
                    " holding dtype " + py::str(adt).cast<std::string>());
  DType fallback = (kind == 'f' && adt.itemsize() == 8 && py::hasattr(data, "dtype")) ? DType::F64 : DType::F32;
  DType dt = dtype_arg(dtype, fallback);
  py::array c;
  if (dt == DType::I64) {  // checked and truncated as the reference does (tapegrad/_integers.py)
    c = py::module_::import("tapegrad._integers").attr("int64_data")(arr);
  } else {
    if (kind == 'i' || kind == 'u')  // the one check both backends share (tapegrad/_shared.py)
      py::module_::import("tapegrad._shared").attr("warn_inexact_integers")(arr, dtype_name(dt));
    c = np.attr("asarray")(arr, dtype_name(dt), py::arg("order") = "C");
  }
  Shape shape(c.shape(), c.shape() + c.ndim());
  Array out = empty(shape, dt);
  std::memcpy(out.ptr(), c.data(), static_cast<std::size_t>(out.numel()) * itemsize(dt));
  return out;
}

py::array array_view(const Array& a, py::handle owner) {
  const auto isz = static_cast<py::ssize_t>(itemsize(a.dtype));
  std::vector<py::ssize_t> shape(a.shape.begin(), a.shape.end()), strides;
  for (auto s : a.strides) strides.push_back(static_cast<py::ssize_t>(s) * isz);
  if (a.dtype == DType::F32) return py::array(py::dtype::of<float>(), shape, strides, a.ptr(), owner);
  if (a.dtype == DType::I64) return py::array(py::dtype::of<std::int64_t>(), shape, strides, a.ptr(), owner);
  return py::array(py::dtype::of<double>(), shape, strides, a.ptr(), owner);
}

Shape int_args(py::handle args, const char* what,
               const std::function<void(const std::string&, const std::string&, int)>& too_big) {
  py::tuple seq = py::reinterpret_borrow<py::tuple>(args);
  if (seq.size() == 1 && (py::isinstance<py::tuple>(seq[0]) || py::isinstance<py::list>(seq[0]))) seq = py::tuple(seq[0]);
  Shape s;
  for (auto v : seq) {
    if (!is_int(v)) throw TypeError(std::string(what) + " " + py::repr(seq).cast<std::string>() + " must hold ints, got " + type_name(v));
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(py::int_(py::reinterpret_borrow<py::object>(v)).ptr(), &overflow);
    if (overflow != 0) too_big(py::repr(v).cast<std::string>(), py::repr(seq).cast<std::string>(), overflow);
    if (x == -1 && PyErr_Occurred()) throw py::error_already_set();
    s.push_back(static_cast<std::int64_t>(x));
  }
  return s;
}

Shape shape_args(py::handle args) {
  return int_args(args, "shape", [](const std::string&, const std::string& seq, int sign) {
    if (sign > 0) throw std::bad_alloc();  // too large to allocate: MemoryError
    throw ValueError("negative dimensions are not allowed: shape " + seq);
  });
}

std::string type_name(py::handle v) { return py::type::handle_of(v).attr("__name__").cast<std::string>(); }

bool is_int(py::handle v) {
  if (PyLong_CheckExact(v.ptr())) return true;  // the common case, without the ABC's isinstance
  static py::object integral = py::module_::import("numbers").attr("Integral");
  return !py::isinstance<py::bool_>(v) && py::isinstance(v, integral);
}

bool flag_arg(py::handle v) {
  const int truth = PyObject_IsTrue(v.ptr());
  if (truth < 0) throw py::error_already_set();
  return truth != 0;
}

bool requires_grad_arg(py::handle v) {
  static py::object npbool = py::module_::import("numpy").attr("bool_");
  if (!py::isinstance<py::bool_>(v) && !py::isinstance(v, npbool))
    throw TypeError("requires_grad must be a bool, not " + type_name(v));
  return flag_arg(v);
}

namespace {

// An int dim, checked to be in range (the core's words), as given.
std::int64_t checked_dim(py::handle v, std::int64_t ndim) {
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(py::int_(py::reinterpret_borrow<py::object>(v)).ptr(), &overflow);
  if (overflow != 0) throw ValueError(dim_out_of_range(py::repr(py::int_(py::reinterpret_borrow<py::object>(v))).cast<std::string>(), ndim));
  if (x == -1 && PyErr_Occurred()) throw py::error_already_set();
  normalize_dim(static_cast<std::int64_t>(x), ndim);
  return static_cast<std::int64_t>(x);
}

}  // namespace

std::int64_t dim_arg(py::handle v, std::int64_t ndim) {
  if (!is_int(v)) throw TypeError("dim must be an int, got " + type_name(v));
  return normalize_dim(checked_dim(v, ndim), ndim);
}

std::vector<std::int64_t> dims_arg(py::handle v, std::int64_t ndim) {
  const bool seq = py::isinstance<py::tuple>(v) || py::isinstance<py::list>(v);
  std::vector<std::int64_t> dims;
  for (auto d : seq ? py::tuple(py::reinterpret_borrow<py::object>(v)) : py::make_tuple(v)) {
    if (!is_int(d)) throw TypeError("dim must be an int or a tuple of ints, got " + type_name(d));
    dims.push_back(checked_dim(d, ndim));  // each in range, in order, as the reference checks them
  }
  return dims;
}

const TensorPtr& tensor_self(py::handle self, const Signature& s) {
  if (!is_tensor(self.ptr()))
    throw TypeError("descriptor '" + s.qualname().substr(s.qualname().rfind('.') + 1) +
                    "' for 'Tensor' objects doesn't apply to a '" + type_name(self) + "' object");
  return holder_of(self.ptr());
}

namespace {

// An index beyond int64 is out of range anyway: clamped, as the reference clamps it.
std::int64_t clamped_int(py::handle v) {
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(py::int_(py::reinterpret_borrow<py::object>(v)).ptr(), &overflow);
  if (overflow != 0) return overflow > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  if (x == -1 && PyErr_Occurred()) throw py::error_already_set();
  return static_cast<std::int64_t>(x);
}

// An int64 tensor's values as they are (Note [Gather plans]: the embedding lookup `table[ids]`).
IndexItem int64_item(const Array& a) {
  Array c = contiguous(a);
  IndexItem it;
  it.kind = IndexItem::IntArray;
  it.shape = a.shape;
  it.values.assign(c.data<std::int64_t>(), c.data<std::int64_t>() + c.numel());
  return it;
}

IndexItem int_array(py::handle k) {
  if (is_tensor(k.ptr()) && holder_of(k.ptr())->data.dtype == DType::I64) return int64_item(holder_of(k.ptr())->data);
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (is_tensor(k.ptr())) arr = array_view(holder_of(k.ptr())->data, k);
  else arr = np.attr("asarray")(k);
  py::dtype dt = arr.attr("dtype").cast<py::dtype>();
  if (dt.kind() == 'f') {
    py::object finite = np.attr("all")(np.attr("isfinite")(arr));
    py::object integral = np.attr("all")(arr.attr("__eq__")(np.attr("round")(arr)));
    if (!finite.cast<bool>() || !integral.cast<bool>()) throw IndexError("tensor indices must hold integers");
  } else if (dt.kind() != 'i' && dt.kind() != 'u') {
    throw IndexError("arrays used as indices must be of integer (or boolean) type, got " + py::str(dt).cast<std::string>());
  }
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ints(arr);
  IndexItem it;
  it.kind = IndexItem::IntArray;
  it.shape.assign(ints.shape(), ints.shape() + ints.ndim());
  it.values.assign(ints.data(), ints.data() + ints.size());
  return it;
}

}  // namespace

std::vector<IndexItem> parse_index(py::handle key) { return parse_index(key, nullptr); }

std::vector<IndexItem> parse_index(py::handle key, std::vector<std::pair<std::uint32_t, TensorPtr>>* sources) {
  py::tuple parts = py::isinstance<py::tuple>(key) ? py::reinterpret_borrow<py::tuple>(key) : py::make_tuple(key);
  std::vector<IndexItem> items;
  for (auto k : parts) {
    IndexItem it;
    if (is_tensor(k.ptr()) && holder_of(k.ptr())->data.dtype == DType::I64) {  // the embedding lookup, first
      // while tracing, the ids are an input of the replay (sources), or a read that guards them
      if (sources != nullptr) sources->emplace_back(static_cast<std::uint32_t>(items.size()), holder_of(k.ptr()));
      else tensor_read(holder_of(k.ptr()));
      items.push_back(int64_item(holder_of(k.ptr())->data));
      continue;
    }
    if (k.is_none()) { it.kind = IndexItem::NewAxis; }
    else if (k.ptr() == Py_Ellipsis) { it.kind = IndexItem::Ellipsis; }
    else if (PySlice_Check(k.ptr())) {
      it.kind = IndexItem::Slice;
      py::object start = k.attr("start"), stop = k.attr("stop"), step = k.attr("step");
      auto as_int = [](py::handle v) {
        if (!py::isinstance(v, py::module_::import("numbers").attr("Integral")))
          throw TypeError("slice indices must be integers or None, got " + type_name(v));
        return std::max(clamped_int(v), -std::numeric_limits<std::int64_t>::max());  // a step's negation must fit
      };
      if (!start.is_none()) { it.has_start = true; it.start = as_int(start); }
      if (!stop.is_none()) { it.has_stop = true; it.stop = as_int(stop); }
      if (!step.is_none()) it.step = as_int(step);
    } else if (!py::isinstance<py::bool_>(k) && py::isinstance(k, py::module_::import("numbers").attr("Integral"))) {
      it.kind = IndexItem::Int;
      it.i = clamped_int(k);
    } else if (is_tensor(k.ptr()) || py::isinstance<py::list>(k) || py::isinstance<py::array>(k) || py::isinstance<py::bool_>(k)) {
      if (is_tensor(k.ptr()) && sources != nullptr) sources->emplace_back(static_cast<std::uint32_t>(items.size()), holder_of(k.ptr()));
      else if (is_tensor(k.ptr())) tensor_read(holder_of(k.ptr()));  // the ids are read: guarded while tracing
      py::object arr = is_tensor(k.ptr()) ? py::reinterpret_borrow<py::object>(k) : py::module_::import("numpy").attr("asarray")(k);
      if (!is_tensor(k.ptr()) && arr.attr("dtype").attr("kind").cast<std::string>() == "b") {
        // a boolean mask selects where it is true: one integer array per mask dim
        std::size_t j = 0;
        for (auto idx : py::module_::import("numpy").attr("nonzero")(arr)) {
          items.push_back(int_array(idx));
          items.back().mask_size = arr.attr("shape")[py::int_(j++)].cast<std::int64_t>();
        }
        continue;
      }
      it = int_array(arr);
    } else {
      std::string foreign = foreign_backend(k);
      if (!foreign.empty()) throw TypeError("cannot index a tapegrad (native) Tensor with " + foreign);
      throw IndexError("only integers, slices (`:`), ellipsis (`...`), None and integer arrays are valid indices, got " +
                       type_name(k));
    }
    items.push_back(std::move(it));
  }
  return items;
}

}  // namespace tapegrad::bindings
