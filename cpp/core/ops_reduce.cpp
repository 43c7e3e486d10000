// Reductions: sum, mean, max, min over some dims (keepdim or not), each
// forward beside its backward rule, which puts the reduced dims back as size
// 1 and broadcasts the gradient over them.
#include <algorithm>
#include <cmath>

#include "backward_rules.h"
#include "trace.h"

namespace tapegrad {

TensorPtr reduce_op(Op op, const TensorPtr& a0, const std::vector<std::int64_t>& dims0, bool all_dims, bool keepdim) {
  const TensorPtr a = op == Op::Mean ? floating(a0) : a0;  // sum, max, min keep int64 (Note [Dtypes])
  std::vector<std::int64_t> dims;
  if (all_dims) for (std::int64_t i = 0; i < a->data.ndim(); ++i) dims.push_back(i);
  else dims = normalize_dims(dims0, a->data.ndim());
  ReduceKind k = op == Op::Max ? ReduceKind::Max : op == Op::Min ? ReduceKind::Min : ReduceKind::Sum;
  Array m = reduce(k, a->data, dims, true);
  std::int64_t count = 1;
  for (auto d : dims) count *= a->data.shape[d];
  if (op == Op::Mean) m = binary_scalar(Op::Mul, m, count ? 1.0 / static_cast<double>(count) : std::nan(""));
  Shape out_shape;
  for (std::int64_t i = 0; i < a->data.ndim(); ++i) {
    bool reduced = std::find(dims.begin(), dims.end(), i) != dims.end();
    if (!reduced) out_shape.push_back(a->data.shape[i]);
    else if (keepdim) out_shape.push_back(1);
  }
  Array out = reshape(m, out_shape);
  if (!recording({&a})) return make_leaf(std::move(out));
  std::vector<Array> saved;
  if (op == Op::Max || op == Op::Min) saved = {a->data, out};
  TensorPtr n = record(std::move(out), op, {a}, std::move(saved));
  n->dims = std::move(dims);
  n->keepdim = keepdim;
  return n;
}

TensorPtr arg_op(Op op, const TensorPtr& a, std::int64_t dim, bool all_dims, bool keepdim) {
  Array out = arg_reduce(op == Op::Argmax, a->data, dim, all_dims, keepdim);
  if (tracer_here() == nullptr) return make_leaf(std::move(out));
  // While tracing, a node the tape replays (Note [Compile]); a leaf again once traced.
  TensorPtr n = record(std::move(out), op, {a});
  if (!all_dims) n->dims = {dim};
  n->keepdim = keepdim;
  return n;
}

namespace {

// The input's shape with the reduced dims as size 1.
Shape kept_shape(const TensorNode& n) {
  Shape s = n.parents[0]->data.shape;
  for (auto d : n.dims) s[d] = 1;
  return s;
}

}  // namespace

// d sum(a)/da_i = 1: g copied to every summed element
template <class X, class In>
std::vector<X> backward_Sum(const TensorNode& n, const X& g, const In&) {
  return {expand(reshape(g, kept_shape(n)), n.parents[0]->data.shape)};
}
TG_INSTANTIATE_BACKWARD(backward_Sum)

// d mean(a)/da_i = 1/n
template <class X, class In>
std::vector<X> backward_Mean(const TensorNode& n, const X& g, const In&) {
  const Shape& in_shape = n.parents[0]->data.shape;
  std::int64_t count = 1;
  for (auto d : n.dims) count *= in_shape[d];
  return {expand(div_scalar(reshape(g, kept_shape(n)), static_cast<double>(count)), in_shape)};
}
TG_INSTANTIATE_BACKWARD(backward_Mean)

// d max(a)/da_i = [a_i = max] / #ties (a constant share of g)
template <class X, class In>
std::vector<X> backward_Max(const TensorNode& n, const X& g, const In& in) {
  const Shape kept = kept_shape(n);
  Array share = tie_share(data_of(in.input(0)), reshape(data_of(in.output()), kept), n.dims);
  return {mul(reshape(g, kept), constant<X>(share))};
}
TG_INSTANTIATE_BACKWARD(backward_Max)

// the same rule with the minima
template <class X, class In>
std::vector<X> backward_Min(const TensorNode& n, const X& g, const In& in) {
  return backward_Max(n, g, in);
}
TG_INSTANTIATE_BACKWARD(backward_Min)

// Note [Broadcast reduction] for nodes: the sum over the broadcast axes.
TensorPtr sum_to(const TensorPtr& g, const Shape& shape) {
  if (g->data.shape == shape) return g;
  const std::size_t lead = g->data.shape.size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < lead; ++i) dims.push_back(static_cast<std::int64_t>(i));
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && g->data.shape[lead + i] != 1) dims.push_back(static_cast<std::int64_t>(lead + i));
  return reshape(sum_keepdim(g, dims), shape);
}

TensorPtr sum_keepdim(const TensorPtr& g, const std::vector<std::int64_t>& dims) {
  return reduce_op(Op::Sum, g, dims, false, true);
}

}  // namespace tapegrad
