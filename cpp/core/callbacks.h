// Code from outside the core that a backward pass calls: the backward of a
// tg.autograd.Function and the hooks of a tensor. The core knows them only
// through these interfaces; the bindings implement them (in Python).
//
// Note [Callbacks]
// A backward pass may run without the caller's lock (the bindings release
// the GIL around sweeps), but a callback needs it. So while any callback
// object exists (live_callbacks() > 0) the bindings keep the lock for every
// backward pass; otherwise nothing changes. A callback never runs while a
// pass waits for the lock, so no pass can wait for another that holds it.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace tapegrad {

struct Array;
struct TensorNode;
struct ValueNode;

// Counts the live callback objects (Note [Callbacks]).
class Callback {
 public:
  Callback() { count().fetch_add(1, std::memory_order_relaxed); }
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;
  virtual ~Callback() {
    if (counted_) count().fetch_sub(1, std::memory_order_relaxed);
  }
  static int live() { return count().load(std::memory_order_relaxed); }

 protected:
  // A callback implemented in the core (a compiled tape's backward) needs no lock: not counted.
  struct Native {};
  explicit Callback(Native) : counted_(false) {}

 private:
  bool counted_ = true;
  static std::atomic<int>& count() {
    static std::atomic<int> n{0};
    return n;
  }
};

inline int live_callbacks() { return Callback::live(); }

// The backward of a tg.autograd.Function on Tensors: one gradient per parent
// (null / without storage where a parent takes none). The fused sweep calls
// `backward` with grad mode off; the recorded one `backward_recorded`, whose
// results are graph nodes.
class TensorFunction : public Callback {
 public:
  TensorFunction() = default;
  virtual const std::string& name() const = 0;  // the Function class's name: the node's .op
  virtual std::vector<Array> backward(const Array& g) = 0;
  virtual std::vector<std::shared_ptr<TensorNode>> backward_recorded(const std::shared_ptr<TensorNode>& g) = 0;

 protected:
  explicit TensorFunction(Native n) : Callback(n) {}  // a compiled tape's backward (Note [Flat replay])
};

// The same on Values: gradients as numbers, or as recorded Value nodes (each
// with one reference, which the caller takes over; null for none).
class ValueFunction : public Callback {
 public:
  ValueFunction() = default;
  virtual const std::string& name() const = 0;
  virtual std::vector<double> backward(double g) = 0;
  virtual std::vector<ValueNode*> backward_recorded(ValueNode* g) = 0;
  // backward() from this node as the root may add g into its inputs' grad_
  // itself (a compiled result: Note [Compile]), given g's order of sums.
  virtual bool accumulates() const { return false; }

 protected:
  explicit ValueFunction(Native n) : Callback(n) {}
};

// Fresh random numbers for a compiled tape's replay (Note [Compile]): a
// draw from the stream the traced call drew from, with the same arguments.
class TensorSource : public Callback {
 public:
  virtual Array draw() = 0;
};

// A tensor hook: sees a node's complete gradient and returns the one to use
// (register_hook's fn(grad) -> grad or None).
class GradHook : public Callback {
 public:
  virtual Array apply(const Array& g) = 0;
  virtual std::shared_ptr<TensorNode> apply_recorded(const std::shared_ptr<TensorNode>& g) = 0;
};

}  // namespace tapegrad
