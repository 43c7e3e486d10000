// The one topological sort shared by the scalar (Value) and the tensor engine.
//
// Note [Topological order]
// backward() must visit a node only after every node that consumes it, so
// that the node's gradient is complete (summed over all paths) before it is
// passed on. The textbook writes this as a recursive DFS:
//
//     def build(v): if v not seen: mark v; for p in v.parents: build(p); order.append(v)
//
// Recursion depth equals graph depth, and a 10^6-node chain would overflow the
// C stack, so we run the same post-order DFS with an explicit stack of
// (node, index of the next parent to visit) frames.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace tapegrad {

// Appends to `order` every node reachable from `root` that `try_mark` accepts,
// parents before children (post-order); the root comes last.
//   parent_count(n) -> std::size_t   number of parents of n
//   parent(n, i)    -> Node*         the i-th parent of n
//   try_mark(n)     -> bool          true the first time n is seen in this walk
template <class Node, class ParentCount, class Parent, class TryMark>
void topo_order(Node* root, ParentCount&& parent_count, Parent&& parent,
                TryMark&& try_mark, std::vector<Node*>& order) {
  if (root == nullptr || !try_mark(root)) return;
  std::vector<std::pair<Node*, std::size_t>> stack;
  stack.emplace_back(root, 0);
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < parent_count(node)) {
      Node* p = parent(node, next++);
      if (p != nullptr && try_mark(p)) stack.emplace_back(p, 0);  // may invalidate node/next
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
}

}  // namespace tapegrad
