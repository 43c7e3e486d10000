// The softmax family and the losses: softmax, log_softmax, cross_entropy
// (fused with its softmax, stable) and mse_loss.
#include <cmath>
#include <type_traits>

#include "backward_rules.h"

namespace tapegrad {

// ---- softmax, log_softmax ----------------------------------------------------------

namespace {

TensorPtr softmax_node(Op op, const TensorPtr& a, std::int64_t dim) {
  Array out = op == Op::Softmax ? softmax(a->data, dim) : log_softmax(a->data, dim);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(out, op, {a}, {out});
  n->dims = {a->data.ndim() ? normalize_dim(dim, a->data.ndim()) : 0};
  return n;
}

}  // namespace

TensorPtr softmax(const TensorPtr& a, std::int64_t dim) { return softmax_node(Op::Softmax, a, dim); }
TensorPtr log_softmax(const TensorPtr& a, std::int64_t dim) { return softmax_node(Op::LogSoftmax, a, dim); }

// ds_i/da_j = s_i (δij - s_j)  =>  s * (g - Σ g s)
template <class X, class In>
std::vector<X> backward_Softmax(const TensorNode& n, const X& g, const In& in) {
  const X& s = in.output();
  if constexpr (std::is_same_v<X, Array>) {
    Array fused;
    if (softmax_backward(g, s, n.dims[0], false, fused)) return {fused};
  }
  return {mul(s, sub(g, sum_keepdim(mul(g, s), n.dims)))};
}
TG_INSTANTIATE_BACKWARD(backward_Softmax)

// d log s_i/da_j = δij - s_j  =>  g - s Σ g
template <class X, class In>
std::vector<X> backward_LogSoftmax(const TensorNode& n, const X& g, const In& in) {
  if constexpr (std::is_same_v<X, Array>) {
    Array fused;
    if (softmax_backward(g, in.output(), n.dims[0], true, fused)) return {fused};
  }
  return {sub(g, mul(exp(in.output()), sum_keepdim(g, n.dims)))};
}
TG_INSTANTIATE_BACKWARD(backward_LogSoftmax)

// ---- cross_entropy -------------------------------------------------------------------

// Saves (Custom): softmax(logits), which the fused sweep's rule reads.
TensorPtr cross_entropy(const TensorPtr& logits, const std::vector<std::int64_t>& labels, const Shape& label_shape) {
  const Array z = astype(logits->data, float_type(logits->data.dtype));  // int64 logits: float32
  if (z.ndim() != 2) throw ValueError("cross_entropy: logits must have shape (N, C), got " + shape_str(z.shape));
  const std::int64_t rows = z.shape[0], classes = z.shape[1];
  if (label_shape != Shape{rows} || static_cast<std::int64_t>(labels.size()) != rows)
    throw ValueError("cross_entropy: labels of shape " + shape_str(label_shape) + " for logits of batch size " +
                     std::to_string(rows));
  for (auto l : labels)
    if (l < 0 || l >= classes)
      throw IndexError("cross_entropy: label " + std::to_string(l) + " is out of range for " + std::to_string(classes) + " classes");
  Array probs;
  Array out = cross_entropy(z, labels, probs);
  if (!recording({&logits})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), Op::CrossEntropy, {logits}, {probs});
  n->labels = labels;
  return n;
}

// dL/dz = (softmax(z) - onehot(label)) / N
template <class X, class In>
std::vector<X> backward_CrossEntropy(const TensorNode& n, const X& g, const In& in) {
  const Shape& shape = n.parents[0]->data.shape;
  const std::int64_t rows = shape[0], classes = shape[1];
  Array onehot = zeros(shape, dtype_of(g));
  for (std::int64_t i = 0; i < rows; ++i) {
    if (onehot.dtype == DType::F32) onehot.data<float>()[i * classes + n.labels[i]] = 1.0f;
    else onehot.data<double>()[i * classes + n.labels[i]] = 1.0;
  }
  X probs;
  if constexpr (kRecorded<X>) probs = softmax(in.input(0), 1);
  else probs = in.input(0);  // the saved softmax
  return {mul(sub(probs, constant<X>(onehot)), div_scalar(g, static_cast<double>(rows)))};
}
TG_INSTANTIATE_BACKWARD(backward_CrossEntropy)

// ---- mse_loss --------------------------------------------------------------------------

// Saves (Custom): pred - target, broadcast.
TensorPtr mse_loss(const TensorPtr& pred0, const TensorPtr& target0) {
  const TensorPtr pred = floating(pred0), target = floating(target0);
  Shape s = broadcast_shape(pred->data.shape, target->data.shape, "mse_loss");
  const bool rec = recording({&pred, &target});
  TensorPtr p = rec ? expanded(pred, s) : pred, t = rec ? expanded(target, s) : target;
  Array diff = sub(p->data, t->data);
  const std::int64_t count = diff.numel();
  std::vector<std::int64_t> all;
  for (std::int64_t i = 0; i < diff.ndim(); ++i) all.push_back(i);
  Array total = reduce(ReduceKind::Sum, mul(diff, diff), all, false);
  Array out = scale(total, count ? 1.0 / static_cast<double>(count) : std::nan(""));
  if (!rec) return make_leaf(std::move(out));
  return record(std::move(out), Op::MseLoss, {p, t}, {diff});
}

// dL/dpred = 2 (pred - target) / n, dL/dtarget = -that
template <class X, class In>
std::vector<X> backward_MseLoss(const TensorNode&, const X& g, const In& in) {
  X diff;
  if constexpr (kRecorded<X>) diff = sub(in.input(0), in.input(1));
  else diff = in.input(0);  // the saved difference
  const double count = static_cast<double>(std::max<std::int64_t>(data_of(diff).numel(), 1));
  X d = mul(diff, scale(g, 2.0 / count));
  return {d, neg(d)};
}
TG_INSTANTIATE_BACKWARD(backward_MseLoss)

}  // namespace tapegrad
