// The recorded Value backward pass (tg.grad with create_graph): the same
// sweep as backward() (graph.h), where every local gradient and every
// upstream * local is built with Value ops, so that the gradients it returns
// are graph nodes that can be differentiated again, to any order.
#include <mutex>
#include <string>
#include <utility>

#include "errors.h"
#include "grad_mode.h"
#include "graph.h"
#include "op_dispatch.h"
#include "value.h"

namespace tapegrad {

namespace {

// A number of the recorded pass: a Value node (holding one reference), a
// plain constant (folded as doubles, never a node), or nothing yet.
class VRec {
 public:
  VRec() = default;
  VRec(double c) : state_(State::Constant), c_(c) {}  // NOLINT: S(1) in the rules
  static VRec node(ValueNode* n) {
    VRec r;
    r.state_ = State::Node;
    r.n_ = n;
    retain(n);
    return r;
  }
  // Takes over a reference the caller holds (a Function's recorded gradient).
  static VRec adopt(ValueNode* n) {
    VRec r;
    r.state_ = State::Node;
    r.n_ = n;
    return r;
  }
  VRec(const VRec& o) : state_(o.state_), n_(o.n_), c_(o.c_) {
    if (n_ != nullptr) retain(n_);
  }
  VRec(VRec&& o) noexcept : state_(o.state_), n_(std::exchange(o.n_, nullptr)), c_(o.c_) { o.state_ = State::Empty; }
  VRec& operator=(VRec o) noexcept {
    std::swap(state_, o.state_);
    std::swap(n_, o.n_);
    std::swap(c_, o.c_);
    return *this;
  }
  ~VRec() {
    if (n_ != nullptr) release(n_);
  }

  bool empty() const { return state_ == State::Empty; }
  bool is_node() const { return state_ == State::Node; }
  ValueNode* get() const { return n_; }
  double value() const { return is_node() ? n_->data_ : c_; }

  // The node, with the reference handed to the caller (a new leaf for a constant).
  ValueNode* release_node() {
    ValueNode* out = is_node() ? std::exchange(n_, nullptr) : nullptr;
    if (out == nullptr) {
      out = make_leaf(c_);
      retain(out);
    }
    state_ = State::Empty;
    return out;
  }

 private:
  enum class State : unsigned char { Empty, Constant, Node };
  State state_ = State::Empty;
  ValueNode* n_ = nullptr;
  double c_ = 0.0;
};

// Arithmetic on recorded numbers: constants fold, anything else is a new node.
VRec binary(Op op, const VRec& a, const VRec& b) {
  if (!a.is_node() && !b.is_node())
    return with_value_binary_rule(op, [&](auto r) { return VRec(decltype(r)::f(a.value(), b.value())); });
  if (!a.is_node()) return VRec::node(make_binary(op, a.value(), b.get()));
  if (!b.is_node()) return VRec::node(make_binary(op, a.get(), b.value()));
  return VRec::node(make_binary(op, a.get(), b.get()));
}
VRec unary(Op op, const VRec& a) {
  if (!a.is_node()) return with_value_unary_rule(op, [&](auto r) { return VRec(rules::forward1<decltype(r)>(a.value(), 0.0)); });
  return VRec::node(make_unary(op, a.get()));
}

VRec operator+(const VRec& a, const VRec& b) { return binary(Op::Add, a, b); }
VRec operator-(const VRec& a, const VRec& b) { return binary(Op::Sub, a, b); }
VRec operator*(const VRec& a, const VRec& b) { return binary(Op::Mul, a, b); }
VRec operator/(const VRec& a, const VRec& b) { return binary(Op::Div, a, b); }
VRec operator-(const VRec& a) { return unary(Op::Neg, a); }
VRec cos(const VRec& a) { return unary(Op::Cos, a); }
VRec sin(const VRec& a) { return unary(Op::Sin, a); }
VRec log(const VRec& a) { return unary(Op::Log, a); }
VRec pow_of(const VRec& a, const VRec& b) {
  if (a.is_node() && !b.is_node()) return VRec::node(make_pow_const(a.get(), b.value()));  // "**k"
  return binary(Op::Pow, a, b);
}
// Piecewise-constant derivatives and the branches of a rule are decided at
// the current values: their own derivatives are 0 almost everywhere.
VRec sign0(const VRec& s) { return rules::sign0(s.value()); }
VRec step(const VRec& s) { return rules::step(s.value()); }
VRec select(bool c, const VRec& x, const VRec& y) { return c ? x : y; }
bool is_zero(const VRec& x) { return x.value() == 0.0; }
bool zero_base(const VRec& a, const VRec& b) { return rules::zero_base(a.value(), b.value()); }

// The policy of graph.h's sweep for the recorded pass: a gradient is a VRec.
struct RecordPolicy {
  std::uint32_t& slot(ValueNode* n) const { return n->mark_; }
  std::size_t arity(const ValueNode* n) const { return static_cast<std::size_t>(n->arity()); }
  ValueNode* parent(const ValueNode* n, std::size_t i) const { return n->parent(static_cast<int>(i)); }
  // Recording references nodes, so counts only grow meanwhile: a count of 1
  // still means a single edge (and a larger one is always safe).
  bool exclusive(const ValueNode* n, std::size_t i) const { return parent(n, i)->refs() == 1; }
  VRec zero() const { return VRec(); }
  void add(VRec& sum, VRec&& share) const {
    if (share.empty()) return;  // a Function's backward gave this input none
    sum = sum.empty() ? std::move(share) : sum + share;
  }
  bool has(const VRec& g) const { return !g.empty(); }
  void prefetch(const ValueNode*) const {}
  void visit(ValueNode*, VRec&) const {}
  template <class To>
  void propagate(const ValueNode* n, const VRec& upstream, To&& to) const {
    if (n->arity() == 0) return;
    auto wrap = [](const ValueNode* m) { return VRec::node(const_cast<ValueNode*>(m)); };
    const Op op = n->op();
    if (op == Op::Function) {  // its own backward, recording
      VRec g = upstream.is_node() ? upstream : VRec::node(make_leaf(upstream.value()));
      std::vector<ValueNode*> shares = n->function_->fn->backward_recorded(g.get());
      for (std::size_t i = 0; i < shares.size(); ++i) hand_on(n, upstream, i, shares[i] ? VRec::adopt(shares[i]) : VRec(), to);
      return;
    }
    if (n->arity() == 2) {
      rules::Pair<VRec> local = with_value_binary_rule(op, [&](auto r) { return decltype(r)::d(wrap(n->parent0_), wrap(n->parent1_), wrap(n)); });
      hand_on(n, upstream, 0, upstream * local.da, to);
      hand_on(n, upstream, 1, upstream * local.db, to);
      return;
    }
    const ValueNode* s = op_info(op).saves == Saves::Output ? n : n->parent0_;
    const double k = op == Op::PowConst ? n->k_ : 0.0;
    hand_on(n, upstream, 0, upstream * with_value_unary_rule(op, [&](auto r) { return rules::local1<decltype(r)>(wrap(s), k); }), to);
  }
  template <class To>
  void hand_on(const ValueNode* n, const VRec& upstream, std::size_t i, VRec share, To& to) const {
    if (is_anomaly_enabled() && !share.empty() && share.value() != share.value() && upstream.value() == upstream.value())
      throw RuntimeError("detect_anomaly: the backward of op '" + op_string(n) + "'" +
                         (n->has_label() ? " (" + label(n) + ")" : "") + " produced nan values in the gradient of its input " +
                         std::to_string(i));
    to(i, std::move(share));
  }
};

}  // namespace

std::mutex& value_pass_mutex();  // value.cpp: one backward pass at a time

std::vector<ValueNode*> recorded_gradients(ValueNode* root, const std::vector<ValueNode*>& inputs, double seed,
                                           ValueNode* seed_node) {
  std::lock_guard<std::mutex> lock(value_pass_mutex());
  Backprop<ValueNode, VRec> pass;
  RecordPolicy policy;
  pass.run(root, seed_node != nullptr ? VRec::node(seed_node) : VRec(seed), policy);
  std::vector<VRec> grads;
  grads.reserve(inputs.size());
  for (const ValueNode* x : inputs) {
    VRec g = pass.reached(x, policy) ? pass.gradient(x, policy) : VRec();
    grads.push_back(g.empty() ? VRec(0.0) : std::move(g));
  }
  // Every node below a result that the sweep did not reach was made by it
  // (its rules', or a Function's backward's): marked for tg.viz.
  std::vector<ValueNode*> stack;
  for (VRec& g : grads)
    if (g.is_node()) stack.push_back(g.get());
  while (!stack.empty()) {
    ValueNode* n = stack.back();
    stack.pop_back();
    if (pass.reached(n, policy) || from_backward(n)) continue;
    mark_from_backward(n);
    for (int i = 0; i < n->arity(); ++i) stack.push_back(n->parent(i));
  }
  pass = Backprop<ValueNode, VRec>();  // drop its references before handing ours over
  std::vector<ValueNode*> out;
  out.reserve(grads.size());
  for (VRec& g : grads) out.push_back(g.release_node());
  return out;
}

}  // namespace tapegrad
