// The tensor backward sweep (Note [Gradient accumulation]) and the iterative
// destruction of graphs.
#include <atomic>
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
// A sweep runs without the GIL (the bindings release it), so it must not
// write what Python threads read with the GIL held: a leaf's .grad and a
// node's .parents. It computes; commit() then applies, with the GIL held:
// it adds each leaf's gradient into .grad and, after a backward without
// retain_graph, clears .parents of every node the sweep went through (as the
// reference does, DESIGN Note [Tensor details]; the graph above the leaves is
// then freed at once). The pass holds shared_ptrs to those nodes, so nothing
// it names can die in between. Sweeps and commits take one mutex, so that
// two threads backpropagating through a shared graph do not mix their marks
// or free saved buffers under each other; a commit (GIL held) waits for a
// sweep (which never takes the GIL), never the other way round.
namespace {

std::atomic<std::uint64_t> next_mark{1};

std::mutex& sweep_mutex() {
  static std::mutex* m = new std::mutex();  // never destroyed: backward may run at exit
  return *m;
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

// Runs the reverse sweep; `visit(node, grad)` sees every node's complete
// gradient (the sum over all paths) in reverse topological order. Hold
// sweep_mutex.
template <class Visit>
void sweep(const TensorPtr& root, Array g0, bool retain_graph, BackwardPass& pass, Visit&& visit) {
  const std::uint64_t mark = next_mark++;
  std::vector<TensorNode*> order;
  topo_order<TensorNode>(
      root.get(), [](TensorNode* n) { return n->parents.size(); },
      [](TensorNode* n, std::size_t i) { return n->parents[i].get(); },
      [mark](TensorNode* n) {
        if (!n->requires_grad || n->mark == mark) return false;
        n->mark = mark;
        return true;
      },
      order);
  for (TensorNode* n : order)
    if (n->freed)
      throw RuntimeError("Trying to backward through the graph a second time: its saved tensors were freed by the first "
                         "backward(); call backward(retain_graph=True) the first time to keep them");
  std::unordered_map<TensorNode*, Array> grads;
  grads.emplace(root.get(), std::move(g0));
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorNode* n = *it;
    auto found = grads.find(n);
    if (found == grads.end()) continue;  // no path carries a gradient here
    Array g = std::move(found->second);
    grads.erase(found);
    visit(n, std::move(g));  // a leaf's visit may take g's buffer; g is not used after it
    if (n->is_leaf()) continue;
    std::vector<Array> pg = backward_rule(*n, g);
    for (std::size_t i = 0; i < n->parents.size() && i < pg.size(); ++i) {
      TensorNode* p = n->parents[i].get();
      if (!p->requires_grad || !pg[i].storage) continue;
      Array gi = pg[i].dtype == p->data.dtype ? std::move(pg[i]) : astype(pg[i], p->data.dtype);
      auto slot = grads.find(p);
      if (slot == grads.end()) grads.emplace(p, std::move(gi));
      else slot->second = binary(BinaryKind::Add, slot->second, gi);  // fan-out: sum over paths
    }
    if (!retain_graph) {
      n->saved.clear();
      n->saved.shrink_to_fit();
      n->plan.reset();
      n->freed = true;
      pass.freed.push_back(n->shared_from_this());
    }
  }
}

}  // namespace

BackwardPass backward(const TensorPtr& root, const Array* gradient, bool retain_graph) {
  Array g0 = seed(root, gradient);
  BackwardPass pass;
  std::lock_guard<std::mutex> lock(sweep_mutex());
  sweep(root, std::move(g0), retain_graph, pass, [&pass](TensorNode* n, Array&& g) {
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
    sweep(root, std::move(g0), retain_graph, pass, [&](TensorNode* n, Array&& g) {
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
