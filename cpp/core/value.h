// The scalar graph engine behind tapegrad.Value: nodes, their lifetime, and
// backpropagation. No Python here; the bindings own the Python objects.
//
// Note [Value node lifetime]
// A node is a small POD allocated from a pool (node_pool.h) and owned through
// an intrusive, non-atomic reference count: each child holds one reference
// per parent slot, and the bindings hold one for the Python object wrapping
// the node. Creating and destroying nodes, and changing counts, happen only
// while the caller holds the engine's lock (the bindings: the GIL), which
// makes the non-atomic counts and the pool's free list safe. When a count reaches zero the node's parents are
// released through an explicit worklist threaded through the dead nodes
// (never recursion), so dropping a 10^6-node chain is a loop, not 10^6 nested
// calls. A plain number in `a + 2` becomes a constant leaf node here, with no
// Python object behind it.
//
// Note [Value handle]
// `handle_` is an opaque back-pointer the bindings set to the live Python
// object wrapping the node (or null). It lets `c.parents[0] is a` hold: the
// bindings hand out the existing object instead of a new wrapper. The core
// never dereferences it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "callbacks.h"
#include "op_table.h"

namespace tapegrad {

// How many items ahead a loop over a long list of scattered nodes or objects
// (a compiled result's 10^5 inputs) prefetches the one it will touch
// (graph.h, Note [Prefetch]).
constexpr std::size_t kAhead = 16;

struct ValueNode;

// What the sweep reads of a Value op for every node, one small table of the
// op table's projection on Value (codes < 32): the arity (-1 for a Function)
// and whether its local gradient reads the node's output.
struct ValueOpFacts {
  std::int8_t arity;
  bool reads_output;
};
inline constexpr auto kValueOps = [] {
  std::array<ValueOpFacts, 32> t{};
  for (int i = 0; i < value_op_limit(); ++i)
    t[static_cast<std::size_t>(i)] = {static_cast<std::int8_t>(kOps[i].arity), kOps[i].saves == Saves::Output};
  return t;
}();

// A tg.autograd.Function node's inputs and backward (op Function): its
// arity is the number of inputs, and parent0_ is the first of them.
struct ValueFunctionNode {
  std::vector<ValueNode*> inputs;
  std::shared_ptr<ValueFunction> fn;
};

// Note [Value node layout]
// 48 bytes, so that a graph costs under a third of the reference's memory:
// the op, the reference count and a "has a label" bit share one 32-bit word,
// and labels (rare) live in a side table keyed by node. Only lock holders
// write `meta_`, but a backward pass running without the lock reads the op
// from it meanwhile, so the word is a relaxed atomic: on every mainstream CPU
// its loads and stores are plain moves (no locked instructions), and the
// concurrent read is well defined. A backward pass writes only `grad_` and
// `mark_` (passes are serialised against each other). Assigning .grad or
// .data of a graph that another thread is backpropagating is a race in user
// code, as in PyTorch. What an op reads of an operand (`meta_` to retain it,
// `data_`) comes first, next to the host room in front (Note [Host room]).
struct ValueNode {
  std::atomic<std::uint32_t> meta_;  // refs (kRefBits) | op << kRefBits | has-label bit
  std::uint32_t mark_;    // position in the current backward pass's visit list
  double data_;
  double grad_;
  ValueNode* parent0_;  // first parent (null for leaves)
  union {
    ValueNode* parent1_;           // second parent of a binary op
    double k_;                     // the exponent of "**k"
    ValueFunctionNode* function_;  // op Function
  };
  void* handle_;          // Note [Value handle]; the worklist link of dead nodes

  static constexpr int kRefBits = 25;  // then 5 bits of op
  static constexpr std::uint32_t kRefMax = (std::uint32_t{1} << kRefBits) - 1;
  static constexpr std::uint32_t kRoomBit = std::uint32_t{1} << 30;  // Note [Host room]
  static constexpr std::uint32_t kLabelBit = std::uint32_t{1} << 31;

  std::uint32_t meta() const { return meta_.load(std::memory_order_relaxed); }
  // Only lock holders call this: a load and a store, never a locked read-modify-write.
  void set_meta(std::uint32_t m) { meta_.store(m, std::memory_order_relaxed); }
  Op op() const { return static_cast<Op>((meta() >> kRefBits) & 0x1f); }
  std::uint32_t refs() const { return meta() & kRefMax; }
  bool has_label() const { return (meta() & kLabelBit) != 0; }
  bool has_room() const { return (meta() & kRoomBit) != 0; }
  int arity() const {
    const int a = kValueOps[static_cast<std::size_t>(op())].arity;
    return a >= 0 ? a : static_cast<int>(function_->inputs.size());  // only Function's is not fixed
  }
  ValueNode* parent(int i) const {
    if (i == 0) return parent0_;
    return op() == Op::Function ? function_->inputs[static_cast<std::size_t>(i)] : parent1_;
  }
};
static_assert(sizeof(void*) != 8 || sizeof(ValueNode) == 48, "Note [Value node layout]");

// Note [Host room]
// A leaf made by make_leaf (a user's `Value(x)`, a parameter) has kHostRoom
// bytes of its own just before it, for the bindings to build the leaf's
// Python object in (value_object.h, Note [Value object in the node's room]):
// the object then lies next to its node, in the node arena's huge pages. Such
// leaves are what a program reads in a scattered order, again and again (W3's
// `xs[i] * xs[j]`, a model's weights), and each such read now misses the
// cache once, not once for the object in CPython's heap and once more for the
// node, and needs no page walk for the object: W3's forward pass is 0.8x. An
// op's result gets no room: it is mostly read right after it is made, its
// object often dies at once (`y * 0.999` in W2), and CPython's allocator hands
// that object's memory, still in cache, to the next one; a room would add 32
// bytes of fresh memory to every node instead (W2 backward 1.09x, measured).
// Constants and op results are 48 bytes, leaves 80. The core zeroes the room
// when it makes the leaf and never reads it; the room goes with the node. The
// room bit of meta_ says which nodes have one.
constexpr std::size_t kHostRoom = 32;
struct alignas(16) ValueSlot {
  unsigned char host[kHostRoom];
  ValueNode node;
};
static_assert(sizeof(void*) != 8 || sizeof(ValueSlot) == 80, "Note [Host room]");
inline void* host_room(ValueNode* n) {  // only if n->has_room()
  return reinterpret_cast<unsigned char*>(n) - offsetof(ValueSlot, node);
}

// ---- lifetime (the caller's lock held) -------------------------------------------------
// A count that reaches kRefMax (33 million uses of one node) sticks there:
// the node is then never freed, which leaks but stays correct.
inline void retain(ValueNode* n) {
  if (n->refs() != ValueNode::kRefMax) n->set_meta(n->meta() + 1);
}
void destroy(ValueNode* n) noexcept;  // frees n (refs 0) and every parent only it kept alive
inline void release(ValueNode* n) noexcept {
  std::uint32_t refs = n->refs();
  if (refs == ValueNode::kRefMax) return;
  n->set_meta(n->meta() - 1);
  if (refs == 1) destroy(n);
}
// Frees a freshly made node nobody took a reference to (error paths).
inline void discard_if_unowned(ValueNode* n) noexcept {
  if (n != nullptr && n->refs() == 0) destroy(n);
}

// ---- construction (the caller's lock held). Results start with refs 0: the caller retains.
// Under no_grad (grad_mode.h) an op returns a leaf holding its result.
ValueNode* make_leaf(double data);
ValueNode* make_unary(Op op, ValueNode* a);            // neg, abs, relu, tanh, ...
ValueNode* make_pow_const(ValueNode* a, double k);     // "**k"
ValueNode* make_binary(Op op, ValueNode* a, ValueNode* b);
ValueNode* make_binary(Op op, ValueNode* a, double b);  // b becomes a constant leaf
ValueNode* make_binary(Op op, double a, ValueNode* b);  // a becomes a constant leaf
// tg.autograd.Function: a node holding `data` computed outside the core from
// `inputs` (at least one), whose backward is `fn`.
ValueNode* make_function(double data, const std::vector<ValueNode*>& inputs, std::shared_ptr<ValueFunction> fn);

// ---- attributes ------------------------------------------------------------
std::string op_string(const ValueNode* n);  // "+", "**2", "" ..., a Function's class name
const std::string& label(const ValueNode* n);
void set_label(ValueNode* n, const std::string& text);
// Made by a recorded backward pass (value_recorded.cpp marks them).
bool from_backward(const ValueNode* n);
void mark_from_backward(ValueNode* n);
// d(n)/d(parent i) at the current forward values; one entry per parent.
std::vector<double> local_grads(const ValueNode* n);

// ---- backpropagation (Note [Gradient accumulation]) -----------------------
// Need not hold the caller's lock: they read the graph and write only grad_ and mark_
// (serialised by an internal mutex), and never create or free nodes. The
// caller must keep `root` alive (which keeps its whole graph alive).
//
// Adds d(root)/d(node) of this pass to grad_ of every node reachable from root.
void backward(ValueNode* root);
// This pass's d(root)/d(input) for each input (0 if unreachable), seeded with
// `seed`; grad_ untouched.
std::vector<double> gradients(ValueNode* root, const std::vector<ValueNode*>& inputs,
                              double seed);
// The same gradients recorded as graph nodes (tg.grad with create_graph): the
// backward pass applies each local-gradient rule with Value ops, so the
// results can be differentiated again. Each result has one reference, which
// the caller takes over (a constant 0 leaf where an input is unreachable).
// Creates nodes, so the caller's lock is held throughout, as for any op.
// A `seed_node` (else the number `seed`) starts the pass: the results then
// depend on it too.
std::vector<ValueNode*> recorded_gradients(ValueNode* root, const std::vector<ValueNode*>& inputs,
                                           double seed, ValueNode* seed_node = nullptr);

// ---- introspection (tests, benchmarks) ---------------------------------------
std::size_t live_value_nodes();   // nodes currently allocated
std::size_t pooled_value_bytes();  // the memory of the pool's chunks (live nodes and free space)
std::size_t labelled_value_nodes();  // entries of the label side table

}  // namespace tapegrad
