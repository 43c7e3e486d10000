// Matrix products: NumPy's matmul semantics (1-D operands promoted, batch
// dims broadcast), forward beside backward.
#include "backward_rules.h"

namespace tapegrad {

TensorPtr matmul(const TensorPtr& a, const TensorPtr& b) {
  Array out = matmul(a->data, b->data);
  if (!recording({&a, &b})) return make_leaf(std::move(out));
  return record(std::move(out), Op::MatMul, {a, b}, {a->data, b->data});  // operands as of now
}

// d(AB)/dA = G B^T, d(AB)/dB = A^T G, batch dims summed back; only the
// products a parent needs (they dominate the cost)
template <class X, class In>
std::vector<X> backward_MatMul(const TensorNode&, const X& g, const In& in) {
  const X& a = in.input(0);
  const X& b = in.input(1);
  const Shape& sa = shape_of(a);
  const Shape& sb = shape_of(b);
  const X a2 = sa.size() == 1 ? reshape(a, Shape{1, sa[0]}) : a;
  const X b2 = sb.size() == 1 ? reshape(b, Shape{sb[0], 1}) : b;
  const Shape& sa2 = shape_of(a2);
  const Shape& sb2 = shape_of(b2);
  Shape gs = broadcast_shape(Shape(sa2.begin(), sa2.end() - 2), Shape(sb2.begin(), sb2.end() - 2), "@");
  gs.push_back(sa2[sa2.size() - 2]);
  gs.push_back(sb2.back());
  const X g2 = reshape(g, gs);
  std::vector<X> out(2);
  if (in.needs(0)) out[0] = reshape(sum_to(matmul(g2, transpose(b2, -1, -2)), sa2), sa);
  if (in.needs(1)) out[1] = reshape(sum_to(matmul(transpose(a2, -1, -2), g2), sb2), sb);
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_MatMul)

// ---- linear (F.linear): y = x w^T + b as one GEMM (Note [linear as one GEMM], matmul.cpp) ----

namespace {

std::int64_t rows_of(const Shape& xs) {
  std::int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < xs.size(); ++d) rows *= xs[d];
  return rows;
}

}  // namespace

// Saves (Custom): x as (rows, in) and the weight, in the result's dtype.
TensorPtr linear(const TensorPtr& x, const TensorPtr& w, const TensorPtr& b) {
  const Shape &xs = x->data.shape, &ws = w->data.shape;
  if (ws.size() != 2)
    throw ValueError("linear: expected a weight of shape (out_features, in_features), got " + shape_str(ws));
  if (xs.empty()) throw ValueError("linear: expected an input of at least 1 dimension, got shape ()");
  if (xs.back() != ws[1])
    throw ValueError("linear: shapes " + shape_str(xs) + " (input) and " + shape_str(ws) + " (weight) do not match (" +
                     std::to_string(xs.back()) + " != " + std::to_string(ws[1]) + ")");
  if (b && b->data.shape != Shape{ws[0]})
    throw ValueError("linear: bias has shape " + shape_str(b->data.shape) + ", expected " + shape_str(Shape{ws[0]}));
  DType dt = promote(x->data.dtype, w->data.dtype);
  if (b) dt = promote(dt, b->data.dtype);
  dt = float_type(dt);
  Array x2 = reshape(astype(x->data, dt), Shape{rows_of(xs), xs.back()}), wd = astype(w->data, dt);
  Array bd = b ? astype(b->data, dt) : Array();
  Shape out_shape(xs.begin(), xs.end() - 1);
  out_shape.push_back(ws[0]);
  Array out = reshape(linear(x2, wd, b ? &bd : nullptr), out_shape);
  std::vector<TensorPtr> ps{x, w};
  if (b) ps.push_back(b);
  if (!any_requires_grad(ps)) return make_leaf(std::move(out));
  return record(std::move(out), Op::Linear, std::move(ps), {std::move(x2), std::move(wd)});
}

// x as (rows, in), g as (rows, out): dx = g w, dw = g^T x, db = g summed over the rows
template <class X, class In>
std::vector<X> backward_Linear(const TensorNode& n, const X& g, const In& in) {
  const Shape& xs = n.parents[0]->data.shape;
  const std::int64_t out_features = n.parents[1]->data.shape[0];
  const Shape g2s{rows_of(xs), out_features};
  const X g2 = reshape(g, g2s);
  X x2;
  if constexpr (kRecorded<X>) x2 = reshape(in.input(0), Shape{g2s[0], xs.back()});
  else x2 = in.input(0);
  std::vector<X> out(n.parents.size());
  if (in.needs(0)) out[0] = reshape(matmul(g2, in.input(1)), xs);
  if (in.needs(1)) out[1] = matmul(transpose(g2, 0, 1), x2);
  if (n.parents.size() == 3 && in.needs(2)) {
    if constexpr (kRecorded<X>) out[2] = reduce_op(Op::Sum, g2, {0}, false, false);
    else out[2] = reduce(ReduceKind::Sum, g2, {0}, false);
  }
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_Linear)

}  // namespace tapegrad
