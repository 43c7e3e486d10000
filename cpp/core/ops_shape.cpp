// Movement and indexing: reshape, transpose, permute, expand, astype, clone
// and NumPy subscripts. Each moves values without changing them, so each backward
// moves the gradient back: the inverse reshape or permutation, the sum over
// broadcast copies, the scatter-add of a gather (and the gather of that).
#include <memory>
#include <numeric>

#include "backward_rules.h"
#include "trace.h"

namespace tapegrad {

// ---- reshape -----------------------------------------------------------------

TensorPtr reshape(const TensorPtr& a, const Shape& shape) {
  Array out = reshape(a->data, shape);
  if (!recording({&a})) return make_leaf(std::move(out));
  return record(std::move(out), Op::Reshape, {a});
}

// reshaping moves no values: reshape g back
template <class X, class In>
std::vector<X> backward_Reshape(const TensorNode& n, const X& g, const In&) {
  return {reshape(g, n.parents[0]->data.shape)};
}
TG_INSTANTIATE_BACKWARD(backward_Reshape)

// ---- transpose, permute, .T ------------------------------------------------------

TensorPtr permuted(const TensorPtr& a, Op op, std::vector<std::int64_t> perm) {
  Array out = permute(a->data, perm);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), op, {a});
  n->dims = std::move(perm);
  return n;
}

TensorPtr transpose(const TensorPtr& a, std::int64_t d0, std::int64_t d1) {
  const std::int64_t nd = a->data.ndim();
  std::vector<std::int64_t> perm(static_cast<std::size_t>(nd));
  std::iota(perm.begin(), perm.end(), 0);
  d0 = normalize_dim(d0, nd);  // a 0-d tensor accepts 0 and -1, as every dim argument
  d1 = normalize_dim(d1, nd);
  if (nd > 0) std::swap(perm[d0], perm[d1]);
  return permuted(a, Op::Transpose, std::move(perm));
}

TensorPtr permute(const TensorPtr& a, const std::vector<std::int64_t>& dims) {
  permute(a->data, dims);  // validates dims (ValueError) before anything is recorded
  std::vector<std::int64_t> perm;
  if (a->data.ndim() > 0)
    for (auto d : dims) perm.push_back(normalize_dim(d, a->data.ndim()));
  return permuted(a, Op::Permute, std::move(perm));
}

TensorPtr reverse_dims(const TensorPtr& a) {
  std::vector<std::int64_t> perm;
  for (std::int64_t i = a->data.ndim(); i-- > 0;) perm.push_back(i);
  return permuted(a, Op::Transpose, std::move(perm));
}

// apply the inverse permutation to g
template <class X, class In>
std::vector<X> backward_Permute(const TensorNode& n, const X& g, const In&) {
  std::vector<std::int64_t> inv(n.dims.size());
  for (std::size_t i = 0; i < n.dims.size(); ++i) inv[n.dims[i]] = static_cast<std::int64_t>(i);
  return {permute(g, inv)};
}
TG_INSTANTIATE_BACKWARD(backward_Permute)

template <class X, class In>
std::vector<X> backward_Transpose(const TensorNode& n, const X& g, const In& in) {
  return backward_Permute(n, g, in);
}
TG_INSTANTIATE_BACKWARD(backward_Transpose)

// ---- expand (Note [Broadcast reduction]) ----------------------------------------------

TensorPtr expand(const TensorPtr& a, const Shape& shape) {
  Array out = expand(a->data, shape);
  if (!recording({&a})) return make_leaf(std::move(out));
  return record(std::move(out), Op::Expand, {a});
}

// each input element was copied: sum its copies
template <class X, class In>
std::vector<X> backward_Expand(const TensorNode& n, const X& g, const In&) {
  return {sum_to(g, n.parents[0]->data.shape)};
}
TG_INSTANTIATE_BACKWARD(backward_Expand)

// ---- astype ----------------------------------------------------------------------------

TensorPtr cast(const TensorPtr& a, DType dtype) {
  if (a->data.dtype == dtype) return a;
  Array out = astype(a->data, dtype);
  // to int64 never records, but a trace logs it (a leaf once traced: Note [Compile])
  if (!recording({&a}) || (!is_float(dtype) && tracer_here() == nullptr)) return make_leaf(std::move(out));
  return record(std::move(out), Op::Cast, {a});
}

// the values are the same numbers: g goes back in the input's dtype
template <class X, class In>
std::vector<X> backward_Cast(const TensorNode& n, const X& g, const In&) {
  if constexpr (kRecorded<X>) return {cast(g, n.parents[0]->data.dtype)};
  else return {astype(g, n.parents[0]->data.dtype)};
}
TG_INSTANTIATE_BACKWARD(backward_Cast)

// ---- clone -----------------------------------------------------------------------------

TensorPtr clone(const TensorPtr& a) {
  Array out = copy(a->data);
  if (!recording({&a})) return make_leaf(std::move(out));
  return record(std::move(out), Op::Clone, {a});
}

// the same values: g passes through
template <class X, class In>
std::vector<X> backward_Clone(const TensorNode&, const X& g, const In&) {
  return {g};
}
TG_INSTANTIATE_BACKWARD(backward_Clone)

// ---- indexing: getitem and its backward, a scatter-add ----------------------------

namespace {

using PlanPtr = std::shared_ptr<const IndexPlan>;

TensorPtr with_plan(Array out, Op op, const TensorPtr& a, PlanPtr plan) {
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), op, {a});
  n->plan = std::move(plan);
  return n;
}

Array gather_by(const Array& g, const PlanPtr& p) { return gather(g, *p); }
Array scatter_by(const Array& g, const PlanPtr& p) { return scatter(g, *p); }
TensorPtr gather_by(const TensorPtr& g, const PlanPtr& p) { return with_plan(gather(g->data, *p), Op::GetItem, g, p); }
TensorPtr scatter_by(const TensorPtr& g, const PlanPtr& p) { return with_plan(scatter(g->data, *p), Op::GetItemBackward, g, p); }

}  // namespace

TensorPtr getitem(const TensorPtr& a, const std::vector<IndexItem>& items) {
  auto plan = std::make_shared<const IndexPlan>(plan_index(a->data.shape, items));
  return with_plan(apply_index(a->data, items, *plan), Op::GetItem, a, plan);
}

TensorPtr getitem(const TensorPtr& a, const std::shared_ptr<const IndexPlan>& plan) {
  return index_with_plan(Op::GetItem, a, plan);
}

TensorPtr index_with_plan(Op op, const TensorPtr& a, const std::shared_ptr<const IndexPlan>& plan) {
  if (a->data.shape != plan->in_shape) throw ValueError("getitem: a replayed index plan for another shape");
  return with_plan(gather(a->data, *plan), op, a, plan);
}

// scatter g back where the values came from
template <class X, class In>
std::vector<X> backward_GetItem(const TensorNode& n, const X& g, const In&) {
  return {scatter_by(g, n.plan)};
}
TG_INSTANTIATE_BACKWARD(backward_GetItem)

// the scatter-add is linear: its backward gathers with the same plan
template <class X, class In>
std::vector<X> backward_GetItemBackward(const TensorNode& n, const X& g, const In&) {
  return {gather_by(g, n.plan)};
}
TG_INSTANTIATE_BACKWARD(backward_GetItemBackward)

// ---- gather and embedding: getitem with plans of their own (Note [Gather plans]) ------

TensorPtr gather(const TensorPtr& a, std::int64_t dim, const Array& index) {
  auto plan = std::make_shared<const IndexPlan>(gather_plan(a->data.shape, dim, index));
  return with_plan(tapegrad::gather(a->data, *plan), Op::Gather, a, plan);
}

TensorPtr embedding(const Array& index, const TensorPtr& weight) {
  auto plan = std::make_shared<const IndexPlan>(embedding_plan(weight->data.shape, index));
  return with_plan(tapegrad::gather(weight->data, *plan), Op::Embedding, weight, plan);
}

// as getitem's: g scattered back where the values came from
template <class X, class In>
std::vector<X> backward_Gather(const TensorNode& n, const X& g, const In& in) {
  return backward_GetItem(n, g, in);
}
TG_INSTANTIATE_BACKWARD(backward_Gather)

// g's rows added back into the rows of the table they came from
template <class X, class In>
std::vector<X> backward_Embedding(const TensorNode& n, const X& g, const In& in) {
  return backward_GetItem(n, g, in);
}
TG_INSTANTIATE_BACKWARD(backward_Embedding)

// ---- slices of nodes, for the backward rules of joins --------------------------------

TensorPtr slice(const TensorPtr& a, std::int64_t dim, std::int64_t start, std::int64_t stop) {
  std::vector<IndexItem> items(static_cast<std::size_t>(dim) + 1);
  for (auto& it : items) it.kind = IndexItem::Slice;
  IndexItem& last = items.back();
  last.has_start = last.has_stop = true;
  last.start = start;
  last.stop = stop;
  return getitem(a, items);
}

TensorPtr select(const TensorPtr& a, std::int64_t dim, std::int64_t index) {
  std::vector<IndexItem> items(static_cast<std::size_t>(dim) + 1);
  for (auto& it : items) it.kind = IndexItem::Slice;
  items.back().kind = IndexItem::Int;
  items.back().i = index;
  return getitem(a, items);
}

// ---- plans made by other families (ops_conv.cpp) ------------------------------------

TensorPtr gather_by_plan(const TensorPtr& a, const std::shared_ptr<const IndexPlan>& plan) { return gather_by(a, plan); }
TensorPtr scatter_by_plan(const TensorPtr& g, const std::shared_ptr<const IndexPlan>& plan) { return scatter_by(g, plan); }
Array gather_by_plan(const Array& a, const std::shared_ptr<const IndexPlan>& plan) { return gather_by(a, plan); }
Array scatter_by_plan(const Array& g, const std::shared_ptr<const IndexPlan>& plan) { return scatter_by(g, plan); }

}  // namespace tapegrad
