// The scalar graph engine: node construction, lifetime and backpropagation.
#include "value.h"

#include <cstdio>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "grad_mode.h"
#include "errors.h"
#include "node_pool.h"
#include "value_rules.h"

namespace tapegrad {

namespace {

using Pool = NodePool<ValueNode, &ValueNode::handle_>;

// Never destroyed: Python objects may outlive static destructors at exit.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

// Labels live beside the nodes (Note [Value node layout]): most nodes have
// none, and the has-label bit spares the lookup for them.
using LabelTable = std::unordered_map<const ValueNode*, std::string>;
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

ValueNode* fresh(double data, Op op) {
  ValueNode* n = pool().allocate();
  n->data_ = data;
  n->grad_ = 0.0;
  n->parent0_ = nullptr;
  n->parent1_ = nullptr;
  n->handle_ = nullptr;
  n->mark_ = 0;
  n->set_meta(static_cast<std::uint32_t>(op) << ValueNode::kRefBits);
  return n;
}

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
    pool().deallocate(d);
  }
}

// ---- construction -----------------------------------------------------------

ValueNode* make_leaf(double data) { return fresh(data, Op::Leaf); }

ValueNode* make_unary(Op op, ValueNode* a) {
  double out = rules::forward(op, a->data_, 0.0);
  if (!is_grad_enabled()) return fresh(out, Op::Leaf);
  ValueNode* n = fresh(out, op);
  n->parent0_ = a;
  retain(a);
  return n;
}

ValueNode* make_pow_const(ValueNode* a, double k) {
  double out = rules::pow_const(a->data_, k);
  if (!is_grad_enabled()) return fresh(out, Op::Leaf);
  ValueNode* n = fresh(out, Op::PowConst);
  n->parent0_ = a;
  n->k_ = k;
  retain(a);
  return n;
}

ValueNode* make_binary(Op op, ValueNode* a, ValueNode* b) {
  double out = rules::forward(op, a->data_, b->data_);
  if (!is_grad_enabled()) return fresh(out, Op::Leaf);
  ValueNode* n = fresh(out, op);
  n->parent0_ = a;
  n->parent1_ = b;
  retain(a);
  retain(b);
  return n;
}

ValueNode* make_binary(Op op, ValueNode* a, double b) {
  if (!is_grad_enabled()) return fresh(rules::forward(op, a->data_, b), Op::Leaf);
  pool().reserve(2);  // the constant and the result: neither allocation can throw now
  return make_binary(op, a, make_leaf(b));
}

ValueNode* make_binary(Op op, double a, ValueNode* b) {
  if (!is_grad_enabled()) return fresh(rules::forward(op, a, b->data_), Op::Leaf);
  pool().reserve(2);
  return make_binary(op, make_leaf(a), b);
}

// ---- attributes --------------------------------------------------------------

std::string op_string(const ValueNode* n) {
  if (n->op() != Op::PowConst) return op_name(n->op());
  // Python's format(k, "g"), which is C's %g (inf, nan and -0 included).
  char buf[32];
  std::snprintf(buf, sizeof buf, "**%g", n->k_);
  return buf;
}

const std::string& label(const ValueNode* n) {
  static const std::string* empty = new std::string();
  return n->has_label() ? labels().at(n) : *empty;
}

void set_label(ValueNode* n, const std::string& text) {
  if (text.empty()) {
    free_label(n);
    return;
  }
  labels()[n] = text;
  n->set_meta(n->meta() | ValueNode::kLabelBit);
}

namespace {

rules::In rule_inputs(const ValueNode* n) {
  rules::In x{0.0, 0.0, n->data_, 0.0};
  if (n->arity() >= 1) x.a = n->parent0_->data_;
  if (n->arity() == 2) x.b = n->parent1_->data_;
  if (n->op() == Op::PowConst) x.k = n->k_;
  return x;
}

}  // namespace

std::vector<double> local_grads(const ValueNode* n) {
  rules::Grads g = rules::local_grads(n->op(), rule_inputs(n));
  std::vector<double> out;
  if (n->arity() >= 1) out.push_back(g.da);
  if (n->arity() == 2) out.push_back(g.db);
  return out;
}

// ---- backpropagation -------------------------------------------------------------

namespace {

// One backward pass (Note [Value backward pass]). `grad` holds this pass's
// gradients of the nodes that have a slot (Note [Gradient accumulation]).
// Passes run one at a time (pass_mutex), so one set of buffers serves them
// all; it is kept between passes (within a size limit) so that a training
// loop does not reallocate and page-fault it every step. (A thread_local Pass
// cost a third of the sweep: in a shared library every access to it went
// through __tls_get_addr.)
//
// Note [Value backward pass]
// Two phases, both with explicit stacks, never recursion.
//  1. From the root, through exclusive nodes. A node whose reference count
//     is 1 when an edge reaches it has no other reference than that edge: no
//     Python object, no other consumer. The gradient that edge carries is
//     therefore its whole gradient, and the node can pass its own on at once,
//     with no topological sort and no slot. Chains of temporaries (most of a
//     deep expression) are swept this way in one visit per node. Every other
//     node reached gets a slot (mark_ is its index in `seen`, which doubles
//     as the visit mark: n has a slot iff seen[n->mark_] == n) and collects
//     its gradient there: the frontier. The root has slot 0.
//  2. From the frontier, by dependency counting (as production engines do):
//     discovery gives each node reachable from the frontier a slot and counts
//     in `pending` its consumers among them; the sweep then takes a node once
//     all those consumers have passed their gradient to it, so its gradient
//     (the sum over all paths) is complete, and passes upstream * local on.
// No node of phase 1 is reachable from the frontier: its only consumer was
// swept in phase 1 too, and so on up to the root, which would make a cycle.
// Counts may change meanwhile on other threads (only in Python objects'
// references, never in the edges of this graph, which the root keeps alive);
// a count read as 1 still means a single edge, and a larger one only sends
// the node to phase 2, which is always right. Each contribution is added to
// 0.0 first, as the reference's `grads.get(parent, 0.0) + g` does, so that a
// -0.0 gives the same bits. Products go through chain_mul (Note [Subnormal
// products]).
//
// The textbook version, a recursive DFS for the order and then a sweep over
// it, is the same result (up to the order in which three or more paths into
// one node are summed).
struct Pass {
  struct Edge {
    ValueNode* node;
    double upstream;  // the node's complete gradient in this pass
  };

  std::vector<ValueNode*> seen;
  std::vector<std::uint32_t> pending;
  std::vector<double> grad;
  std::vector<ValueNode*> stack;
  std::vector<Edge> exclusive;

  bool visited(const ValueNode* n) const {
    return n->mark_ < seen.size() && seen[n->mark_] == n;
  }

  void slot(ValueNode* n) {
    if (seen.size() == std::numeric_limits<std::uint32_t>::max())
      throw RuntimeError("backward(): more than 2^32 - 1 nodes in one graph");
    n->mark_ = static_cast<std::uint32_t>(seen.size());
    seen.push_back(n);
    pending.push_back(0);
    grad.push_back(0.0);
  }

  // upstream * local for each parent of n, handed to `to(parent, share)`.
  template <class To>
  static void propagate(ValueNode* n, double upstream, To to) {
    // Zero upstream gradients are not skipped: 0 * inf must give nan.
    switch (n->arity()) {
      case 0:
        break;
      case 1: {
        ValueNode* a = n->parent0_;
        Op op = n->op();
        rules::In x{a->data_, 0.0, n->data_, op == Op::PowConst ? n->k_ : 0.0};
        to(a, rules::chain_mul(upstream, rules::local_grads(op, x).da));
        break;
      }
      default: {
        ValueNode* a = n->parent0_;
        ValueNode* b = n->parent1_;
        rules::Grads local = rules::local_grads(n->op(), {a->data_, b->data_, n->data_, 0.0});
        to(a, rules::chain_mul(upstream, local.da));
        to(b, rules::chain_mul(upstream, local.db));
        break;
      }
    }
  }

  // With kAccumulate each node's complete gradient is also added to its
  // grad_ as the sweep reaches it.
  template <bool kAccumulate>
  void run(ValueNode* root, double seed) {
    seen.clear();
    pending.clear();
    grad.clear();
    stack.clear();
    exclusive.clear();

    // Phase 1: the root, then every exclusive node below it. The loop goes
    // straight on to an exclusive parent and keeps a second one on a stack;
    // an exclusive leaf (a constant) is finished on the spot.
    slot(root);
    grad[0] = seed;
    ValueNode* n = root;
    double upstream = seed;
    for (;;) {
      if (kAccumulate) n->grad_ += upstream;
      ValueNode* next = nullptr;
      double next_upstream = 0.0;
      propagate(n, upstream, [&](ValueNode* p, double g) {
        if (p->refs() != 1) {
          if (!visited(p)) slot(p);
          grad[p->mark_] += g;
        } else if (p->arity() == 0) {
          if (kAccumulate) p->grad_ += 0.0 + g;
        } else if (next == nullptr) {
          next = p;
          next_upstream = 0.0 + g;
        } else {
          exclusive.push_back({p, 0.0 + g});
        }
      });
      if (next != nullptr) {
        n = next;
        upstream = next_upstream;
      } else if (!exclusive.empty()) {
        n = exclusive.back().node;
        upstream = exclusive.back().upstream;
        exclusive.pop_back();
      } else {
        break;
      }
    }
    std::size_t frontier = seen.size();
    if (frontier == 1) return;

    // Phase 2, discovery: slots and consumer counts below the frontier.
    for (std::size_t i = 1; i < frontier; ++i) stack.push_back(seen[i]);
    while (!stack.empty()) {
      ValueNode* n = stack.back();
      stack.pop_back();
      int arity = n->arity();
      for (int i = 0; i < arity; ++i) {
        ValueNode* p = n->parent(i);
        if (!visited(p)) {
          slot(p);
          stack.push_back(p);
        }
        ++pending[p->mark_];
      }
    }
    // Phase 2, sweep: a node goes once its consumers are done.
    for (std::size_t i = frontier; i-- > 1;)
      if (pending[i] == 0) stack.push_back(seen[i]);
    while (!stack.empty()) {
      ValueNode* n = stack.back();
      stack.pop_back();
      double upstream = grad[n->mark_];
      if (kAccumulate) n->grad_ += upstream;
      propagate(n, upstream, [this](ValueNode* p, double g) {
        grad[p->mark_] += g;
        if (--pending[p->mark_] == 0) stack.push_back(p);  // a * a: ready after both edges
      });
    }
  }

  // Drops buffers grown by a huge graph, keeps ordinary ones for reuse.
  void trim() {
    constexpr std::size_t kKeep = std::size_t{1} << 20;
    if (seen.capacity() > kKeep || exclusive.capacity() > kKeep) {
      seen = {};
      pending = {};
      grad = {};
      stack = {};
      exclusive = {};
    }
  }
};

// Marks and the writes into grad_ of two passes over a shared graph would
// race: passes run one at a time (the bindings release the GIL around them).
std::mutex& pass_mutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

// The buffers of the one pass that runs at a time (hold pass_mutex).
Pass& shared_pass() {
  static Pass* pass = new Pass();
  return *pass;
}

}  // namespace

void backward(ValueNode* root) {
  std::lock_guard<std::mutex> lock(pass_mutex());
  Pass& pass = shared_pass();
  pass.run<true>(root, 1.0);
  pass.trim();
}

std::vector<double> gradients(ValueNode* root, const std::vector<ValueNode*>& inputs,
                              double seed) {
  std::lock_guard<std::mutex> lock(pass_mutex());
  Pass& pass = shared_pass();
  pass.run<false>(root, seed);
  std::vector<double> out;
  out.reserve(inputs.size());
  for (const ValueNode* x : inputs) out.push_back(pass.visited(x) ? pass.grad[x->mark_] : 0.0);
  pass.trim();
  return out;
}

std::size_t live_value_nodes() { return pool().live(); }
std::size_t pooled_value_nodes() { return pool().capacity(); }
std::size_t labelled_value_nodes() { return labels().size(); }

}  // namespace tapegrad
