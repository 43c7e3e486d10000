// n-d arrays over reference-counted storage, and the tensor graph node.
//
// An Array is a strided view (shape, strides in elements, offset) of a block
// of bytes shared through a shared_ptr, so reshape of contiguous data,
// transpose/permute, expand, basic slicing and detach are views, never copies.
// The storage deleter is arbitrary: memory can come from us, from NumPy (buffer
// protocol) or from a DLPack producer, and the core never knows which.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "small_vec.h"

namespace tapegrad {

// Note [Dtypes]: float32 (the default) and float64 only.
enum class DType : std::uint8_t { F32, F64 };
inline std::size_t itemsize(DType d) { return d == DType::F32 ? 4 : 8; }
inline DType promote(DType a, DType b) { return (a == DType::F64 || b == DType::F64) ? DType::F64 : DType::F32; }
const char* dtype_name(DType d);

using Shape = SmallVec;  // shapes and strides rarely exceed 6 dims: no heap allocation

std::string shape_str(const Shape& s);  // Python tuple spelling: (2, 3), (4,), ()
// Number of elements; ValueError for negative sizes, MemoryError if the byte
// count overflows or cannot be held in memory (checked before allocating).
std::int64_t checked_numel(const Shape& s, DType d);
// The MemoryError for a tensor of shape s that memory cannot hold.
MemoryError too_big(const Shape& s, DType d);
// ValueError for negative sizes, or when a partial product of the nonzero dims
// times the itemsize overflows int64 (strides would), even with zero elements.
void check_shape(const Shape& s, DType d);
Shape contiguous_strides(const Shape& s);

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
Array zeros(const Shape& shape, DType dtype);
Array full(const Shape& shape, DType dtype, double value);
Array scalar_array(double value, DType dtype);  // 0-d
// Wrap external memory: `owner` keeps it alive and releases it when the last view goes.
Array from_external(void* data, std::shared_ptr<void> owner, DType dtype, Shape shape, Shape strides);

Array contiguous(const Array& a);          // `a` itself when already contiguous
Array copy(const Array& a);                // always a fresh contiguous copy
Array astype(const Array& a, DType dtype); // `a` itself when already of that dtype
double item(const Array& a);               // the only element; ValueError otherwise

// Views ---------------------------------------------------------------------
std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim);  // ValueError out of range
std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim);
Shape infer_reshape(const Shape& from, const Shape& to);  // resolves one -1; ValueError on mismatch
Array reshape(const Array& a, const Shape& shape);         // a view when the layout allows, else a copy
Array permute(const Array& a, const std::vector<std::int64_t>& dims);
Array transpose(const Array& a, std::int64_t d0, std::int64_t d1);
Array expand(const Array& a, const Shape& shape);           // broadcast_to as a stride-0 view
Array slice(const Array& a, std::int64_t dim, std::int64_t start, std::int64_t stop, std::int64_t step);
Array select(const Array& a, std::int64_t dim, std::int64_t index);  // drops `dim`
Array unsqueeze(const Array& a, std::int64_t dim);

// Indexing ------------------------------------------------------------------
// One item of a subscript, parsed by the bindings; the core does the math.
struct IndexItem {
  enum Kind { Int, Slice, NewAxis, Ellipsis, IntArray } kind = Int;
  std::int64_t i = 0;                                   // Int
  std::int64_t start = 0, stop = 0, step = 1;           // Slice, as Python wrote it
  bool has_start = false, has_stop = false;
  std::vector<std::int64_t> values;                     // IntArray, row-major
  Shape shape;                                          // IntArray's shape
};
// The result of a subscript, described on a contiguous array of the input's
// shape, so that forward (gather) and backward (scatter-add) share it.
struct IndexPlan {
  Shape in_shape;
  bool is_view = true;   // basic indexing only: a strided view
  Shape out_shape;
  Shape view_strides;    // is_view: the view of a contiguous input
  std::int64_t view_offset = 0;
  std::vector<std::int64_t> flat;  // !is_view: contiguous input position of each output element
};
IndexPlan plan_index(const Shape& in_shape, const std::vector<IndexItem>& items);
// A view for basic indexing, else a gathered copy (`plan` from plan_index on a.shape).
Array apply_index(const Array& a, const std::vector<IndexItem>& items, const IndexPlan& plan);

}  // namespace tapegrad
