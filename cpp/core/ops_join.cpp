// Joining and selecting: concatenate, stack and where. Each input's gradient
// is its own part of g: a slice, an entry along the new axis, or g where the
// condition picked that input.
#include "backward_rules.h"

namespace tapegrad {

TensorPtr concatenate(const std::vector<TensorPtr>& ts, std::int64_t dim) {
  std::vector<Array> parts;
  for (auto& t : ts) parts.push_back(t->data);
  Array out = concatenate(parts, dim);
  if (!any_requires_grad(ts)) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), Op::Concatenate, ts);
  n->dims = {normalize_dim(dim, parts[0].ndim())};
  for (auto& p : parts) n->sizes.push_back(p.shape[n->dims[0]]);
  return n;
}

// each input receives its own slice of g
template <class X, class In>
std::vector<X> backward_Concatenate(const TensorNode& n, const X& g, const In& in) {
  std::vector<X> out(n.sizes.size());
  std::int64_t at = 0;
  for (std::size_t i = 0; i < n.sizes.size(); ++i) {
    if (in.needs(i)) {
      if constexpr (kRecorded<X>) out[i] = slice(g, n.dims[0], at, at + n.sizes[i]);
      else out[i] = slice(g, n.dims[0], at, at + n.sizes[i], 1);
    }
    at += n.sizes[i];
  }
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_Concatenate)

TensorPtr stack(const std::vector<TensorPtr>& ts, std::int64_t dim) {
  if (ts.empty()) throw ValueError("stack() needs at least one tensor");
  const Shape& s = ts[0]->data.shape;
  for (auto& t : ts)
    if (t->data.shape != s) throw ValueError("stack: shapes " + shape_str(s) + " and " + shape_str(t->data.shape) + " differ");
  dim = normalize_dim(dim, static_cast<std::int64_t>(s.size()) + 1);
  std::vector<Array> parts;
  for (auto& t : ts) parts.push_back(unsqueeze(t->data, dim));
  Array out = concatenate(parts, dim);
  if (!any_requires_grad(ts)) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), Op::Stack, ts);
  n->dims = {dim};
  return n;
}

// input i receives g[..., i, ...] along the new axis
template <class X, class In>
std::vector<X> backward_Stack(const TensorNode& n, const X& g, const In& in) {
  std::vector<X> out(n.parents.size());
  for (std::size_t i = 0; i < n.parents.size(); ++i)
    if (in.needs(i)) out[i] = select(g, n.dims[0], static_cast<std::int64_t>(i));
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_Stack)

// Saves (Custom): the condition, broadcast to the output's shape.
TensorPtr where(const TensorPtr& cond, const TensorPtr& a, const TensorPtr& b) {
  if (!recording({&a, &b})) return make_leaf(where(cond->data, a->data, b->data));
  Shape s = broadcast_shapes({cond->data.shape, a->data.shape, b->data.shape}, "where");
  TensorPtr c = expanded(cond, s), x = expanded(a, s), y = expanded(b, s);
  Array out = where(c->data, x->data, y->data);
  return record(std::move(out), Op::Where, {c, x, y}, {broadcast_view(c->data, s)});
}

// d/da = [cond], d/db = [not cond]; the condition takes no gradient
template <class X, class In>
std::vector<X> backward_Where(const TensorNode&, const X& g, const In& in) {
  const X cond = constant<X>(data_of(in.input(0)));
  const X zero = constant<X>(scalar_array(0, dtype_of(g)));
  std::vector<X> out(3);
  if (in.needs(1)) out[1] = where(cond, g, zero);
  if (in.needs(2)) out[2] = where(cond, zero, g);
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_Where)

}  // namespace tapegrad
