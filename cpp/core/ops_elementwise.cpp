// Elementwise tensor ops (the Unary, Binary and Compare rows of the op table):
// forward through the kernels, backward as g * the rule's local derivative
// (rules.h), fused in the sweep and recorded with TRec (Note [Recorded
// backward]). Also what every op uses to record a node.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "backward_rules.h"
#include "grad_mode.h"
#include "op_dispatch.h"
#include "trace.h"

namespace tapegrad {

// ---- recording ------------------------------------------------------------------

const char* const kIntGrad = "int64 tensors cannot require grad (only float32 and float64 tensors can)";
const char* const kIntNoGrad = "int64 tensors cannot have a .grad (only float32 and float64 tensors can)";

TensorPtr make_leaf(Array data, bool requires_grad) {
  if (requires_grad && !is_float(data.dtype)) throw TypeError(kIntGrad);
  auto n = std::make_shared<TensorNode>();
  n->data = std::move(data);
  n->requires_grad = requires_grad;
  if (Tracer* t = tracer_here()) t->on_tensor(n);
  return n;
}

// While a trace runs every op records its node (Note [Compile]): the tape
// needs the op and its arguments even where eager makes a leaf. Such a node
// does not require grad, and becomes a leaf again once the trace is read.
bool recording(std::initializer_list<const TensorPtr*> ts) {
  if (tracer_here() != nullptr) return true;
  if (!is_grad_enabled()) return false;
  for (auto t : ts)
    if ((*t)->requires_grad) return true;
  return false;
}

bool any_requires_grad(const std::vector<TensorPtr>& ts) {
  if (tracer_here() != nullptr) return true;
  if (!is_grad_enabled()) return false;
  for (auto& t : ts)
    if (t->requires_grad) return true;
  return false;
}

bool& recording_backward_flag() {
  thread_local bool on = false;
  return on;
}

TensorPtr record(Array data, Op op, std::vector<TensorPtr> parents, std::vector<Array> saved) {
  auto n = std::make_shared<TensorNode>();
  n->from_backward = recording_backward_flag();
  n->data = std::move(data);
  n->requires_grad = true;
  n->op = op;
  n->parents = std::move(parents);
  n->saved = std::move(saved);
  if (Tracer* t = tracer_here()) {
    const OpKind kind = op_info(op).kind;
    bool rg = is_grad_enabled() && kind != OpKind::Compare && kind != OpKind::Arg && is_float(n->data.dtype);
    if (rg) rg = std::any_of(n->parents.begin(), n->parents.end(), [](const TensorPtr& p) { return p->requires_grad; });
    n->requires_grad = rg;
    t->on_tensor(n);
  }
  return n;
}

// Note [Broadcast reduction]: an operand broadcast by a binary op becomes an
// explicit `expand` node, whose backward is the one sum_to. Only an operand
// that takes a gradient gets the node: a constant broadcasts implicitly and
// stays the node's parent, as itself (DESIGN.md, Note [Tensor details]).
TensorPtr expanded(const TensorPtr& t, const Shape& s) {
  return t->data.shape == s || !t->requires_grad ? t : expand(t, s);
}
Array broadcast_view(const Array& a, const Shape& s) { return a.shape == s ? a : expand(a, s); }

std::string op_string(const TensorNode& n) {
  if (n.op == Op::Function) return n.function->name();
  if (n.op != Op::PowConst) return op_name(n.op);
  char buf[64];
  std::snprintf(buf, sizeof buf, "**%g", n.k);  // C's %g spells numbers as Python's format(k, "g")
  return buf;
}

namespace {

// The values an elementwise op's backward reads (the Saves column): its
// inputs as of now (views, no copy), its output, or both.
std::vector<Array> saved_values(Op op, std::initializer_list<Array> inputs, const Array& out) {
  switch (op_info(op).saves) {
    case Saves::Input:
    case Saves::Inputs: return std::vector<Array>(inputs);
    case Saves::Output: return {out};
    case Saves::InputsOutput: {
      std::vector<Array> s(inputs);
      s.push_back(out);
      return s;
    }
    default: return {};
  }
}

}  // namespace

// ---- forward ----------------------------------------------------------------------

TensorPtr unary_op(Op op, const TensorPtr& a) {
  Array out = unary(op, a->data);
  if (!recording({&a})) return make_leaf(std::move(out));
  std::vector<Array> saved = saved_values(op, {a->data}, out);
  return record(std::move(out), op, {a}, std::move(saved));
}

TensorPtr unary_param(Op op, const TensorPtr& a, double k, double k2) {
  Array out = unary(op, a->data, k, k2);
  if (!recording({&a})) return make_leaf(std::move(out));
  std::vector<Array> saved = saved_values(op, {a->data}, out);
  TensorPtr n = record(std::move(out), op, {a}, std::move(saved));
  n->k = k;
  n->k2 = k2;
  return n;
}

TensorPtr pow_const(const TensorPtr& a, double k) { return unary_param(Op::PowConst, a, k); }

TensorPtr binary_op(Op op, const TensorPtr& a, const TensorPtr& b) {
  if (!recording({&a, &b})) return make_leaf(binary(op, a->data, b->data));
  // The saved operands are views of them as of now, not whatever the parents
  // hold at backward time (Note [Mutating data]).
  if (a->data.shape == b->data.shape) {
    Array out = binary(op, a->data, b->data);
    std::vector<Array> saved = saved_values(op, {a->data, b->data}, out);
    return record(std::move(out), op, {a, b}, std::move(saved));
  }
  Shape s = broadcast_shape(a->data.shape, b->data.shape, op_name(op));
  TensorPtr x = expanded(a, s), y = expanded(b, s);
  Array xd = broadcast_view(x->data, s), yd = broadcast_view(y->data, s);
  Array out = binary(op, xd, yd);
  std::vector<Array> saved = saved_values(op, {xd, yd}, out);
  return record(std::move(out), op, {x, y}, std::move(saved));
}

TensorPtr compare(Op op, const TensorPtr& a, const TensorPtr& b) {
  if (tracer_here() != nullptr) return record(binary(op, a->data, b->data), op, {a, b});  // a leaf once traced
  return make_leaf(binary(op, a->data, b->data));
}

TensorPtr scale(const TensorPtr& a, double c) { return mul(a, make_leaf(scalar_array(c, a->data.dtype))); }

TensorPtr div_scalar(const TensorPtr& a, double c) { return div(a, make_leaf(scalar_array(c, a->data.dtype))); }

TensorPtr exp(const TensorPtr& a) { return unary_op(Op::Exp, a); }

TensorPtr floating(const TensorPtr& a) {
  if (is_float(a->data.dtype)) return a;
  if (tracer_here() != nullptr) return record(astype(a->data, float_type(a->data.dtype)), Op::Cast, {a});  // replayed
  return make_leaf(astype(a->data, float_type(a->data.dtype)));
}

// ---- backward -------------------------------------------------------------------

namespace {

// A number of the recorded pass: a node, or a constant folded as a double
// (the rules' S(1), S(k)). Arithmetic on nodes is the ops above, so the
// rules' local derivatives become graph nodes.
class TRec {
 public:
  TRec(double c) : c_(c) {}  // NOLINT: S(1) in the rules
  explicit TRec(TensorPtr t) : t_(std::move(t)) {}
  bool is_node() const { return t_ != nullptr; }
  const TensorPtr& node() const { return t_; }
  double constant() const { return c_; }
  // a node holding this number in `like`'s dtype and shape (for where)
  TensorPtr as_node(const TensorPtr& like) const { return is_node() ? t_ : make_leaf(scalar_array(c_, like->data.dtype)); }

 private:
  TensorPtr t_;
  double c_ = 0.0;
};

TRec arith(Op op, const TRec& a, const TRec& b) {
  if (!a.is_node() && !b.is_node())
    return with_binary_rule(op, [&](auto r) { return TRec(decltype(r)::f(a.constant(), b.constant())); });
  const TensorPtr& like = a.is_node() ? a.node() : b.node();
  return TRec(binary_op(op, a.as_node(like), b.as_node(like)));
}
TRec apply(Op op, const TRec& a) {
  if (!a.is_node()) return with_unary_rule(op, [&](auto r) { return TRec(rules::forward1<decltype(r)>(a.constant(), 0.0)); });
  return TRec(unary_op(op, a.node()));
}

TRec operator+(const TRec& a, const TRec& b) { return arith(Op::Add, a, b); }
TRec operator-(const TRec& a, const TRec& b) { return arith(Op::Sub, a, b); }
TRec operator*(const TRec& a, const TRec& b) { return arith(Op::Mul, a, b); }
TRec operator/(const TRec& a, const TRec& b) { return arith(Op::Div, a, b); }
TRec operator-(const TRec& a) { return apply(Op::Neg, a); }
TRec cos(const TRec& a) { return apply(Op::Cos, a); }
TRec sin(const TRec& a) { return apply(Op::Sin, a); }
TRec log(const TRec& a) { return apply(Op::Log, a); }
TRec exp(const TRec& a) { return apply(Op::Exp, a); }
TRec erf(const TRec& a) { return apply(Op::Erf, a); }
TRec tanh_of(const TRec& a) { return apply(Op::Tanh, a); }
TRec sigmoid_of(const TRec& a) { return apply(Op::Sigmoid, a); }
TRec pow_of(const TRec& a, const TRec& b) {
  if (a.is_node() && !b.is_node()) return TRec(pow_const(a.node(), b.constant()));  // "**k"
  return arith(Op::Pow, a, b);
}
// Piecewise-constant derivatives and the rules' branches are constants of the
// recorded graph: their own derivatives are 0 almost everywhere.
TRec sign0(const TRec& s) { return TRec(make_leaf(unary_grad(Op::Abs, full(s.node()->data.shape, s.node()->data.dtype, 1.0), s.node()->data, 0.0))); }
TRec step(const TRec& s) { return TRec(make_leaf(unary_grad(Op::Relu, full(s.node()->data.shape, s.node()->data.dtype, 1.0), s.node()->data, 0.0))); }
TRec is_zero(const TRec& x) { return TRec(make_leaf(binary_scalar(Op::Eq, x.node()->data, 0.0))); }
TRec zero_base(const TRec& a, const TRec& b) {
  return TRec(make_leaf(mul(binary_scalar(Op::Eq, a.node()->data, 0.0), binary_scalar(Op::Ge, b.node()->data, 0.0))));
}
TRec gt(const TRec& x, double t) { return TRec(make_leaf(binary_scalar(Op::Gt, x.node()->data, t))); }
TRec select(const TRec& mask, const TRec& x, const TRec& y) {
  const TensorPtr& like = x.is_node() ? x.node() : y.is_node() ? y.node() : mask.node();
  return TRec(where(mask.node(), x.as_node(like), y.as_node(like)));
}

TensorPtr times(const TensorPtr& g, const TRec& local) {
  return local.is_node() ? mul(g, local.node()) : scale(g, local.constant());
}

}  // namespace

// d/da = the rule's d at the saved value (the input or the output)
template <class X, class In>
std::vector<X> unary_backward(const TensorNode& n, const X& g, const In& in) {
  const bool reads_output = op_info(n.op).saves == Saves::Output;
  if constexpr (!kRecorded<X>) {
    if (n.op == Op::Neg) return {neg(g)};
    return {unary_grad(n.op, g, reads_output ? in.output() : in.input(0), n.k, n.k2)};
  } else {
    return with_unary_rule(n.op, [&](auto r) -> std::vector<X> {
      using R = decltype(r);
      if constexpr (rules::UnaryPass<R>::value == -1) {
        return {neg(g)};
      } else if constexpr (rules::Piecewise<R>::value) {  // d is a constant of the graph: the kernel's
        const TensorPtr& s = reads_output ? in.output() : in.input(0);
        return {mul(g, make_leaf(unary_grad(n.op, scalar_array(1.0, s->data.dtype), s->data, n.k, n.k2)))};
      } else {
        TRec s(reads_output ? in.output() : in.input(0));
        return {times(g, rules::local1<R>(s, n.k, n.k2))};
      }
    });
  }
}
TG_INSTANTIATE_BACKWARD(unary_backward)
template std::vector<Array> unary_backward<Array, ArrayIn>(const TensorNode&, const Array&, const ArrayIn&);

// d/da and d/db of the rule, for the parents that take a gradient
template <class X, class In>
std::vector<X> binary_backward(const TensorNode& n, const X& g, const In& in) {
  std::vector<X> out(2);
  const Saves sv = op_info(n.op).saves;
  if constexpr (!kRecorded<X>) {
    const bool has_in = sv == Saves::Inputs || sv == Saves::InputsOutput;
    const Array& a = has_in ? in.input(0) : g;
    const Array& b = has_in ? in.input(1) : g;
    const Array& o = sv == Saves::InputsOutput ? in.output() : g;
    for (int i = 0; i < 2; ++i)
      if (in.needs(i)) out[i] = binary_grad(n.op, i, g, a, b, o);
  } else {
    with_binary_rule(n.op, [&](auto r) {
      using R = decltype(r);
      if constexpr (rules::Piecewise<R>::value) {  // d is a constant of the graph: the kernel's
        const Array& o = in.output()->data;  // a constant operand may be broadcast implicitly
        const Array a = broadcast_view(in.input(0)->data, o.shape), b = broadcast_view(in.input(1)->data, o.shape);
        const Array ones = full(o.shape, o.dtype, 1.0);
        for (int i = 0; i < 2; ++i)
          if (in.needs(i)) out[i] = mul(g, make_leaf(binary_grad(n.op, i, ones, a, b, o)));
      } else {
        rules::Pair<TRec> d = R::d(TRec(in.input(0)), TRec(in.input(1)), TRec(in.output()));
        const TRec* local[2] = {&d.da, &d.db};
        for (int i = 0; i < 2; ++i) {
          if (!in.needs(i)) continue;
          out[i] = R::kPass[i] == 1 ? g : R::kPass[i] == -1 ? neg(g) : times(g, *local[i]);
        }
      }
    });
  }
  return out;
}
TG_INSTANTIATE_BACKWARD(binary_backward)
template std::vector<Array> binary_backward<Array, ArrayIn>(const TensorNode&, const Array&, const ArrayIn&);

}  // namespace tapegrad
