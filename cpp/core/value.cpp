// The scalar graph engine: node construction, lifetime and backpropagation.
#include "value.h"

#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "grad_mode.h"
#include "graph.h"
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
    n->meta_ &= ~ValueNode::kLabelBit;
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
  n->meta_ = static_cast<std::uint32_t>(op) << ValueNode::kRefBits;
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
      --p->meta_;
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
  n->meta_ |= ValueNode::kLabelBit;
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

inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

// One backward pass: the nodes reachable from the root in discovery order
// (`seen`, which also serves as the visit mark: n is visited iff
// seen[n->mark_] == n), the same nodes parents-first (`order`), and this
// pass's gradient of each node, indexed by mark_ (Note [Gradient accumulation]).
// The buffers are kept per thread between passes (within a size limit) so
// that a training loop does not reallocate and page-fault them every step.
struct Pass {
  std::vector<ValueNode*> seen;
  std::vector<ValueNode*> order;
  std::vector<double> grad;

  bool visited(const ValueNode* n) const {
    return n->mark_ < seen.size() && seen[n->mark_] == n;
  }

  // The reverse sweep; with kAccumulate each node's complete gradient is
  // also added to its grad_ as the sweep reaches it.
  template <bool kAccumulate>
  void run(ValueNode* root, double seed) {
    seen.clear();
    order.clear();
    auto try_mark = [this](ValueNode* n) {
      if (visited(n)) return false;
      n->mark_ = static_cast<std::uint32_t>(seen.size());
      seen.push_back(n);
      return true;
    };
    topo_order(
        root, [](ValueNode* n) { return static_cast<std::size_t>(n->arity()); },
        [](ValueNode* n, std::size_t i) { return n->parent(static_cast<int>(i)); }, try_mark,
        order);
    grad.assign(seen.size(), 0.0);
    grad[root->mark_] = seed;
    // Every consumer comes before its parents, so grad[n] is complete when n
    // passes it on; a parent reached along several paths sums them. Zero
    // upstream gradients are not skipped: 0 * inf must give nan.
    constexpr std::size_t kAhead = 8;  // nodes are scattered in memory: fetch ahead
    for (std::size_t i = order.size(); i-- > 0;) {
      if (i >= kAhead) prefetch(order[i - kAhead]);
      ValueNode* n = order[i];
      double upstream = grad[n->mark_];
      if (kAccumulate) n->grad_ += upstream;
      switch (n->arity()) {
        case 0:
          break;
        case 1: {
          ValueNode* a = n->parent0_;
          rules::In x{a->data_, 0.0, n->data_, n->op() == Op::PowConst ? n->k_ : 0.0};
          grad[a->mark_] += upstream * rules::local_grads(n->op(), x).da;
          break;
        }
        default: {
          ValueNode* a = n->parent0_;
          ValueNode* b = n->parent1_;
          rules::Grads local = rules::local_grads(n->op(), {a->data_, b->data_, n->data_, 0.0});
          grad[a->mark_] += upstream * local.da;
          grad[b->mark_] += upstream * local.db;
          break;
        }
      }
    }
  }

  // Drops buffers grown by a huge graph, keeps ordinary ones for reuse.
  void trim() {
    constexpr std::size_t kKeep = std::size_t{1} << 20;
    if (seen.capacity() > kKeep) {
      seen = {};
      order = {};
      grad = {};
    }
  }
};

Pass& thread_pass() {
  thread_local Pass pass;
  return pass;
}

// Marks and the writes into grad_ of two passes over a shared graph would
// race: passes run one at a time (the bindings release the GIL around them).
std::mutex& pass_mutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

}  // namespace

void backward(ValueNode* root) {
  std::lock_guard<std::mutex> lock(pass_mutex());
  Pass& pass = thread_pass();
  pass.run<true>(root, 1.0);
  pass.trim();
}

std::vector<double> gradients(ValueNode* root, const std::vector<ValueNode*>& inputs,
                              double seed) {
  std::lock_guard<std::mutex> lock(pass_mutex());
  Pass& pass = thread_pass();
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
