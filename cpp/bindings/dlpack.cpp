// DLPack exchange (zero-copy with NumPy, PyTorch and any other producer or
// consumer), and zero-copy wrapping of foreign memory.
//
// The structs below are the DLPack ABI (v0.x "legacy" capsule, which every
// consumer accepts), written from its public description: a capsule named
// "dltensor" holds a DLManagedTensor*; a consumer renames it
// "used_dltensor" and calls the deleter when done with the memory.
#include <cstring>

#include "bindings.h"
#include "compile_hooks.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

struct DLDevice { std::int32_t device_type; std::int32_t device_id; };
struct DLDataType { std::uint8_t code; std::uint8_t bits; std::uint16_t lanes; };
struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;  // in elements; null means C-contiguous
  std::uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
constexpr std::int32_t kDLCPU = 1;
constexpr std::uint8_t kDLInt = 0;
constexpr std::uint8_t kDLFloat = 2;

// What an exported capsule keeps alive: the array (hence its storage) and
// the shape/strides arrays the DLTensor points into.
struct ExportCtx {
  Array array;
  std::vector<std::int64_t> shape, strides;
  DLManagedTensor managed;
};

void export_deleter(DLManagedTensor* self) { delete static_cast<ExportCtx*>(self->manager_ctx); }

void capsule_destructor(PyObject* capsule) {
  // Only a capsule nobody consumed still owns its tensor.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  } else {
    PyErr_Clear();
  }
}

py::object to_dlpack(const TensorPtr& t) {
  auto* ctx = new ExportCtx{t->data, t->data.shape, t->data.strides, {}};
  DLTensor& d = ctx->managed.dl_tensor;
  d.data = ctx->array.ptr();
  d.device = {kDLCPU, 0};
  d.ndim = static_cast<std::int32_t>(ctx->shape.size());
  d.dtype = {is_float(t->data.dtype) ? kDLFloat : kDLInt, static_cast<std::uint8_t>(itemsize(t->data.dtype) * 8), 1};
  d.shape = ctx->shape.data();
  d.strides = ctx->strides.data();
  d.byte_offset = 0;
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = &export_deleter;
  PyObject* cap = PyCapsule_New(&ctx->managed, "dltensor", &capsule_destructor);
  if (cap == nullptr) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(cap);
}

// Storage owned by a Python object: released with the GIL held, since the
// last reference may go from a thread running a kernel without it.
std::shared_ptr<void> python_owner(py::object obj) {
  auto* held = new py::object(std::move(obj));
  return std::shared_ptr<void>(held, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
}

// The dtype an array's memory is shared as: float32, float64 or int64 (Note [Dtypes]), else none.
bool shared_dtype(const py::dtype& dt, DType& out) {
  if (dt.kind() == 'f' && dt.itemsize() == 4) out = DType::F32;
  else if (dt.kind() == 'f' && dt.itemsize() == 8) out = DType::F64;
  else if (dt.kind() == 'i' && dt.itemsize() == 8) out = DType::I64;
  else return false;
  return true;
}

TensorPtr wrap_array(py::object arr) {
  py::dtype dt = arr.attr("dtype").cast<py::dtype>();
  bool native_order = arr.attr("dtype").attr("isnative").cast<bool>();
  DType kept = DType::F32;
  if (!shared_dtype(dt, kept) || !native_order) {
    if (kept == DType::I64 && dt.kind() == 'i') return make_leaf(array_from_py(arr, py::str("int64")));  // swapped bytes
    return make_leaf(array_from_py(arr, dt.kind() == 'f' && dt.itemsize() == 8 ? py::str("float64") : py::str("float32")));
  }
  py::array a = arr;
  const py::ssize_t isz = dt.itemsize();
  Shape shape(a.shape(), a.shape() + a.ndim()), strides;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.strides(i) % isz != 0) return make_leaf(array_from_py(arr, py::str(dtype_name(kept))));
    strides.push_back(a.strides(i) / isz);
  }
  void* ptr = const_cast<void*>(a.data());
  return make_leaf(from_external(ptr, python_owner(arr), kept, shape, strides));
}

TensorPtr from_dlpack(py::handle obj) {
  if (is_tensor(obj.ptr())) return make_leaf(holder_of(obj.ptr())->data);
  if (!py::hasattr(obj, "__dlpack__"))
    throw TypeError("from_dlpack() needs an object with __dlpack__, got " + type_name(obj));
  py::object cap = obj.attr("__dlpack__")();
  if (!PyCapsule_IsValid(cap.ptr(), "dltensor"))  // e.g. a versioned capsule: let NumPy read it
    return wrap_array(py::module_::import("numpy").attr("from_dlpack")(obj));
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  if (d.device.device_type != kDLCPU)
    throw TypeError("from_dlpack(): tapegrad tensors live in CPU memory, got DLPack device type " + std::to_string(d.device.device_type));
  const bool is_f = d.dtype.code == kDLFloat && (d.dtype.bits == 32 || d.dtype.bits == 64);
  const bool is_i = d.dtype.code == kDLInt && d.dtype.bits == 64;
  const bool shareable = d.dtype.lanes == 1 && (is_f || is_i);
  if (PyCapsule_SetName(cap.ptr(), "used_dltensor") != 0) throw py::error_already_set();
  std::shared_ptr<void> owner(m, [](void* p) {
    auto* mt = static_cast<DLManagedTensor*>(p);
    py::gil_scoped_acquire gil;  // NumPy's deleter drops a Python reference
    if (mt->deleter) mt->deleter(mt);
  });
  const DType dt = is_i ? DType::I64 : d.dtype.bits == 64 ? DType::F64 : DType::F32;
  Shape shape(d.shape, d.shape + d.ndim);
  check_shape(shape, dt);  // a producer's zero-size shape may still overflow our strides
  Shape strides = d.strides ? Shape(d.strides, d.strides + d.ndim) : contiguous_strides(shape);
  void* data = static_cast<char*>(d.data) + d.byte_offset;
  if (shareable) return make_leaf(from_external(data, std::move(owner), dt, shape, strides));
  // other dtypes are converted (Note [Dtypes]): read them through NumPy, which copies
  return make_leaf(array_from_py(py::module_::import("numpy").attr("from_dlpack")(obj), py::none()));
}

}  // namespace

void bind_dlpack(py::module_& m, TensorClass& cls) {
  def_method(cls, "__dlpack__", "self, *, stream=None, max_version=None, dl_device=None, copy=None",
             "A DLPack capsule sharing this tensor's memory (a copy with copy=True).", [](const TensorPtr& s, const Args& a) {
    const bool want_copy = !a[3].is_none() && flag_arg(a[3]);
    tensor_read(s);
    return to_dlpack(want_copy ? make_leaf(copy(s->data)) : s);
  });
  def_method(cls, "__dlpack_device__", "self", "(kDLCPU, 0): tapegrad tensors live in CPU memory.",
             [](const TensorPtr&, const Args&) { return py::make_tuple(kDLCPU, 0); });
  def_function(m, "_from_dlpack", "obj", "A tensor sharing obj's memory (tapegrad.from_dlpack).",
               [](const Args& a) { return from_dlpack(a[0]); });
}

}  // namespace tapegrad::bindings
