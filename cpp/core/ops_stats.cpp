// var, std (the Moments rows) and logsumexp (of the softmax family): fused
// reductions, each forward beside its backward rule. The fused backward is one
// pass (kernels_stats.cpp); the recorded one is made of the table's ops, so
// that it can be differentiated again.
#include <algorithm>
#include <cmath>

#include "backward_rules.h"

namespace tapegrad {

namespace {

std::vector<std::int64_t> reduced_dims(const Array& a, const std::vector<std::int64_t>& dims, bool all_dims) {
  if (!all_dims) return normalize_dims(dims, a.ndim());
  std::vector<std::int64_t> all;
  for (std::int64_t i = 0; i < a.ndim(); ++i) all.push_back(i);
  return all;
}

// The result's shape: the reduced dims dropped, or kept as size 1.
Shape result_shape(const Shape& in, const std::vector<std::int64_t>& dims, bool keepdim) {
  Shape s;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const bool reduced = std::find(dims.begin(), dims.end(), static_cast<std::int64_t>(i)) != dims.end();
    if (!reduced) s.push_back(in[i]);
    else if (keepdim) s.push_back(1);
  }
  return s;
}

// The input's shape with the reduced dims as size 1.
Shape kept_shape(const TensorNode& n) {
  Shape s = n.parents[0]->data.shape;
  for (auto d : n.dims) s[d] = 1;
  return s;
}

// n - correction, never below 0 (PyTorch's degrees of freedom)
double dof(const TensorNode& n) {
  std::int64_t count = 1;
  for (auto d : n.dims) count *= n.parents[0]->data.shape[d];
  return std::max(0.0, static_cast<double>(count) - n.k);
}

}  // namespace

// ---- var, std ----------------------------------------------------------------------

// Saves (Custom): the input and its mean (float64, keepdim-shaped); std also
// its result, keepdim-shaped. n->k is the correction.
TensorPtr moments_op(Op op, const TensorPtr& a, const std::vector<std::int64_t>& dims0, bool all_dims, bool keepdim,
                     double correction) {
  if (a->data.dtype == DType::I64)  // Note [Dtypes]: computed in float32
    return moments_op(op, cast(a, DType::F32), dims0, all_dims, keepdim, correction);
  std::vector<std::int64_t> dims = reduced_dims(a->data, dims0, all_dims);
  Array mean;
  Array kept = moments(a->data, dims, correction, op == Op::Std, mean);
  Array out = reshape(kept, result_shape(a->data.shape, dims, keepdim));
  if (!recording({&a})) return make_leaf(std::move(out));
  std::vector<Array> saved = {a->data, mean};
  if (op == Op::Std) saved.push_back(kept);
  TensorPtr n = record(std::move(out), op, {a}, std::move(saved));
  n->dims = std::move(dims);
  n->keepdim = keepdim;
  n->k = correction;
  return n;
}

namespace {

// a - mean(a) over the node's dims, recorded
TensorPtr centered(const TensorNode& n, const TensorPtr& a) { return sub(a, reduce_op(Op::Mean, a, n.dims, false, true)); }

}  // namespace

// d var/da_i = 2 (a_i - mean) / (n - correction)
template <class X, class In>
std::vector<X> backward_Var(const TensorNode& n, const X& g, const In& in) {
  if constexpr (kRecorded<X>) {
    return {mul(scale(reshape(g, kept_shape(n)), 2.0 / dof(n)), centered(n, in.input(0)))};
  } else {
    return {moments_grad(reshape(g, kept_shape(n)), n.saved[0], n.saved[1], Array(), n.dims, n.k, false)};
  }
}
TG_INSTANTIATE_BACKWARD(backward_Var)

// d std/da_i = (a_i - mean) / ((n - correction) std): var's rule for g / (2 std),
// which is 0 where std = 0 (PyTorch's)
template <class X, class In>
std::vector<X> backward_Std(const TensorNode& n, const X& g, const In& in) {
  if constexpr (kRecorded<X>) {
    const Shape kept = kept_shape(n);
    TensorPtr s = reshape(in.output(), kept);
    TensorPtr zero = make_leaf(scalar_array(0.0, s->data.dtype));
    TensorPtr half = where(make_leaf(binary_scalar(Op::Eq, s->data, 0.0)), zero, div(reshape(g, kept), scale(s, 2.0)));
    return {mul(scale(half, 2.0 / dof(n)), centered(n, in.input(0)))};
  } else {
    return {moments_grad(reshape(g, kept_shape(n)), n.saved[0], n.saved[1], n.saved[2], n.dims, n.k, true)};
  }
}
TG_INSTANTIATE_BACKWARD(backward_Std)

// ---- logsumexp ---------------------------------------------------------------------------

TensorPtr logsumexp(const TensorPtr& a, const std::vector<std::int64_t>& dims0, bool keepdim) {
  if (a->data.dtype == DType::I64) return logsumexp(cast(a, DType::F32), dims0, keepdim);  // Note [Dtypes]
  std::vector<std::int64_t> dims = normalize_dims(dims0, a->data.ndim());
  Array out = reshape(logsumexp(a->data, dims), result_shape(a->data.shape, dims, keepdim));
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(out, Op::LogSumExp, {a}, {a->data, out});
  n->dims = std::move(dims);
  n->keepdim = keepdim;
  return n;
}

// d logsumexp/da_i = e^(a_i - out), the softmax of a
template <class X, class In>
std::vector<X> backward_LogSumExp(const TensorNode& n, const X& g, const In& in) {
  const Shape kept = kept_shape(n);
  if constexpr (kRecorded<X>) {
    return {mul(reshape(g, kept), exp(sub(in.input(0), reshape(in.output(), kept))))};
  } else {
    return {logsumexp_grad(reshape(g, kept), in.input(0), reshape(in.output(), kept), n.dims)};
  }
}
TG_INSTANTIATE_BACKWARD(backward_LogSumExp)

}  // namespace tapegrad
