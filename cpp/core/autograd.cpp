// The tensor backward sweep (Note [Gradient accumulation]) and the iterative
// destruction of graphs.
#include <mutex>
#include <unordered_map>

#include "graph.h"
#include "kernels.h"
#include "tensor_node.h"

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

// Note [Tensor backward pass]
// The sweep is graph.h's (Note [Backward pass]), the same as Value's, with
// Arrays for gradients: a parent that does not require grad is no edge, a
// rule may hand a parent no gradient (an Array without storage), and the
// gradients along several paths are added with the Add kernel.
//
// A sweep runs without the GIL (the bindings release it), so it must not
// write what Python threads read with the GIL held: a leaf's .grad and a
// node's .parents. It computes; commit() then applies, with the GIL held:
// it adds each leaf's gradient into .grad and, after a backward without
// retain_graph, clears .parents of every node the sweep went through (as the
// reference does, DESIGN Note [Tensor details]; the graph above the leaves is
// then freed at once). The pass holds shared_ptrs to those nodes, so nothing
// it names can die in between. The saved buffers of those nodes are released
// at the end of the sweep, so that a sweep that throws (a node freed by an
// earlier backward) changes nothing. Sweeps and commits take one mutex, so
// that two threads backpropagating through a shared graph do not mix their
// slots or free saved buffers under each other; a commit (GIL held) waits
// for a sweep (which never takes the GIL), never the other way round.
namespace {

std::mutex& sweep_mutex() {
  static std::mutex* m = new std::mutex();  // never destroyed: backward may run at exit
  return *m;
}

// The buffers of the one sweep that runs at a time (hold sweep_mutex).
Backprop<TensorNode, Array>& shared_sweep() {
  static auto* sweep = new Backprop<TensorNode, Array>();
  return *sweep;
}

Array seed(const TensorPtr& root, const Array* gradient) {
  if (!root->requires_grad)
    throw RuntimeError("backward() of a tensor that does not require grad (it has no graph to go through)");
  if (gradient == nullptr) {
    if (root->data.numel() != 1)
      throw RuntimeError("backward() without a gradient needs a tensor with one element, got shape " + shape_str(root->data.shape) +
                         "; pass gradient= of that shape");
    return full(root->data.shape, root->data.dtype, 1.0);
  }
  if (gradient->shape != root->data.shape)
    throw ValueError("gradient of shape " + shape_str(gradient->shape) + " does not match the tensor's shape " + shape_str(root->data.shape));
  return astype(*gradient, root->data.dtype);
}

// The Tensor engine's policy; `OnGrad(node, g)` sees every node's complete
// gradient and may take g's buffer of a leaf.
template <class OnGrad>
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
  Array zero() const { return Array(); }
  void add(Array& sum, Array&& share) const {
    if (!share.storage) return;
    if (!sum.storage) sum = std::move(share);
    else sum = binary(BinaryKind::Add, sum, share);  // fan-out: sum over paths
  }
  bool has(const Array& g) const { return g.storage != nullptr; }
  void visit(TensorNode* n, Array& g) {
    if (!n->is_leaf() && n->freed)
      throw RuntimeError("Trying to backward through the graph a second time: its saved tensors were freed by the first "
                         "backward(); call backward(retain_graph=True) the first time to keep them");
    on_grad(n, g);
  }
  template <class To>
  void propagate(TensorNode* n, const Array& g, To&& to) {
    if (n->is_leaf()) return;
    std::vector<Array> pg = backward_rule(*n, g);
    for (std::size_t i = 0; i < n->parents.size(); ++i) {
      const TensorNode* p = n->parents[i].get();
      Array gi;
      if (i < pg.size() && pg[i].storage && p->requires_grad)
        gi = pg[i].dtype == p->data.dtype ? std::move(pg[i]) : astype(pg[i], p->data.dtype);
      to(i, std::move(gi));
    }
    if (!retain_graph) pass.freed.push_back(n->shared_from_this());
  }
};

// One sweep from root under sweep_mutex, then the release of saved buffers.
template <class OnGrad>
void sweep(const TensorPtr& root, Array g0, bool retain_graph, BackwardPass& pass, OnGrad&& on_grad) {
  TensorPolicy<OnGrad&> policy{pass, retain_graph, on_grad};
  auto& engine = shared_sweep();
  try {
    engine.run(root.get(), std::move(g0), policy);
  } catch (...) {
    engine.clear();  // the caller drops `pass` uncommitted
    throw;
  }
  engine.clear();  // the gradients it still holds: buffers, not numbers
  for (auto& n : pass.freed) {
    n->saved.clear();
    n->saved.shrink_to_fit();
    n->plan.reset();
    n->freed = true;
  }
}

}  // namespace

BackwardPass backward(const TensorPtr& root, const Array* gradient, bool retain_graph) {
  Array g0 = seed(root, gradient);
  BackwardPass pass;
  std::lock_guard<std::mutex> lock(sweep_mutex());
  sweep(root, std::move(g0), retain_graph, pass, [&pass](TensorNode* n, Array& g) {
    if (!n->is_leaf()) return;
    Array add = g.shape == n->data.shape ? std::move(g) : expand(g, n->data.shape);
    pass.leaf_grads.emplace_back(n->shared_from_this(), std::move(add));
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
      Array total = n->grad ? binary(BinaryKind::Add, n->grad->data, add) : own ? std::move(add) : copy(add);
      n->grad = make_leaf(std::move(total));
    }
    for (auto& n : pass.freed) {
      for (auto& p : n->parents) released.push_back(std::move(p));
      n->parents.clear();
    }
  }
  pass = BackwardPass{};
}

std::vector<Array> gradients(const TensorPtr& root, const std::vector<TensorPtr>& inputs, const Array* gradient,
                             bool retain_graph, BackwardPass& pass) {
  Array g0 = seed(root, gradient);
  std::unordered_map<TensorNode*, std::size_t> where;
  for (std::size_t i = 0; i < inputs.size(); ++i) where.emplace(inputs[i].get(), i);
  std::vector<Array> out(inputs.size());
  {
    std::lock_guard<std::mutex> lock(sweep_mutex());
    sweep(root, std::move(g0), retain_graph, pass, [&](TensorNode* n, Array& g) {
      auto w = where.find(n);
      if (w != where.end()) out[w->second] = copy(g);
    });
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (out[i].storage) {
      for (std::size_t j = 0; j < inputs.size(); ++j)  // the same input listed twice
        if (!out[j].storage && inputs[j] == inputs[i]) out[j] = out[i];
      continue;
    }
    out[i] = zeros(inputs[i]->data.shape, inputs[i]->data.dtype);
  }
  return out;
}

}  // namespace tapegrad
