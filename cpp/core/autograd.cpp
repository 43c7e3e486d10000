// The tensor backward sweep (Note [Gradient accumulation]) and the iterative
// destruction of graphs.
#include <atomic>
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

namespace {

std::atomic<std::uint64_t> next_mark{1};

struct Sweep {
  std::vector<TensorNode*> order;
  std::unordered_map<TensorNode*, Array> grads;
};

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
// gradient (the sum over all paths) in reverse topological order.
template <class Visit>
void sweep(const TensorPtr& root, Array g0, bool retain_graph, Visit&& visit) {
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
    visit(n, g);
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
    }
  }
}

}  // namespace

void backward(const TensorPtr& root, const Array* gradient, bool retain_graph) {
  Array g0 = seed(root, gradient);
  sweep(root, std::move(g0), retain_graph, [](TensorNode* n, const Array& g) {
    if (!n->is_leaf()) return;
    Array add = g.shape == n->data.shape ? g : expand(g, n->data.shape);
    Array total = n->grad ? binary(BinaryKind::Add, n->grad->data, add) : copy(add);
    n->grad = make_leaf(std::move(total));
  });
}

std::vector<Array> gradients(const TensorPtr& root, const std::vector<TensorPtr>& inputs, const Array* gradient,
                             bool retain_graph) {
  Array g0 = seed(root, gradient);
  std::unordered_map<TensorNode*, std::size_t> where;
  for (std::size_t i = 0; i < inputs.size(); ++i) where.emplace(inputs[i].get(), i);
  std::vector<Array> out(inputs.size());
  sweep(root, std::move(g0), retain_graph, [&](TensorNode* n, const Array& g) {
    auto w = where.find(n);
    if (w != where.end()) out[w->second] = copy(g);
  });
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
