// n-d arrays over reference-counted storage.
//
// An Array is a strided view (shape, strides in elements, offset) of a block
// of bytes shared through a shared_ptr, so reshape of contiguous data,
// transpose/permute, expand, basic slicing and detach are views, never copies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "storage.h"

namespace tapegrad {

struct Array {
  std::shared_ptr<void> storage;  // owns the bytes; the deleter knows where they came from
  DType dtype = DType::F32;
  Shape shape;
  Shape strides;  // in elements; 0 along broadcast (expanded) dimensions
  std::int64_t offset = 0;  // in elements

  std::int64_t ndim() const { return static_cast<std::int64_t>(shape.size()); }
  std::int64_t numel() const;
  bool is_contiguous() const;
  void* ptr() const { return static_cast<char*>(storage.get()) + offset * static_cast<std::int64_t>(itemsize(dtype)); }
  template <class T> T* data() const { return static_cast<T*>(storage.get()) + offset; }
};

Array empty(const Shape& shape, DType dtype);
// While one lives, the next empty() of buf's shape and dtype on this thread
// returns buf itself (a kernel then computes into it) instead of allocating:
// a compiled tape's buffers, reused from call to call (Note [Flat replay]).
// buf must be contiguous and held by nothing else.
class ReuseBuffer {
 public:
  explicit ReuseBuffer(const Array& buf);
  ~ReuseBuffer();
  ReuseBuffer(const ReuseBuffer&) = delete;
  ReuseBuffer& operator=(const ReuseBuffer&) = delete;

 private:
  const Array* previous_;
};
Array zeros(const Shape& shape, DType dtype);
Array full(const Shape& shape, DType dtype, double value);
Array full_int(const Shape& shape, std::int64_t value);  // int64
Array scalar_array(double value, DType dtype);  // 0-d
Array scalar_int(std::int64_t value);           // 0-d int64
// v truncated toward zero; ValueError for NaN, infinity or beyond int64 (kNotInt64).
std::int64_t int64_of(double v);
extern const char* const kNotInt64;
// Wrap external memory: `owner` keeps it alive and releases it when the last view goes.
Array from_external(void* data, std::shared_ptr<void> owner, DType dtype, Shape shape, Shape strides);

Array contiguous(const Array& a);          // `a` itself when already contiguous
Array copy(const Array& a);                // always a fresh contiguous copy
Array astype(const Array& a, DType dtype); // `a` itself when already of that dtype
double item(const Array& a);               // the only element; ValueError otherwise
std::int64_t item_int(const Array& a);     // the only element of an int64 array, exactly
bool truth_value(const Array& a);          // bool(x): the only element != 0; ValueError otherwise

// Runs body(T{}) for the C++ type T of the dtype (float, double, std::int64_t).
template <class Body>
void by_any_dtype(DType dt, Body&& body) {
  switch (dt) {
    case DType::F32: body(float{}); break;
    case DType::F64: body(double{}); break;
    case DType::I64: body(std::int64_t{}); break;
  }
}

// Runs body(T{}) for a float dtype (float, double): the kernels that compute
// in floating point only. An int64 dtype is a TypeError.
template <class Body>
void by_float_dtype(DType dt, Body&& body) {
  switch (dt) {
    case DType::F32: body(float{}); break;
    case DType::F64: body(double{}); break;
    default: throw TypeError(std::string("this operation needs float32 or float64 tensors, got ") + dtype_name(dt));
  }
}

// The core's words for a bad dim or reshape, also for the bindings' arguments
// that do not fit an int64 (given as Python spells them).
std::string dim_out_of_range(const std::string& dim, std::int64_t ndim);
std::string bad_reshape(const std::string& to);
std::string reshape_mismatch(const Shape& from, const std::string& to);

// Views ---------------------------------------------------------------------
std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim);  // ValueError out of range
std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim);
Shape infer_reshape(const Shape& from, const Shape& to);  // resolves one -1; ValueError on mismatch
Array reshape(const Array& a, const Shape& shape);         // a view when the layout allows, else a copy
Array permute(const Array& a, const std::vector<std::int64_t>& dims);
Array transpose(const Array& a, std::int64_t d0, std::int64_t d1);
Array expand(const Array& a, const Shape& shape);           // broadcast_to as a stride-0 view
// [start, stop) along dim with a positive step, already in range (internal use)
Array slice(const Array& a, std::int64_t dim, std::int64_t start, std::int64_t stop, std::int64_t step);
Array select(const Array& a, std::int64_t dim, std::int64_t index);  // drops `dim`
Array unsqueeze(const Array& a, std::int64_t dim);

}  // namespace tapegrad
