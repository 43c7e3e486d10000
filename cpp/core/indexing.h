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
// Note [Gather plans]: an advanced index is a table of positions in the
// contiguous input, one per run of `block` consecutive elements that the
// output takes whole (the trailing dims the index leaves alone): a row of an
// embedding table is one entry and one memcpy, not D of each.
struct IndexPlan {
  Shape in_shape;
  bool is_view = true;   // basic indexing only: a strided view
  Shape out_shape;
  Shape view_strides;    // is_view: the view of a contiguous input
  std::int64_t view_offset = 0;
  std::vector<std::int64_t> flat;  // !is_view: contiguous input position of each run, in output order
  std::int64_t block = 1;          // !is_view: elements per run
};
IndexPlan plan_index(const Shape& in_shape, const std::vector<IndexItem>& items);
// A view for basic indexing, else a gathered copy (`plan` from plan_index on a.shape).
Array apply_index(const Array& a, const std::vector<IndexItem>& items, const IndexPlan& plan);

// The plans of x.gather(dim, index) and of embedding(index, weight): `index`
// an int64 array, checked here (IndexError for a position out of range,
// ValueError for shapes gather cannot take).
IndexPlan gather_plan(const Shape& in_shape, std::int64_t dim, const Array& index);
IndexPlan embedding_plan(const Shape& weight_shape, const Array& index);

// What a plan selects from `a` (shaped like the plan's input), and its
// adjoint: zeros of the input's shape with g (shaped like the output) added
// where it was taken from, repeated positions adding up.
Array gather(const Array& a, const IndexPlan& p);
Array scatter(const Array& g, const IndexPlan& p);

}  // namespace tapegrad
