// The scalar graph engine: node construction, lifetime and backpropagation.
#include "value.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <mutex>
#include <unordered_map>

#include "chain_mul.h"
#include "errors.h"
#include "grad_mode.h"
#include "graph.h"
#include "node_pool.h"
#include "op_dispatch.h"
#include "trace.h"

namespace tapegrad {

namespace {

using Pool = NodePool<alignof(ValueSlot)>;  // Note [Node arena], Note [Host room]

// Never destroyed: Python objects may outlive static destructors at exit.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

// Labels live beside the nodes (Note [Value node layout]): most nodes have
// none, and the has-label bit (which means "has an entry here") spares the
// lookup for them. The entry also marks the nodes a recorded backward pass
// made (tg.viz draws them as such).
struct Extra {
  std::string label;
  bool from_backward = false;
};
using LabelTable = std::unordered_map<const ValueNode*, Extra>;
LabelTable& labels() {
  static LabelTable* t = new LabelTable();
  return *t;
}

void free_label(ValueNode* n) noexcept {
  if (n->has_label()) {
    labels().erase(n);
    n->set_meta(n->meta() & ~ValueNode::kLabelBit);
  }
}

// The rules of rules.h for a Value op known at run time.
double unary_forward(Op op, double a, double k) {
  return with_value_unary_rule(op, [&](auto r) { return rules::forward1<decltype(r)>(a, k); });
}
double binary_forward(Op op, double a, double b) {
  return with_value_binary_rule(op, [&](auto r) { return decltype(r)::f(a, b); });
}

// A node of op `op`, with a room for its Python object if asked (Note [Host room]).
ValueNode* fresh(double data, Op op, bool room = false) {
  ValueNode* n;
  std::uint32_t meta = static_cast<std::uint32_t>(op) << ValueNode::kRefBits;
  if (room) {
    auto* slot = static_cast<ValueSlot*>(pool().allocate(sizeof(ValueSlot)));
    std::memset(slot->host, 0, kHostRoom);
    n = &slot->node;
    meta |= ValueNode::kRoomBit;
  } else {
    n = static_cast<ValueNode*>(pool().allocate(sizeof(ValueNode)));
  }
  n->data_ = data;
  n->grad_ = 0.0;
  n->parent0_ = nullptr;
  n->parent1_ = nullptr;
  n->handle_ = nullptr;
  n->mark_ = 0;
  n->set_meta(meta);
  return n;
}

static_assert(sizeof(ValueNode) % alignof(ValueSlot) == 0, "both block sizes keep the arena's alignment");

}  // namespace

// ---- lifetime -----------------------------------------------------------------

void destroy(ValueNode* n) noexcept {
  // Worklist of dead nodes threaded through handle_ (a dead node has no
  // Python object: that object would hold a reference).
  n->handle_ = nullptr;
  ValueNode* dead = n;
  while (dead != nullptr) {
    ValueNode* d = dead;
    dead = static_cast<ValueNode*>(d->handle_);
    int arity = d->arity();
    for (int i = 0; i < arity; ++i) {
      constexpr int ahead = static_cast<int>(kAhead);
      if (i + ahead < arity) __builtin_prefetch(d->parent(i + ahead), 1);  // a compiled result's 10^5 inputs
      ValueNode* p = d->parent(i);
      std::uint32_t refs = p->refs();
      if (refs == ValueNode::kRefMax) continue;  // sticky: never freed
      p->set_meta(p->meta() - 1);
      if (refs == 1) {
        p->handle_ = dead;
        dead = p;
      }
    }
    free_label(d);
    if (d->op() == Op::Function) delete d->function_;
    pool().deallocate(d);
  }
}

// ---- construction -----------------------------------------------------------

// While a trace runs (trace.h) every node is logged with its op and operands,
// whether or not it records a graph; otherwise this costs one load and a branch.

namespace {

// A leaf, logged by a running trace; with a room for its Python object or
// without (a number operand's constant: Note [Host room]).
ValueNode* leaf(double data, bool room) {
  ValueNode* n = fresh(data, Op::Leaf, room);
  if (Tracer* t = tracer_here()) t->on_value_leaf(n);
  return n;
}

ValueNode* make_constant(double data) { return leaf(data, false); }

constexpr std::size_t kOpWithConstant = 2 * sizeof(ValueNode);

}  // namespace

ValueNode* make_leaf(double data) { return leaf(data, true); }

ValueNode* make_unary(Op op, ValueNode* a) {
  double out = unary_forward(op, a->data_, 0.0);
  ValueNode* n;
  if (!is_grad_enabled()) {
    n = fresh(out, Op::Leaf);
  } else {
    n = fresh(out, op);
    n->parent0_ = a;
    retain(a);
  }
  if (Tracer* t = tracer_here()) t->on_value_op(n, op, a, nullptr);
  return n;
}

ValueNode* make_pow_const(ValueNode* a, double k) {
  double out = rules::PowConst::f(a->data_, k);
  ValueNode* n;
  if (!is_grad_enabled()) {
    n = fresh(out, Op::Leaf);
  } else {
    n = fresh(out, Op::PowConst);
    n->parent0_ = a;
    n->k_ = k;
    retain(a);
  }
  if (Tracer* t = tracer_here()) t->on_value_pow(n, a, k);
  return n;
}

ValueNode* make_binary(Op op, ValueNode* a, ValueNode* b) {
  double out = binary_forward(op, a->data_, b->data_);
  ValueNode* n;
  if (!is_grad_enabled()) {
    n = fresh(out, Op::Leaf);
  } else {
    n = fresh(out, op);
    n->parent0_ = a;
    n->parent1_ = b;
    retain(a);
    retain(b);
  }
  if (Tracer* t = tracer_here()) t->on_value_op(n, op, a, b);
  return n;
}

ValueNode* make_function(double data, const std::vector<ValueNode*>& inputs, std::shared_ptr<ValueFunction> fn) {
  if (!is_grad_enabled() || inputs.empty()) return make_leaf(data);
  auto* record = new ValueFunctionNode{inputs, std::move(fn)};
  ValueNode* n;
  try {
    n = fresh(data, Op::Function);
  } catch (...) {
    delete record;
    throw;
  }
  n->parent0_ = inputs[0];
  n->function_ = record;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i + kAhead < inputs.size()) __builtin_prefetch(inputs[i + kAhead], 1);  // inputs spread over memory
    retain(inputs[i]);
  }
  if (Tracer* t = tracer_here()) t->on_value_function(n);
  return n;
}

// A number operand becomes a constant leaf; a trace logs the leaf too, so the
// number is an operand of the op (and an input, if it is a tracked number).
ValueNode* make_binary(Op op, ValueNode* a, double b) {
  if (!is_grad_enabled() && !tracing()) return fresh(binary_forward(op, a->data_, b), Op::Leaf);
  pool().reserve(kOpWithConstant);  // the constant and the result: neither allocation can throw now
  return make_binary(op, a, make_constant(b));
}

ValueNode* make_binary(Op op, double a, ValueNode* b) {
  if (!is_grad_enabled() && !tracing()) return fresh(binary_forward(op, a, b->data_), Op::Leaf);
  pool().reserve(kOpWithConstant);
  return make_binary(op, make_constant(a), b);
}

// ---- attributes --------------------------------------------------------------

std::string op_string(const ValueNode* n) {
  if (n->op() == Op::Function) return n->function_->fn->name();
  if (n->op() != Op::PowConst) return op_name(n->op());
  // Python's format(k, "g"), which is C's %g (inf, nan and -0 included).
  char buf[32];
  std::snprintf(buf, sizeof buf, "**%g", n->k_);
  return buf;
}

const std::string& label(const ValueNode* n) {
  static const std::string* empty = new std::string();
  return n->has_label() ? labels().at(n).label : *empty;
}

void set_label(ValueNode* n, const std::string& text) {
  if (text.empty() && !from_backward(n)) {
    free_label(n);
    return;
  }
  labels()[n].label = text;
  n->set_meta(n->meta() | ValueNode::kLabelBit);
}

bool from_backward(const ValueNode* n) { return n->has_label() && labels().at(n).from_backward; }

void mark_from_backward(ValueNode* n) {
  labels()[n].from_backward = true;
  n->set_meta(n->meta() | ValueNode::kLabelBit);
}

namespace {

// The local gradients of node n's op at the forward values (rules.h): a
// unary rule reads the input or the output, as the op table says, and "**k"
// its exponent. Inlined into the sweep, one switch per node.
TG_ALWAYS_INLINE double unary_local(const ValueNode* n, Op op) {
  const double s = (kValueOps[static_cast<std::size_t>(op)].reads_output ? n : n->parent0_)->data_;
  const double k = op == Op::PowConst ? n->k_ : 0.0;
  return with_value_unary_rule(op, [&](auto r) { return rules::local1<decltype(r)>(s, k); });
}

TG_ALWAYS_INLINE rules::Pair<double> binary_local(const ValueNode* n, Op op) {
  return with_value_binary_rule(op, [&](auto r) { return decltype(r)::d(n->parent0_->data_, n->parent1_->data_, n->data_); });
}

rules::Pair<double> local_values(const ValueNode* n) {
  if (n->arity() == 2) return binary_local(n, n->op());
  return {unary_local(n, n->op()), 0.0};
}

}  // namespace

std::vector<double> local_grads(const ValueNode* n) {
  if (n->op() == Op::Function) return n->function_->fn->backward(1.0);  // its vector-Jacobian product of 1
  std::vector<double> out;
  if (n->arity() == 0) return out;
  rules::Pair<double> g = local_values(n);
  out.push_back(g.da);
  if (n->arity() == 2) out.push_back(g.db);
  return out;
}

// ---- backpropagation -------------------------------------------------------------

namespace {

// Note [Prefetch] in graph.h: the node soon taken, and its parents, whose
// counts and slots the step reads (written to: the step updates them).
inline void prefetch_node(const ValueNode* n) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(n, 1);
  if (n->parent0_ != nullptr) __builtin_prefetch(n->parent0_, 1);
  if (n->op() != Op::Function && op_arity(n->op()) == 2) __builtin_prefetch(n->parent1_, 1);
#else
  (void)n;
#endif
}

// The Value engine's policy for the shared sweep (graph.h, Note [Backward
// pass]): a gradient is a double, a node's slot is mark_, and "exclusive" is
// a reference count of 1. With kAccumulate each node's complete gradient is
// also added to its grad_ (backward()); without, grad_ is left alone
// (tg.grad). Products go through chain_mul (Note [Subnormal products]). With
// kAnomaly every share is checked for a NaN the rule made (detect_anomaly).
template <bool kAccumulate, bool kAnomaly>
struct ValuePolicy {
  std::uint32_t& slot(ValueNode* n) const { return n->mark_; }
  std::size_t arity(const ValueNode* n) const { return static_cast<std::size_t>(n->arity()); }
  ValueNode* parent(const ValueNode* n, std::size_t i) const { return n->parent(static_cast<int>(i)); }
  bool exclusive(const ValueNode* n, std::size_t i) const { return parent(n, i)->refs() == 1; }
  double zero() const { return 0.0; }
  void add(double& sum, double share) const { sum += share; }
  bool has(double) const { return true; }  // 0 * inf must still give nan: zeros are not skipped
  void prefetch(const ValueNode* n) const { prefetch_node(n); }
  void visit(ValueNode* n, double g) const {
    if (kAccumulate) n->grad_ += g;
  }
  template <class To>
  TG_ALWAYS_INLINE void propagate(const ValueNode* n, double upstream, To&& to) const {
    const Op op = n->op();
    switch (kValueOps[static_cast<std::size_t>(op)].arity) {
      case 0:
        return;
      case 1:
        hand_on(n, upstream, 0, rules::chain_mul(upstream, unary_local(n, op)), to);
        return;
      case 2: {
        const rules::Pair<double> local = binary_local(n, op);
        hand_on(n, upstream, 0, rules::chain_mul(upstream, local.da), to);
        hand_on(n, upstream, 1, rules::chain_mul(upstream, local.db), to);
        return;
      }
      default: {  // a Function: its own vector-Jacobian product
        std::vector<double> shares = n->function_->fn->backward(upstream);
        for (std::size_t i = 0; i < shares.size(); ++i) hand_on(n, upstream, static_cast<int>(i), shares[i], to);
      }
    }
  }
  template <class To>
  TG_ALWAYS_INLINE void hand_on(const ValueNode* n, double upstream, int i, double share, To& to) const {
    if (kAnomaly && share != share && upstream == upstream)
      throw RuntimeError("detect_anomaly: the backward of op '" + op_string(n) + "'" +
                         (n->has_label() ? " (" + label(n) + ")" : "") + " produced nan values in the gradient of its input " +
                         std::to_string(i));
    to(static_cast<std::size_t>(i), double(share));
  }
};

// Passes run one at a time: marks and the writes into grad_ of two passes
// over a shared graph would race (the bindings release the GIL around them).
// So one set of buffers serves them all, kept between passes (within a size
// limit) so that a training loop does not reallocate and page-fault it every
// step. (A thread_local one cost a third of the sweep: in a shared library
// every access to it went through __tls_get_addr.)
}  // namespace

std::mutex& value_pass_mutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

namespace {

Backprop<ValueNode, double>& shared_pass() {
  static auto* pass = new Backprop<ValueNode, double>();
  return *pass;
}

}  // namespace

namespace {

template <bool kAccumulate>
void run_pass(Backprop<ValueNode, double>& pass, ValueNode* root, double seed) {
  if (is_anomaly_enabled()) {
    ValuePolicy<kAccumulate, true> policy;
    pass.run(root, seed, policy);
  } else {
    ValuePolicy<kAccumulate, false> policy;
    pass.run(root, seed, policy);
  }
}

}  // namespace

namespace {

// A compiled result as the root (Note [Compile]): its tape's sweep gives each
// input's complete gradient, which the engine would add to a 0.0 slot and
// then to .grad; done here directly, without a walk over its parents. Only
// when every parent is a leaf (else the engine goes on through their graphs).
bool accumulate_directly(ValueNode* root) {
  if (root->op() != Op::Function || !root->function_->fn->accumulates() || is_anomaly_enabled()) return false;
  const std::vector<ValueNode*>& inputs = root->function_->inputs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i + kAhead < inputs.size()) __builtin_prefetch(inputs[i + kAhead]);
    if (inputs[i]->arity() != 0) return false;
  }
  std::vector<double> shares = root->function_->fn->backward(1.0);
  root->grad_ += 1.0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i + kAhead < inputs.size()) __builtin_prefetch(inputs[i + kAhead], 1);
    inputs[i]->grad_ += 0.0 + shares[i];
  }
  return true;
}

}  // namespace

void backward(ValueNode* root) {
  std::lock_guard<std::mutex> lock(value_pass_mutex());
  if (accumulate_directly(root)) return;
  auto& pass = shared_pass();
  try {
    run_pass<true>(pass, root, 1.0);
  } catch (...) {
    pass.clear();
    throw;
  }
  pass.trim();
}

std::vector<double> gradients(ValueNode* root, const std::vector<ValueNode*>& inputs,
                              double seed) {
  std::lock_guard<std::mutex> lock(value_pass_mutex());
  auto& pass = shared_pass();
  try {
    run_pass<false>(pass, root, seed);
  } catch (...) {
    pass.clear();
    throw;
  }
  ValuePolicy<false, false> policy;
  std::vector<double> out;
  out.reserve(inputs.size());
  // An input has a Python object, so it is never exclusive: if reached, it has a slot.
  for (const ValueNode* x : inputs) out.push_back(pass.reached(x, policy) ? pass.gradient(x, policy) : 0.0);
  pass.trim();
  return out;
}

std::size_t live_value_nodes() { return pool().live(); }
std::size_t pooled_value_bytes() { return pool().capacity_bytes(); }
std::size_t labelled_value_nodes() { return labels().size(); }

}  // namespace tapegrad
