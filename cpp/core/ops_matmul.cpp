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

}  // namespace tapegrad
