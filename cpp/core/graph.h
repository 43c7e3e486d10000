// The one backward sweep shared by the scalar (Value) and the tensor engine:
// which node passes its gradient on when, and where the gradients that reach
// a node along several paths are summed. The engines supply a policy that
// says what a gradient is (a double, an Array) and what a node's rule does.
//
// Note [Backward pass]
// backward() must pass a node's gradient on only once it is complete, i.e.
// summed over every path from the root (the multivariable chain rule). The
// textbook sorts the graph with a recursive DFS and sweeps the order in
// reverse; recursion depth would be graph depth, and a 10^6-node chain would
// overflow the C stack. This sweep has two phases, both with explicit
// stacks, never recursion:
//  1. From the root, through exclusive nodes. A node whose reference count
//     is 1 when an edge reaches it has no other reference than that edge: no
//     Python object, no other consumer. The gradient that edge carries is
//     therefore its whole gradient, and the node can pass its own on at once,
//     with no topological sort and no slot. Chains of temporaries (most of a
//     deep expression) are swept this way in one visit per node. Every other
//     node reached gets a slot (its index in `seen_`, kept in the node, which
//     doubles as the visit mark: n has a slot iff seen_[slot(n)] == n) and
//     collects its gradient there: the frontier. The root has slot 0.
//  2. From the frontier, by dependency counting (as production engines do):
//     discovery gives each node reachable from the frontier a slot and counts
//     in `pending_` its consumers among them; the sweep then takes a node once
//     all those consumers have handed over their share, so its gradient is
//     complete, and passes upstream * local on.
// No node of phase 1 is reachable from the frontier: its only consumer was
// swept in phase 1 too, and so on up to the root, which would make a cycle.
// Reference counts may change meanwhile on other threads (only through
// Python objects, never in the edges of this graph, which the root keeps
// alive): a count read as 1 still means a single edge, and a larger one only
// sends the node to phase 2, which is always right.
//
// Every share starts from the policy's zero (a Value's 0.0 + g is what the
// reference computes, -0.0 included). A node that receives no gradient at all
// (a Tensor rule may hand none to an integer index) is not visited, but still
// counts as done for its parents. Summing three or more paths into one node
// may happen in another order than the reference's; two paths cannot differ.
//
// The policy P provides, for a Node and a gradient type G:
//   std::uint32_t& slot(Node*)           a field the sweep may use as it likes
//   std::size_t arity(const Node*)       number of parent edges
//   Node* parent(const Node*, i)         the i-th parent, or null to skip the edge
//   bool exclusive(const Node*, i)       the i-th parent's only reference is this edge
//   G zero()                             the start of every sum
//   void add(G& sum, G&& share)          sum += share
//   bool has(const G&)                   false for "no gradient" (zero() may be that)
//   void visit(Node*, G&)                the node's complete gradient, once; may
//                                        move from it only if the node has no parents
//   void propagate(Node*, const G&, To)  calls to(i, share) once per parent edge i
//   void prefetch(const Node*)           a hint: the node will be taken soon
//
// Note [Prefetch]
// In a graph that fans out (W3: every leaf feeds two products in a shuffled
// order) the nodes a sweep touches next are scattered over memory, and each
// first touch is a cache miss (~100 ns). The sweep knows a few steps ahead
// which nodes it takes next, the tops of its two stacks, so it hints them
// kPrefetch steps early; the Value policy then prefetches their parents,
// whose counts and slots the step reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "errors.h"

namespace tapegrad {

template <class Node, class G>
class Backprop {
 public:
  template <class P>
  void run(Node* root, G seed, P& policy);

  // Whether n has a slot in this run (after run(): got one), and its gradient if so.
  template <class P>
  bool reached(const Node* n, P& policy) const {
    std::uint32_t s = policy.slot(const_cast<Node*>(n));
    return s < seen_.size() && seen_[s] == n;
  }
  template <class P>
  G& gradient(const Node* n, P& policy) { return grad_[policy.slot(const_cast<Node*>(n))]; }

  // Forgets the last run (its gradients included), keeps the buffers' capacity
  // within the limit of trim().
  void clear() {
    reset();
    trim();
  }

  // Drops buffers grown by a huge graph, keeps ordinary ones for reuse.
  void trim() {
    constexpr std::size_t kKeep = std::size_t{1} << 20;
    if (seen_.capacity() > kKeep || exclusive_.capacity() > kKeep) *this = Backprop();
  }

 private:
  static constexpr std::size_t kPrefetch = 8;  // Note [Prefetch]

  struct Edge {
    Node* node;
    G upstream;  // the node's complete gradient
  };

  template <class P>
  void give_slot(Node* n, P& policy) {
    if (seen_.size() == std::numeric_limits<std::uint32_t>::max())
      throw RuntimeError("backward(): more than 2^32 - 1 nodes in one graph");
    policy.slot(n) = static_cast<std::uint32_t>(seen_.size());
    seen_.push_back(n);
    pending_.push_back(0);
    grad_.push_back(policy.zero());
  }

  void reset() {
    seen_.clear();
    pending_.clear();
    grad_.clear();
    stack_.clear();
    exclusive_.clear();
  }

  std::vector<Node*> seen_;
  std::vector<std::uint32_t> pending_;
  std::vector<G> grad_;
  std::vector<Node*> stack_;
  std::vector<Edge> exclusive_;
};

template <class Node, class G>
template <class P>
void Backprop<Node, G>::run(Node* root, G seed, P& policy) {
  reset();

  // Phase 1: the root, then every exclusive node below it. The loop goes
  // straight on to an exclusive parent and keeps any other on a stack; an
  // exclusive leaf (a Value constant) is finished on the spot.
  give_slot(root, policy);
  grad_[0] = std::move(seed);
  Node* n = root;
  G upstream = grad_[0];
  for (;;) {
    Node* next = nullptr;
    G next_upstream = policy.zero();
    if (policy.has(upstream)) {
      policy.visit(n, upstream);
      policy.propagate(n, upstream, [&](std::size_t i, G&& share) {
        Node* p = policy.parent(n, i);
        if (p == nullptr) return;
        if (!policy.exclusive(n, i)) {
          if (!reached(p, policy)) give_slot(p, policy);
          policy.add(grad_[policy.slot(p)], std::move(share));
          return;
        }
        G g = policy.zero();
        policy.add(g, std::move(share));
        if (!policy.has(g)) return;  // nothing reaches p, and p has no other consumer
        if (policy.arity(p) == 0) {
          policy.visit(p, g);
        } else if (next == nullptr) {
          next = p;
          next_upstream = std::move(g);
        } else {
          exclusive_.push_back({p, std::move(g)});
        }
      });
    }
    if (next != nullptr) {
      n = next;
      upstream = std::move(next_upstream);
    } else if (!exclusive_.empty()) {
      if (exclusive_.size() > kPrefetch) policy.prefetch(exclusive_[exclusive_.size() - 1 - kPrefetch].node);
      n = exclusive_.back().node;
      upstream = std::move(exclusive_.back().upstream);
      exclusive_.pop_back();
    } else {
      break;
    }
  }
  const std::size_t frontier = seen_.size();
  if (frontier == 1) return;

  // Phase 2, discovery: slots and consumer counts below the frontier.
  for (std::size_t i = 1; i < frontier; ++i) stack_.push_back(seen_[i]);
  while (!stack_.empty()) {
    if (stack_.size() > kPrefetch) policy.prefetch(stack_[stack_.size() - 1 - kPrefetch]);
    Node* m = stack_.back();
    stack_.pop_back();
    const std::size_t arity = policy.arity(m);
    for (std::size_t i = 0; i < arity; ++i) {
      Node* p = policy.parent(m, i);
      if (p == nullptr) continue;
      if (!reached(p, policy)) {
        give_slot(p, policy);
        stack_.push_back(p);
      }
      ++pending_[policy.slot(p)];
    }
  }
  // Phase 2, sweep: a node goes once its consumers are done. The ready
  // frontier is stacked in the order phase 1 reached it, so that the last
  // parent reached goes first, as a consumer's parents do below: the root's
  // paths into a shared node then add up in the reference's order.
  for (std::size_t i = 1; i < frontier; ++i)
    if (pending_[i] == 0) stack_.push_back(seen_[i]);
  while (!stack_.empty()) {
    if (stack_.size() > kPrefetch) policy.prefetch(stack_[stack_.size() - 1 - kPrefetch]);
    Node* m = stack_.back();
    stack_.pop_back();
    const std::uint32_t s = policy.slot(m);
    auto done = [&](Node* p) {
      if (--pending_[policy.slot(p)] == 0) stack_.push_back(p);  // a * a: ready after both edges
    };
    if (policy.has(grad_[s])) {
      G g = std::move(grad_[s]);
      policy.visit(m, g);
      policy.propagate(m, g, [&](std::size_t i, G&& share) {
        Node* p = policy.parent(m, i);
        if (p == nullptr) return;
        policy.add(grad_[policy.slot(p)], std::move(share));
        done(p);
      });
      grad_[s] = std::move(g);  // kept for gradient(): tg.grad reads inputs' gradients here
    } else {
      const std::size_t arity = policy.arity(m);
      for (std::size_t i = 0; i < arity; ++i)
        if (Node* p = policy.parent(m, i)) done(p);
    }
  }
}

}  // namespace tapegrad
