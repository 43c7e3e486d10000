// The tensor backward sweep (Note [Gradient accumulation]), fused or recorded,
// the routing of every op to its backward rule, and the iterative
// destruction of graphs.
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "backward_rules.h"
#include "graph.h"
#include "grad_mode.h"

namespace tapegrad {

TensorNode::~TensorNode() {
  // Destroying the last reference to a long chain would otherwise recurse
  // once per node through shared_ptr destructors and overflow the C stack.
  // Parents whose only owner is this node are unlinked into a worklist
  // instead, so each is destroyed here with no parents of its own left.
  std::vector<TensorPtr> work = std::move(parents);
  while (!work.empty()) {
    TensorPtr p = std::move(work.back());
    work.pop_back();
    if (p.use_count() == 1) {
      for (auto& q : p->parents) work.push_back(std::move(q));
      p->parents.clear();
    }
  }
}

// ---- every op to its rule (the table's Kind column) ------------------------------

#define TG_BW_NONE(Name) \
  case Op::Name:         \
    return {};
#define TG_BW_UNARY(Name) \
  case Op::Name:          \
    return unary_backward(n, g, in);
#define TG_BW_BINARY(Name) \
  case Op::Name:           \
    return binary_backward(n, g, in);
#define TG_BW_OWN(Name) \
  case Op::Name:        \
    return backward_##Name(n, g, in);
#define TG_BW_Leaf TG_BW_NONE
#define TG_BW_Compare TG_BW_NONE
#define TG_BW_Arg TG_BW_NONE
#define TG_BW_Unary TG_BW_UNARY
#define TG_BW_Binary TG_BW_BINARY
#define TG_BW_Function(Name) \
  case Op::Name:            \
    return function_backward(n, g);
#define TG_BW_MatMul TG_BW_OWN
#define TG_BW_Reduce TG_BW_OWN
#define TG_BW_Movement TG_BW_OWN
#define TG_BW_Index TG_BW_OWN
#define TG_BW_Join TG_BW_OWN
#define TG_BW_Softmax TG_BW_OWN
#define TG_BW_Loss TG_BW_OWN
#define TG_BW_NN TG_BW_OWN
#define TG_BW_Moments TG_BW_OWN

namespace {

// A Function's backward, from outside the core (callbacks.h).
std::vector<Array> function_backward(const TensorNode& n, const Array& g) { return n.function->backward(g); }
std::vector<TensorPtr> function_backward(const TensorNode& n, const TensorPtr& g) {
  return n.function->backward_recorded(g);
}

template <class X, class In>
std::vector<X> rule_of(const TensorNode& n, const X& g, const In& in) {
  switch (n.op) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_BW_##kind(Name)
    TG_OPS(TG_X)
#undef TG_X
  }
  return {};
}

}  // namespace

std::vector<Array> backward_rule(const TensorNode& n, const Array& g) { return rule_of(n, g, FastIn{n}); }

std::vector<TensorPtr> recorded_backward_rule(const TensorPtr& n, const TensorPtr& g) { return rule_of(*n, g, RecIn{n}); }

TensorPtr record_function(Array data, std::vector<TensorPtr> parents, std::shared_ptr<TensorFunction> fn) {
  TensorPtr n = record(std::move(data), Op::Function, std::move(parents));
  n->function = std::move(fn);
  return n;
}

int add_hook(TensorNode& n, std::shared_ptr<GradHook> hook) {
  static std::atomic<int> next{1};
  const int id = next.fetch_add(1, std::memory_order_relaxed);
  n.hooks.emplace_back(id, std::move(hook));
  return id;
}

bool remove_hook(TensorNode& n, int id) {
  for (auto it = n.hooks.begin(); it != n.hooks.end(); ++it) {
    if (it->first != id) continue;
    n.hooks.erase(it);
    return true;
  }
  return false;
}

// Note [Tensor backward pass]
// The sweep is graph.h's (Note [Backward pass]), the same as Value's, with
// gradients that are Arrays (the fused sweep) or nodes (the recorded one,
// create_graph: Note [Recorded backward]): a parent that does not require
// grad is no edge, a rule may hand a parent no gradient, and the gradients
// along several paths are added with the Add kernel or op.
//
// The fused sweep runs without the caller's lock (the bindings release the
// GIL), so it must not write what the caller's threads read under it: a
// leaf's .grad and a node's .parents. It computes; commit() then applies,
// with the lock held: it adds each leaf's gradient into .grad and, after a
// backward without retain_graph, clears .parents of every node the sweep went
// through (as the reference does, DESIGN Note [Tensor details]; the graph
// above the leaves is then freed at once). The pass holds shared_ptrs to
// those nodes, so nothing it names can die in between. The saved values of
// those nodes are released at the end of the sweep, so that a sweep that
// throws (a node freed by an earlier backward) changes nothing. Sweeps and
// commits take one mutex, so that two threads backpropagating through a
// shared graph do not mix their slots or free saved values under each other;
// a commit waits for a sweep, never the other way round. The recorded sweep
// creates nodes, so it runs with the caller's lock held throughout.
namespace {

std::mutex& sweep_mutex() {
  static std::mutex* m = new std::mutex();  // never destroyed: backward may run at exit
  return *m;
}

// The buffers of the one fused sweep that runs at a time (hold sweep_mutex).
Backprop<TensorNode, Array>& shared_sweep() {
  static auto* sweep = new Backprop<TensorNode, Array>();
  return *sweep;
}

// The gradient a pass starts from: ones for a one-element root, else the
// caller's, of the root's shape, in its dtype.
Array seed(const TensorPtr& root, const Array* gradient) {
  if (!root->requires_grad)
    throw RuntimeError("backward() of a tensor that does not require grad: none of its inputs has requires_grad=True, "
                       "or it was computed under no_grad()");
  if (gradient == nullptr) {
    if (root->data.numel() != 1)
      throw RuntimeError("backward() of a non-scalar tensor (shape " + shape_str(root->data.shape) +
                         ") needs a `gradient` argument of that shape; only a one-element output has the implicit "
                         "gradient 1");
    return full(root->data.shape, root->data.dtype, 1.0);
  }
  if (gradient->shape != root->data.shape)
    throw ValueError("gradient has shape " + shape_str(gradient->shape) + " but the tensor has shape " +
                     shape_str(root->data.shape));
  return astype(*gradient, root->data.dtype);
}

}  // namespace

void set_requires_grad(TensorNode& t, bool flag) {
  if (!t.is_leaf())
    throw RuntimeError("requires_grad can only be changed on a leaf tensor; this one was computed by op '" + op_string(t) +
                       "' (use detach() to get a leaf)");
  if (flag && !is_float(t.data.dtype)) throw TypeError(kIntGrad);
  t.requires_grad = flag;
}

void set_grad(TensorNode& t, TensorPtr grad) {
  if (grad && !is_float(t.data.dtype)) throw TypeError(kIntNoGrad);
  if (grad && grad->data.shape != t.data.shape)
    throw ValueError("assigned grad has shape " + shape_str(grad->data.shape) + " but the tensor has shape " +
                     shape_str(t.data.shape));
  if (grad && grad->data.dtype != t.data.dtype) grad = make_leaf(astype(grad->data, t.data.dtype));
  t.grad = std::move(grad);
}

namespace {

bool has_nan(const Array& a) {
  if (!is_float(a.dtype)) return false;
  Array c = contiguous(a);
  const std::int64_t n = c.numel();
  if (c.dtype == DType::F32) {
    const float* p = c.data<float>();
    for (std::int64_t i = 0; i < n; ++i) if (p[i] != p[i]) return true;
  } else {
    const double* p = c.data<double>();
    for (std::int64_t i = 0; i < n; ++i) if (p[i] != p[i]) return true;
  }
  return false;
}
bool has_nan(const TensorPtr& t) { return has_nan(t->data); }

// detect_anomaly: the first rule that turns a gradient without NaN into one with.
template <class G>
void check_anomaly(const TensorNode& n, const G& g, const std::vector<G>& out) {
  if (has_nan(g)) return;  // produced further up, and reported there
  for (std::size_t i = 0; i < out.size(); ++i) {
    bool present;
    if constexpr (kRecorded<G>) present = out[i] != nullptr;
    else present = out[i].storage != nullptr;
    if (present && has_nan(out[i]))
      throw RuntimeError("detect_anomaly: the backward of op '" + op_string(n) + "'" +
                         (n.label.empty() ? "" : " (" + n.label + ")") + " produced nan values in the gradient of its input " +
                         std::to_string(i));
  }
}

}  // namespace

Array share_for(Array g, const Array& parent) {
  if (g.dtype != parent.dtype) g = astype(g, parent.dtype);
  // a constant broadcast implicitly (Note [Broadcast reduction]), given requires_grad since
  if (g.shape != parent.shape && broadcasts_to(parent.shape, g.shape)) g = sum_to(g, parent.shape);
  return g;
}
TensorPtr share_for(TensorPtr g, const Array& parent) {
  g = cast(g, parent.dtype);
  if (g->data.shape != parent.shape && broadcasts_to(parent.shape, g->data.shape)) g = sum_to(g, parent.shape);
  return g;
}

void anomaly_check(const TensorNode& n, const Array& g, const std::vector<Array>& out) { check_anomaly(n, g, out); }
void anomaly_check(const TensorNode& n, const TensorPtr& g, const std::vector<TensorPtr>& out) {
  check_anomaly(n, g, out);
}

namespace {

void check_not_freed(const TensorNode* n) {
  if (!n->is_leaf() && n->freed)
    throw RuntimeError("backward through a graph that was already freed (at a '" + op_string(*n) +
                       "' node): pass retain_graph=True to the first backward() to backward through it again");
}

// What differs between the two sweeps: a gradient's type G, how two are
// added, and how a node's rule is applied. `OnGrad(node, g)` sees every
// node's complete gradient.
template <class G, class OnGrad>
struct TensorPolicy {
  BackwardPass& pass;
  bool retain_graph;
  OnGrad on_grad;

  std::uint32_t& slot(TensorNode* n) const { return n->slot; }
  std::size_t arity(const TensorNode* n) const { return n->parents.size(); }
  TensorNode* parent(const TensorNode* n, std::size_t i) const {
    TensorNode* p = n->parents[i].get();
    return p->requires_grad ? p : nullptr;
  }
  // Python objects and consumers each hold a TensorPtr to a node.
  bool exclusive(const TensorNode* n, std::size_t i) const { return n->parents[i].use_count() == 1; }
  G zero() const { return G(); }
  static bool present(const G& g) {
    if constexpr (kRecorded<G>) return g != nullptr;
    else return g.storage != nullptr;
  }
  void add(G& sum, G&& share) const {
    if (!present(share)) return;
    if (!present(sum)) sum = std::move(share);
    else sum = tapegrad::add(sum, share);  // fan-out: the sum over paths
  }
  bool has(const G& g) const { return present(g); }
  void prefetch(const TensorNode*) const {}  // a tensor op's work dwarfs a miss
  void visit(TensorNode* n, G& g) {
    check_not_freed(n);
    for (auto& [id, hook] : n->hooks) {  // fn(grad) -> the gradient to use
      G h;
      if constexpr (kRecorded<G>) h = hook->apply_recorded(g);
      else h = hook->apply(g);
      if (present(h)) g = std::move(h);
    }
    on_grad(n, g);
  }
  template <class To>
  void propagate(TensorNode* n, const G& g, To&& to) {
    if (n->is_leaf()) return;
    std::vector<G> pg;
    if constexpr (kRecorded<G>) pg = recorded_backward_rule(n->shared_from_this(), g);
    else pg = backward_rule(*n, g);
    if (is_anomaly_enabled()) check_anomaly(*n, g, pg);
    for (std::size_t i = 0; i < n->parents.size(); ++i) {
      const TensorNode* p = n->parents[i].get();
      G gi;
      if (i < pg.size() && present(pg[i]) && p->requires_grad) {
        gi = share_for(std::move(pg[i]), p->data);
      }
      to(i, std::move(gi));
    }
    if (!retain_graph) pass.freed.push_back(n->shared_from_this());
  }
};

// One sweep from root under sweep_mutex, then the release of saved values.
template <class G, class OnGrad>
void sweep(const TensorPtr& root, G g0, bool retain_graph, BackwardPass& pass, OnGrad&& on_grad) {
  TensorPolicy<G, OnGrad&> policy{pass, retain_graph, on_grad};
  if constexpr (kRecorded<G>) {
    Backprop<TensorNode, G> engine;  // its nodes die with it, under the caller's lock
    engine.run(root.get(), std::move(g0), policy);
  } else {
    auto& engine = shared_sweep();
    try {
      engine.run(root.get(), std::move(g0), policy);
    } catch (...) {
      engine.clear();  // the caller drops `pass` uncommitted
      throw;
    }
    engine.clear();  // the gradients it still holds: buffers, not numbers
  }
  for (auto& n : pass.freed) {
    n->saved.clear();
    n->saved.shrink_to_fit();
    n->plan.reset();
    n->freed = true;
  }
}

// Marks the nodes recorded meanwhile as made by a backward pass.
struct RecordingBackward {
  bool previous = recording_backward_flag();
  RecordingBackward() { recording_backward_flag() = true; }
  ~RecordingBackward() { recording_backward_flag() = previous; }
};

// A leaf's share of this pass, shaped like the leaf: broadcast to it if the
// leaf's data was given another shape after the graph used it (Note [Mutating
// data]), else a ValueError naming both shapes.
void check_expands(const Shape& g, const Shape& leaf) {
  bool ok = g.size() <= leaf.size();
  for (std::size_t i = 0; ok && i < g.size(); ++i) {
    const std::int64_t to = leaf[leaf.size() - g.size() + i];
    ok = g[i] == to || g[i] == 1;
  }
  if (!ok)
    throw ValueError("backward(): a leaf's gradient has shape " + shape_str(g) + " but the leaf now has shape " +
                     shape_str(leaf) + " (its data was reassigned after the graph used it)");
}
Array leaf_shaped(Array g, const TensorNode* n) {
  if (g.shape == n->data.shape) return g;
  check_expands(g.shape, n->data.shape);
  return expand(g, n->data.shape);
}
TensorPtr leaf_shaped(TensorPtr g, const TensorNode* n) {
  if (g->data.shape == n->data.shape) return g;
  check_expands(g->data.shape, n->data.shape);
  return expand(g, n->data.shape);
}

// A recorded pass starts from the caller's gradient itself when it is a node
// (so that the result is differentiable in it too), cast to the root's dtype.
TensorPtr recorded_seed(const TensorPtr& gradient, Array g0) {
  if (gradient && gradient->requires_grad) return cast(gradient, g0.dtype);
  return make_leaf(std::move(g0));
}

const Array* data_or_null(const TensorPtr& t) { return t ? &t->data : nullptr; }

}  // namespace

BackwardPass backward(const TensorPtr& root, const TensorPtr& gradient, bool retain_graph, bool create_graph) {
  Array g0 = seed(root, data_or_null(gradient));
  BackwardPass pass;
  std::lock_guard<std::mutex> lock(sweep_mutex());
  if (create_graph) {
    RecordingBackward recording;
    sweep(root, recorded_seed(gradient, std::move(g0)), retain_graph, pass, [&pass](TensorNode* n, TensorPtr& g) {
      if (n->is_leaf() || n->retains_grad) pass.recorded_leaf_grads.emplace_back(n->shared_from_this(), leaf_shaped(g, n));
    });
    return pass;
  }
  sweep(root, std::move(g0), retain_graph, pass, [&pass](TensorNode* n, Array& g) {
    if (n->is_leaf()) pass.leaf_grads.emplace_back(n->shared_from_this(), leaf_shaped(std::move(g), n));
    else if (n->retains_grad) pass.leaf_grads.emplace_back(n->shared_from_this(), copy(g));  // g goes on upstream
  });
  return pass;
}

void commit(BackwardPass&& pass) {
  std::vector<TensorPtr> released;  // destroyed after the lock: nothing else can reach them
  {
    std::lock_guard<std::mutex> lock(sweep_mutex());
    for (auto& [n, add] : pass.leaf_grads) {
      // A first gradient nothing else holds (a rule's fresh result) becomes
      // .grad as it is; one that may be shared (the caller's gradient=, or a
      // view) is copied, so that .grad never aliases another tensor.
      bool own = n->grad == nullptr && add.storage.use_count() == 1 && add.is_contiguous();
      Array total = n->grad ? tapegrad::add(n->grad->data, add) : own ? std::move(add) : copy(add);
      n->grad = make_leaf(std::move(total));
    }
    for (auto& [n, g] : pass.recorded_leaf_grads) n->grad = n->grad ? add(n->grad, g) : g;  // recorded
    for (auto& n : pass.freed) {
      for (auto& p : n->parents) released.push_back(std::move(p));
      n->parents.clear();
    }
  }
  pass = BackwardPass{};
}

std::vector<TensorPtr> gradients(const TensorPtr& root, const std::vector<TensorPtr>& inputs, const TensorPtr& gradient,
                                 bool retain_graph, bool create_graph, BackwardPass& pass) {
  Array g0 = seed(root, data_or_null(gradient));
  std::unordered_map<TensorNode*, std::size_t> where;
  for (std::size_t i = 0; i < inputs.size(); ++i) where.emplace(inputs[i].get(), i);
  std::vector<TensorPtr> out(inputs.size());
  {
    std::lock_guard<std::mutex> lock(sweep_mutex());
    if (create_graph) {
      RecordingBackward recording;
      sweep(root, recorded_seed(gradient, std::move(g0)), retain_graph, pass, [&](TensorNode* n, TensorPtr& g) {
        auto w = where.find(n);
        if (w != where.end()) out[w->second] = g;
      });
    } else {
      sweep(root, std::move(g0), retain_graph, pass, [&](TensorNode* n, Array& g) {
        auto w = where.find(n);
        if (w != where.end()) out[w->second] = make_leaf(copy(g));
      });
    }
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (out[i]) {
      for (std::size_t j = 0; j < inputs.size(); ++j)  // the same input listed twice
        if (!out[j] && inputs[j] == inputs[i]) out[j] = out[i];
      continue;
    }
    out[i] = make_leaf(zeros(inputs[i]->data.shape, inputs[i]->data.dtype));
  }
  return out;
}

}  // namespace tapegrad
