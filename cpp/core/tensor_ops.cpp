// Tensor ops: each forward records what its backward rule needs; the rules
// (backward_rule, below, in the same order) are written with the kernels.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "broadcast.h"
#include "grad_mode.h"
#include "kernels.h"
#include "tensor_node.h"

namespace tapegrad {

TensorPtr make_leaf(Array data, bool requires_grad) {
  auto n = std::make_shared<TensorNode>();
  n->data = std::move(data);
  n->requires_grad = requires_grad;
  return n;
}

namespace {

bool recording(std::initializer_list<const TensorPtr*> ps) {
  if (!is_grad_enabled()) return false;
  for (auto p : ps) if ((*p)->requires_grad) return true;
  return false;
}

TensorPtr record(Array data, TOp op, std::vector<TensorPtr> parents, std::vector<Array> saved = {}) {
  auto n = std::make_shared<TensorNode>();
  n->data = std::move(data);
  n->requires_grad = true;
  n->op = op;
  n->parents = std::move(parents);
  n->saved = std::move(saved);
  return n;
}

// Note [Broadcast reduction]: an operand broadcast by a binary op becomes an
// explicit `expand` node, whose backward is the one sum_to.
TensorPtr expanded(const TensorPtr& t, const Shape& s) { return t->data.shape == s ? t : expand(t, s); }

TensorPtr binary_node(TOp op, BinaryKind k, const TensorPtr& a, const TensorPtr& b) {
  if (!recording({&a, &b})) return make_leaf(binary(k, a->data, b->data));
  // mul/div/pow keep their operands as of now (views: no copy), not whatever
  // the parents hold at backward time (Note [Mutating data])
  const bool keep = op == TOp::Mul || op == TOp::Div || op == TOp::Pow;
  if (a->data.shape == b->data.shape)
    return record(binary(k, a->data, b->data), op, {a, b}, keep ? std::vector<Array>{a->data, b->data} : std::vector<Array>{});
  Shape s = broadcast_shape(a->data.shape, b->data.shape);
  TensorPtr x = expanded(a, s), y = expanded(b, s);
  Array out = binary(k, x->data, y->data);
  return record(std::move(out), op, {x, y}, keep ? std::vector<Array>{x->data, y->data} : std::vector<Array>{});
}

UnaryKind unary_kind(TOp op) {
  switch (op) {
    case TOp::Abs: return UnaryKind::Abs;
    case TOp::Relu: return UnaryKind::Relu;
    case TOp::Tanh: return UnaryKind::Tanh;
    case TOp::Sigmoid: return UnaryKind::Sigmoid;
    case TOp::Exp: return UnaryKind::Exp;
    case TOp::Log: return UnaryKind::Log;
    case TOp::Sqrt: return UnaryKind::Sqrt;
    case TOp::Sin: return UnaryKind::Sin;
    case TOp::Cos: return UnaryKind::Cos;
    default: throw RuntimeError("not a unary op");
  }
}

// Whether the backward rule of a unary op reads its output (else its input).
bool uses_output(TOp op) {
  return op == TOp::Relu || op == TOp::Tanh || op == TOp::Sigmoid || op == TOp::Exp || op == TOp::Sqrt;
}

}  // namespace

std::string op_string(const TensorNode& n) {
  switch (n.op) {
    case TOp::Leaf: return "";
    case TOp::Add: return "+";
    case TOp::Sub: return "-";
    case TOp::Mul: return "*";
    case TOp::Div: return "/";
    case TOp::Neg: return "neg";
    case TOp::PowConst: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "**%g", n.k);  // C's %g spells numbers as Python's format(k, "g")
      return buf;
    }
    case TOp::Pow: return "**";
    case TOp::Abs: return "abs";
    case TOp::Relu: return "relu";
    case TOp::Tanh: return "tanh";
    case TOp::Sigmoid: return "sigmoid";
    case TOp::Exp: return "exp";
    case TOp::Log: return "log";
    case TOp::Sqrt: return "sqrt";
    case TOp::Sin: return "sin";
    case TOp::Cos: return "cos";
    case TOp::MatMul: return "@";
    case TOp::Sum: return "sum";
    case TOp::Mean: return "mean";
    case TOp::Max: return "max";
    case TOp::Min: return "min";
    case TOp::Reshape: return "reshape";
    case TOp::Transpose: return "transpose";
    case TOp::Permute: return "permute";
    case TOp::Expand: return "expand";
    case TOp::GetItem: return "getitem";
    case TOp::Softmax: return "softmax";
    case TOp::LogSoftmax: return "log_softmax";
    case TOp::Concatenate: return "concatenate";
    case TOp::Stack: return "stack";
    case TOp::Where: return "where";
    case TOp::CrossEntropy: return "cross_entropy";
    case TOp::MseLoss: return "mse_loss";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Binary and unary elementwise

TensorPtr add(const TensorPtr& a, const TensorPtr& b) { return binary_node(TOp::Add, BinaryKind::Add, a, b); }
TensorPtr sub(const TensorPtr& a, const TensorPtr& b) { return binary_node(TOp::Sub, BinaryKind::Sub, a, b); }
TensorPtr mul(const TensorPtr& a, const TensorPtr& b) { return binary_node(TOp::Mul, BinaryKind::Mul, a, b); }
TensorPtr div(const TensorPtr& a, const TensorPtr& b) { return binary_node(TOp::Div, BinaryKind::Div, a, b); }

TensorPtr pow(const TensorPtr& a, const TensorPtr& b) {
  return binary_node(TOp::Pow, BinaryKind::Pow, a, b);
}

TensorPtr pow_const(const TensorPtr& a, double k) {
  // NumPy (and PyTorch) compute a ** 2 as a square and a ** 0.5 as a square
  // root; the root differs from pow() at -inf (nan, not inf), so follow them.
  Array out = k == 2.0   ? unary(UnaryKind::Square, a->data)
              : k == 0.5 ? unary(UnaryKind::Sqrt, a->data)
                         : binary_scalar(BinaryKind::Pow, a->data, k);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::PowConst, {a}, {a->data});
  n->k = k;
  return n;
}

TensorPtr neg(const TensorPtr& a) {
  Array out = unary(UnaryKind::Neg, a->data);
  if (!recording({&a})) return make_leaf(std::move(out));
  return record(std::move(out), TOp::Neg, {a});
}

TensorPtr unary_op(TOp op, const TensorPtr& a) {
  Array out = unary(unary_kind(op), a->data);
  if (!recording({&a})) return make_leaf(std::move(out));
  Array s = uses_output(op) ? out : a->data;
  return record(std::move(out), op, {a}, {s});
}

TensorPtr compare(int kind, const TensorPtr& a, const TensorPtr& b) {
  return make_leaf(binary(static_cast<BinaryKind>(kind), a->data, b->data));
}

// ---------------------------------------------------------------------------
// Matmul and reductions

TensorPtr matmul(const TensorPtr& a, const TensorPtr& b) {
  Array out = tapegrad::matmul(a->data, b->data);
  if (!recording({&a, &b})) return make_leaf(std::move(out));
  return record(std::move(out), TOp::MatMul, {a, b}, {a->data, b->data});  // operands as of now
}

TensorPtr reduce_op(TOp op, const TensorPtr& a, const std::vector<std::int64_t>& dims0, bool all_dims, bool keepdim) {
  std::vector<std::int64_t> dims;
  if (all_dims) for (std::int64_t i = 0; i < a->data.ndim(); ++i) dims.push_back(i);
  else dims = normalize_dims(dims0, a->data.ndim());
  ReduceKind k = op == TOp::Max ? ReduceKind::Max : op == TOp::Min ? ReduceKind::Min : ReduceKind::Sum;
  Array m = reduce(k, a->data, dims, true);
  std::int64_t count = 1;
  for (auto d : dims) count *= a->data.shape[d];
  if (op == TOp::Mean) m = binary_scalar(BinaryKind::Mul, m, count ? 1.0 / static_cast<double>(count) : std::nan(""));
  Shape out_shape;
  for (std::int64_t i = 0; i < a->data.ndim(); ++i) {
    bool reduced = std::find(dims.begin(), dims.end(), i) != dims.end();
    if (!reduced) out_shape.push_back(a->data.shape[i]);
    else if (keepdim) out_shape.push_back(1);
  }
  Array out = tapegrad::reshape(m, out_shape);
  if (!recording({&a})) return make_leaf(std::move(out));
  std::vector<Array> saved;
  if (op == TOp::Max || op == TOp::Min) saved = {a->data, m};
  TensorPtr n = record(std::move(out), op, {a}, std::move(saved));
  n->ints = dims;
  n->keepdim = keepdim;
  return n;
}

// ---------------------------------------------------------------------------
// Movement

TensorPtr reshape(const TensorPtr& a, const Shape& shape) {
  Array out = tapegrad::reshape(a->data, shape);
  if (!recording({&a})) return make_leaf(std::move(out));
  return record(std::move(out), TOp::Reshape, {a});
}

TensorPtr transpose(const TensorPtr& a, std::int64_t d0, std::int64_t d1) {
  Array out = tapegrad::transpose(a->data, d0, d1);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::Transpose, {a});
  std::vector<std::int64_t> perm(a->data.shape.size());
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<std::int64_t>(i);
  if (!perm.empty()) std::swap(perm[normalize_dim(d0, a->data.ndim())], perm[normalize_dim(d1, a->data.ndim())]);
  n->ints = perm;
  return n;
}

TensorPtr permute(const TensorPtr& a, const std::vector<std::int64_t>& dims) {
  Array out = tapegrad::permute(a->data, dims);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::Permute, {a});
  for (auto d : dims) n->ints.push_back(a->data.ndim() ? normalize_dim(d, a->data.ndim()) : 0);
  if (a->data.ndim() == 0) n->ints.clear();
  return n;
}

TensorPtr expand(const TensorPtr& a, const Shape& shape) {
  Array out = tapegrad::expand(a->data, shape);
  if (!recording({&a})) return make_leaf(std::move(out));
  return record(std::move(out), TOp::Expand, {a});
}

TensorPtr getitem(const TensorPtr& a, const std::vector<IndexItem>& items) {
  auto plan = std::make_shared<IndexPlan>(plan_index(a->data.shape, items));
  Array out = apply_index(a->data, items, *plan);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::GetItem, {a});
  n->plan = std::move(plan);
  return n;
}

// ---------------------------------------------------------------------------
// Softmax family, joining and selecting, losses

TensorPtr softmax(const TensorPtr& a, std::int64_t dim) {
  Array out = tapegrad::softmax(a->data, dim);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(out, TOp::Softmax, {a}, {out});
  n->ints = {a->data.ndim() ? normalize_dim(dim, a->data.ndim()) : 0};
  return n;
}

TensorPtr log_softmax(const TensorPtr& a, std::int64_t dim) {
  Array out = tapegrad::log_softmax(a->data, dim);
  if (!recording({&a})) return make_leaf(std::move(out));
  TensorPtr n = record(out, TOp::LogSoftmax, {a}, {out});
  n->ints = {a->data.ndim() ? normalize_dim(dim, a->data.ndim()) : 0};
  return n;
}

namespace {
bool any_requires(const std::vector<TensorPtr>& ts) {
  if (!is_grad_enabled()) return false;
  for (auto& t : ts) if (t->requires_grad) return true;
  return false;
}
}  // namespace

TensorPtr concatenate(const std::vector<TensorPtr>& ts, std::int64_t dim) {
  std::vector<Array> parts;
  for (auto& t : ts) parts.push_back(t->data);
  Array out = tapegrad::concatenate(parts, dim);
  if (!any_requires(ts)) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::Concatenate, ts);
  n->ints = {normalize_dim(dim, parts[0].ndim())};
  for (auto& p : parts) n->ints.push_back(p.shape[n->ints[0]]);
  return n;
}

TensorPtr stack(const std::vector<TensorPtr>& ts, std::int64_t dim) {
  if (ts.empty()) throw ValueError("need at least one tensor to stack");
  const Shape& s = ts[0]->data.shape;
  for (auto& t : ts)
    if (t->data.shape != s) throw ValueError("stack expects tensors of one shape, got " + shape_str(s) + " and " + shape_str(t->data.shape));
  dim = normalize_dim(dim, static_cast<std::int64_t>(s.size()) + 1);
  std::vector<Array> parts;
  for (auto& t : ts) parts.push_back(unsqueeze(t->data, dim));
  Array out = tapegrad::concatenate(parts, dim);
  if (!any_requires(ts)) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::Stack, ts);
  n->ints = {dim};
  return n;
}

TensorPtr where(const TensorPtr& cond, const TensorPtr& a, const TensorPtr& b) {
  if (!recording({&a, &b})) return make_leaf(tapegrad::where(cond->data, a->data, b->data));
  Shape s = broadcast_shape(broadcast_shape(cond->data.shape, a->data.shape), b->data.shape);
  TensorPtr c = expanded(cond, s), x = expanded(a, s), y = expanded(b, s);
  Array out = tapegrad::where(c->data, x->data, y->data);
  return record(std::move(out), TOp::Where, {c, x, y}, {c->data});
}

TensorPtr cross_entropy(const TensorPtr& logits, const std::vector<std::int64_t>& labels) {
  Array probs;
  Array out = tapegrad::cross_entropy(logits->data, labels, probs);
  if (!recording({&logits})) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), TOp::CrossEntropy, {logits}, {probs});
  n->ints = labels;
  return n;
}

TensorPtr mse_loss(const TensorPtr& pred, const TensorPtr& target) {
  Shape s = broadcast_shape(pred->data.shape, target->data.shape);
  bool rec = recording({&pred, &target});
  TensorPtr p = rec ? expanded(pred, s) : pred, t = rec ? expanded(target, s) : target;
  Array diff = binary(BinaryKind::Sub, p->data, t->data);
  Array sq = unary(UnaryKind::Square, diff);
  std::int64_t n = diff.numel();
  std::vector<std::int64_t> all;
  for (std::int64_t i = 0; i < diff.ndim(); ++i) all.push_back(i);
  Array out = binary_scalar(BinaryKind::Mul, reduce(ReduceKind::Sum, sq, all, false), n ? 1.0 / static_cast<double>(n) : std::nan(""));
  if (!rec) return make_leaf(std::move(out));
  return record(std::move(out), TOp::MseLoss, {p, t}, {diff});
}

// ---------------------------------------------------------------------------
// Backward rules, one per op, in op-table order.

namespace {
Array mul(const Array& a, const Array& b) { return binary(BinaryKind::Mul, a, b); }
Array keepdim_shape(const Array& g, const Shape& in, const std::vector<std::int64_t>& dims) {
  Shape s = in;
  for (auto d : dims) s[d] = 1;
  return tapegrad::reshape(g, s);
}
}  // namespace

std::vector<Array> backward_rule(const TensorNode& n, const Array& g) {
  const auto& S = n.saved;
  // mul/div/pow and matmul read the operands they saved at forward time
  const bool operands = n.op == TOp::Mul || n.op == TOp::Div || n.op == TOp::Pow || n.op == TOp::MatMul;
  const Array& A = operands ? S[0] : g;
  const Array& B = operands ? S[1] : g;
  const Shape& in0 = n.parents.empty() ? Shape{} : n.parents[0]->data.shape;
  switch (n.op) {
    case TOp::Leaf: return {};
    case TOp::Add: return {g, g};  // d(a+b)/da = 1, d(a+b)/db = 1
    case TOp::Sub: return {g, unary(UnaryKind::Neg, g)};  // d(a-b)/da = 1, d(a-b)/db = -1
    case TOp::Mul: return {mul(g, B), mul(g, A)};  // d(ab)/da = b, d(ab)/db = a
    case TOp::Div:  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
      return {binary(BinaryKind::Div, g, B),
              binary(BinaryKind::Div, mul(unary(UnaryKind::Neg, g), A), unary(UnaryKind::Square, B))};
    case TOp::Neg: return {unary(UnaryKind::Neg, g)};  // d(-a)/da = -1
    case TOp::PowConst:  // d(a^k)/da = k a^(k-1); a^0 is constant: 0 even at a = 0
      if (n.k == 0) return {zeros(g.shape, g.dtype)};
      return {mul(g, binary_scalar(BinaryKind::Mul, binary_scalar(BinaryKind::Pow, S[0], n.k - 1), n.k))};
    case TOp::Pow:  // d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)
      return {mul(g, binary(BinaryKind::PowGradBase, A, B)), mul(g, binary(BinaryKind::PowGradExp, A, B))};
    case TOp::Abs: return {mul(g, unary(UnaryKind::Sign, S[0]))};           // d|a|/da = sign(a)
    case TOp::Relu: return {binary(BinaryKind::ReluGrad, g, S[0])};         // 1 if a > 0 else 0
    case TOp::Tanh: return {binary(BinaryKind::TanhGrad, g, S[0])};         // d tanh(a)/da = 1 - tanh(a)^2
    case TOp::Sigmoid: return {binary(BinaryKind::SigmoidGrad, g, S[0])};   // d s(a)/da = s (1 - s)
    case TOp::Exp: return {mul(g, S[0])};                                   // d exp(a)/da = exp(a)
    case TOp::Log: return {binary(BinaryKind::Div, g, S[0])};               // d log(a)/da = 1/a
    case TOp::Sqrt:  // d sqrt(a)/da = 1 / (2 sqrt(a))
      return {binary(BinaryKind::Div, g, binary_scalar(BinaryKind::Mul, S[0], 2))};
    case TOp::Sin: return {mul(g, unary(UnaryKind::Cos, S[0]))};            // d sin(a)/da = cos(a)
    case TOp::Cos: return {mul(unary(UnaryKind::Neg, g), unary(UnaryKind::Sin, S[0]))};  // -sin(a)
    case TOp::MatMul: {  // d(AB)/dA = G B^T, d(AB)/dB = A^T G, batch dims summed back
      const Array& a = A;
      const Array& b = B;
      Array a2 = a.ndim() == 1 ? unsqueeze(a, 0) : a;
      Array b2 = b.ndim() == 1 ? unsqueeze(b, 1) : b;
      Shape batch = broadcast_shape(Shape(a2.shape.begin(), a2.shape.end() - 2), Shape(b2.shape.begin(), b2.shape.end() - 2));
      Shape gs = batch;
      gs.push_back(a2.shape[a2.ndim() - 2]);
      gs.push_back(b2.shape.back());
      Array g2 = tapegrad::reshape(g, gs);
      std::vector<Array> out(2);  // only the products a parent needs: they dominate the cost
      if (n.parents[0]->requires_grad)
        out[0] = tapegrad::reshape(sum_to(tapegrad::matmul(g2, tapegrad::transpose(b2, -1, -2)), a2.shape), a.shape);
      if (n.parents[1]->requires_grad)
        out[1] = tapegrad::reshape(sum_to(tapegrad::matmul(tapegrad::transpose(a2, -1, -2), g2), b2.shape), b.shape);
      return out;
    }
    case TOp::Sum:  // d sum(a)/da_i = 1: g copied to every summed element
      return {tapegrad::expand(keepdim_shape(g, in0, n.ints), in0)};
    case TOp::Mean: {  // d mean(a)/da_i = 1/n
      std::int64_t count = 1;
      for (auto d : n.ints) count *= in0[d];
      return {tapegrad::expand(binary_scalar(BinaryKind::Div, keepdim_shape(g, in0, n.ints), static_cast<double>(count)), in0)};
    }
    case TOp::Max:
    case TOp::Min:  // d max(a)/da_i = [a_i = max] / #ties
      return {mul(keepdim_shape(g, in0, n.ints), tie_share(S[0], S[1], n.ints))};
    case TOp::Reshape: return {tapegrad::reshape(g, in0)};  // moves no values
    case TOp::Transpose:
    case TOp::Permute: {  // apply the inverse permutation
      std::vector<std::int64_t> inv(n.ints.size());
      for (std::size_t i = 0; i < n.ints.size(); ++i) inv[n.ints[i]] = static_cast<std::int64_t>(i);
      return {tapegrad::permute(g, inv)};
    }
    case TOp::Expand: return {sum_to(g, in0)};  // each element was copied: sum its copies
    case TOp::GetItem: {  // scatter g back; repeated indices add up
      Array out = zeros(in0, g.dtype);
      const IndexPlan& p = *n.plan;
      if (p.is_view) add_into(Array{out.storage, out.dtype, p.out_shape, p.view_strides, p.view_offset}, g);
      else scatter_add(out, p.flat, g);
      return {out};
    }
    case TOp::Softmax: {  // ds_i/da_j = s_i (δij - s_j)  =>  s * (g - Σ g s)
      Array gs = reduce(ReduceKind::Sum, mul(g, S[0]), n.ints, true);
      return {mul(S[0], binary(BinaryKind::Sub, g, gs))};
    }
    case TOp::LogSoftmax: {  // d log s_i/da_j = δij - s_j  =>  g - s Σ g
      Array gsum = reduce(ReduceKind::Sum, g, n.ints, true);
      return {binary(BinaryKind::Sub, g, mul(unary(UnaryKind::Exp, S[0]), gsum))};
    }
    case TOp::Concatenate: {  // each input receives its own slice of g
      std::vector<Array> out;
      std::int64_t at = 0;
      for (std::size_t i = 1; i < n.ints.size(); ++i) {
        out.push_back(slice(g, n.ints[0], at, at + n.ints[i], 1));
        at += n.ints[i];
      }
      return out;
    }
    case TOp::Stack: {  // input i receives g[..., i, ...] along the new axis
      std::vector<Array> out;
      for (std::size_t i = 0; i < n.parents.size(); ++i) out.push_back(select(g, n.ints[0], static_cast<std::int64_t>(i)));
      return out;
    }
    case TOp::Where: {  // d/da = [cond], d/db = [not cond]
      Array zero = scalar_array(0, g.dtype);
      return {Array{}, tapegrad::where(S[0], g, zero), tapegrad::where(S[0], zero, g)};
    }
    case TOp::CrossEntropy: {  // dL/dz = (softmax(z) - onehot(label)) / N
      Array d = copy(S[0]);
      const std::int64_t rows = d.shape[0], c = d.shape[1];
      for (std::int64_t i = 0; i < rows; ++i) {
        std::int64_t l = n.ints[i] < 0 ? n.ints[i] + c : n.ints[i];
        if (d.dtype == DType::F32) d.data<float>()[i * c + l] -= 1.0f;
        else d.data<double>()[i * c + l] -= 1.0;
      }
      return {mul(d, binary_scalar(BinaryKind::Div, g, static_cast<double>(rows)))};
    }
    case TOp::MseLoss: {  // dL/dpred = 2 (pred - target) / n, dL/dtarget = -that
      std::int64_t count = std::max<std::int64_t>(S[0].numel(), 1);
      Array d = mul(S[0], binary_scalar(BinaryKind::Mul, g, 2.0 / static_cast<double>(count)));
      return {d, unary(UnaryKind::Neg, d)};
    }
  }
  return {};
}

}  // namespace tapegrad
