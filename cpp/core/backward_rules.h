// What the ops' backward rules are written with (internal to ops_*.cpp and
// tensor_backward.cpp).
//
// Note [Recorded backward]
// Each op's backward rule is written once, as a template over X, the type of
// a gradient: X = Array in the fused sweep (backward() as it always ran: the
// kernels directly, fused where it pays), X = TensorPtr in the recorded one
// (create_graph: every step is an op of the table, so the gradients are graph
// nodes that can be differentiated again, to any order). The primitives a
// rule calls (mul, reshape, matmul, sum_to, ...) exist for both types with the
// same names: kernels.h and array.h for Arrays, tensor_node.h and below for
// nodes. The values a rule reads come through `In`: in the fused sweep the
// arrays the forward saved (op_table.h's Saves column), in the recorded one
// the parents and the node itself, so that the second derivative reaches the
// forward inputs too. The elementwise rules' local derivatives (rules.h) are
// evaluated on scalars in the kernels and on nodes (TRec, ops_elementwise.cpp)
// when recording.
#pragma once

#include <type_traits>
#include <vector>

#include "broadcast.h"
#include "kernels.h"
#include "tensor_node.h"

namespace tapegrad {

// The fused sweep's view of a node: the arrays it saved.
struct FastIn {
  const TensorNode& n;
  const Array& input(std::size_t i) const { return n.saved[i]; }
  const Array& output() const { return n.saved.back(); }
  bool needs(std::size_t i) const { return n.parents[i]->requires_grad; }
};

// An elementwise rule's view of arrays held elsewhere (a flat replay's slots,
// tape_flat.cpp): the values the node would have saved, and the one parent
// whose share is wanted.
struct ArrayIn {
  const Array* in[2];
  const Array* out;
  std::size_t want;
  const Array& input(std::size_t i) const { return *in[i]; }
  const Array& output() const { return *out; }
  bool needs(std::size_t i) const { return i == want; }
};

// The recorded sweep's view: the parents and the node itself.
struct RecIn {
  const TensorPtr& n;
  const TensorPtr& input(std::size_t i) const { return n->parents[i]; }
  const TensorPtr& output() const { return n; }
  bool needs(std::size_t i) const { return n->parents[i]->requires_grad; }
};

template <class X>
inline constexpr bool kRecorded = std::is_same_v<X, TensorPtr>;

inline const Shape& shape_of(const Array& a) { return a.shape; }
inline const Shape& shape_of(const TensorPtr& t) { return t->data.shape; }
inline DType dtype_of(const Array& a) { return a.dtype; }
inline DType dtype_of(const TensorPtr& t) { return t->data.dtype; }
inline const Array& data_of(const Array& a) { return a; }
inline const Array& data_of(const TensorPtr& t) { return t->data; }

// A constant array as a value of the sweep: itself, or a leaf node.
template <class X>
X constant(const Array& a) {
  if constexpr (kRecorded<X>) return make_leaf(a);
  else return a;
}

// Node versions of the Array helpers rules use (ops_reduce.cpp, ops_shape.cpp).
TensorPtr sum_to(const TensorPtr& g, const Shape& shape);                       // Note [Broadcast reduction]
TensorPtr sum_keepdim(const TensorPtr& g, const std::vector<std::int64_t>& dims);  // sum over dims, kept as size 1
inline Array sum_keepdim(const Array& g, const std::vector<std::int64_t>& dims) {
  return reduce(ReduceKind::Sum, g, dims, true);
}
TensorPtr exp(const TensorPtr& a);
inline Array exp(const Array& a) { return unary(Op::Exp, a); }
TensorPtr div_scalar(const TensorPtr& a, double c);  // a / c, c in a's dtype
inline Array div_scalar(const Array& a, double c) { return binary_scalar(Op::Div, a, c); }
// The entry `index` of dim (dropped); slice() is in tensor_node.h.
TensorPtr select(const TensorPtr& a, std::int64_t dim, std::int64_t index);

// getitem (a GetItem node) and its scatter-add (a GetItemBackward node) by a
// plan another family made: the pools' and conv2d's (ops_conv.cpp).
TensorPtr gather_by_plan(const TensorPtr& a, const std::shared_ptr<const IndexPlan>& plan);
TensorPtr scatter_by_plan(const TensorPtr& g, const std::shared_ptr<const IndexPlan>& plan);
Array gather_by_plan(const Array& a, const std::shared_ptr<const IndexPlan>& plan);
Array scatter_by_plan(const Array& g, const std::shared_ptr<const IndexPlan>& plan);

// The rules, one per family, each instantiated for both sweeps; the table
// routes every row to its family's (tensor_backward.cpp).
template <class X, class In>
std::vector<X> unary_backward(const TensorNode& n, const X& g, const In& in);
template <class X, class In>
std::vector<X> binary_backward(const TensorNode& n, const X& g, const In& in);
#define TG_DECLARE_BACKWARD(Name) \
  template <class X, class In>    \
  std::vector<X> backward_##Name(const TensorNode& n, const X& g, const In& in);
TG_DECLARE_BACKWARD(MatMul)
TG_DECLARE_BACKWARD(Sum)
TG_DECLARE_BACKWARD(Mean)
TG_DECLARE_BACKWARD(Max)
TG_DECLARE_BACKWARD(Min)
TG_DECLARE_BACKWARD(Reshape)
TG_DECLARE_BACKWARD(Transpose)
TG_DECLARE_BACKWARD(Permute)
TG_DECLARE_BACKWARD(Expand)
TG_DECLARE_BACKWARD(Cast)
TG_DECLARE_BACKWARD(GetItem)
TG_DECLARE_BACKWARD(GetItemBackward)
TG_DECLARE_BACKWARD(Gather)
TG_DECLARE_BACKWARD(Embedding)
TG_DECLARE_BACKWARD(Concatenate)
TG_DECLARE_BACKWARD(Stack)
TG_DECLARE_BACKWARD(Where)
TG_DECLARE_BACKWARD(Softmax)
TG_DECLARE_BACKWARD(LogSoftmax)
TG_DECLARE_BACKWARD(CrossEntropy)
TG_DECLARE_BACKWARD(MseLoss)
TG_DECLARE_BACKWARD(LayerNorm)
TG_DECLARE_BACKWARD(BatchNorm)
TG_DECLARE_BACKWARD(Dropout)
TG_DECLARE_BACKWARD(Conv2d)
TG_DECLARE_BACKWARD(MaxPool2d)
TG_DECLARE_BACKWARD(AvgPool2d)
TG_DECLARE_BACKWARD(Var)
TG_DECLARE_BACKWARD(Std)
TG_DECLARE_BACKWARD(LogSumExp)
TG_DECLARE_BACKWARD(Clone)
TG_DECLARE_BACKWARD(Linear)
#undef TG_DECLARE_BACKWARD

// Explicit instantiations, in the file that defines a rule.
#define TG_INSTANTIATE_BACKWARD(fn)                                                                 \
  template std::vector<Array> fn<Array, FastIn>(const TensorNode&, const Array&, const FastIn&);  \
  template std::vector<TensorPtr> fn<TensorPtr, RecIn>(const TensorNode&, const TensorPtr&, const RecIn&);

// An op that computes in floating point takes int64 input as float32 (Note
// [Dtypes]): `a` itself if float, else a float32 leaf (int64 never requires grad).
TensorPtr floating(const TensorPtr& a);

// Recording a node (ops_elementwise.cpp): whether any of ts will, and the node.
bool recording(std::initializer_list<const TensorPtr*> ts);
bool any_requires_grad(const std::vector<TensorPtr>& ts);
TensorPtr record(Array data, Op op, std::vector<TensorPtr> parents, std::vector<Array> saved = {});
// `t` broadcast to `s` as an explicit expand node (Note [Broadcast reduction]).
TensorPtr expanded(const TensorPtr& t, const Shape& s);
Array broadcast_view(const Array& a, const Shape& s);  // stride 0 along broadcast dimensions

}  // namespace tapegrad
