// NumPy indexing of Arrays: ints, slices, None, Ellipsis and integer arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "array.h"

namespace tapegrad {

// One item of a subscript, parsed by the bindings; the core does the math.
struct IndexItem {
  enum Kind { Int, Slice, NewAxis, Ellipsis, IntArray } kind = Int;
  std::int64_t i = 0;                                   // Int
  std::int64_t start = 0, stop = 0, step = 1;           // Slice, as Python wrote it
  bool has_start = false, has_stop = false;
  std::vector<std::int64_t> values;                     // IntArray, row-major
  Shape shape;                                          // IntArray's shape
  std::int64_t mask_size = -1;                          // IntArray made from a bool mask: its size along this dim
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
