// The tracer of tg.compile (docs/DESIGN.md, Note [Compile]): while on, the
// Value and Tensor engines log every node they make, in creation order, with
// its op and operands; tracked numbers, guards and stores are logged by the
// driver through the bindings. `finish` compiles the log into a Tape.
//
// The engines pay one relaxed load and a branch per op for it (`tracing()`);
// everything else happens only while a trace runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tape.h"

namespace tapegrad {

class Tracer;

namespace trace_detail {
inline std::atomic<Tracer*>& active() {
  static std::atomic<Tracer*> t{nullptr};
  return t;
}
}  // namespace trace_detail

// The tracer logging this thread's ops, or null (almost always).
Tracer* active_tracer();
inline bool tracing() { return trace_detail::active().load(std::memory_order_relaxed) != nullptr; }

// Note [Trace log blocks]
// The log keeps one Event per node the traced function makes, 120 bytes each
// (most of it the Tensor fields), and a scalar model makes many: W1's trace
// logs about 6.6 * 10^4, 8 MB. In one vector, each doubling moved every event
// logged so far into freshly mapped pages. BlockLog keeps them in blocks of
// 4096 that never move, indexed as one array.
// Fresh pages still cost a fault each: on the EPYC VM, 4.4 ms of W1's 11 ms
// trace went to faulting in its 8 MB. So the blocks of a finished log are
// kept for the next trace, up to 8 MiB (the node arena's bound on the chunks
// it keeps empty, Note [Node arena]); the rest go back to the allocator.
// W1's first call: 17.5 -> 12.6 ms; the very first trace of a process pays
// the faults.
template <class T>
class BlockLog {
 public:
  BlockLog() = default;
  BlockLog(const BlockLog&) = delete;
  BlockLog& operator=(const BlockLog&) = delete;
  ~BlockLog() { clear(); }

  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return blocks_[i >> kShift][i & kMask]; }
  const T& operator[](std::size_t i) const { return blocks_[i >> kShift][i & kMask]; }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    if ((size_ >> kShift) == blocks_.size()) blocks_.push_back(take_block());
    T& v = blocks_[size_ >> kShift].emplace_back(std::forward<Args>(args)...);
    ++size_;
    return v;
  }
  void clear() {
    for (std::vector<T>& b : blocks_) give_block(std::move(b));
    blocks_.clear();
    size_ = 0;
  }

 private:
  static constexpr unsigned kShift = 12;
  static constexpr std::size_t kBlock = std::size_t{1} << kShift, kMask = kBlock - 1;

  // Empty blocks kept for the next log (any thread's). Never destroyed: a
  // log may be cleared after static destructors ran.
  struct Spare {
    std::mutex mutex;
    std::vector<std::vector<T>> blocks;
  };
  static Spare& spare() {
    static Spare* s = new Spare;
    return *s;
  }
  static std::vector<T> take_block() {
    Spare& s = spare();
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (!s.blocks.empty()) {
        std::vector<T> b = std::move(s.blocks.back());
        s.blocks.pop_back();
        return b;
      }
    }
    std::vector<T> b;
    b.reserve(kBlock);  // filled to capacity, never beyond: no block moves
    return b;
  }
  static void give_block(std::vector<T>&& b) {
    constexpr std::size_t kKeep = (std::size_t{8} << 20) / (kBlock * sizeof(T));
    std::vector<T> block = std::move(b);
    block.clear();  // the events' destructors, outside the lock
    Spare& s = spare();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.blocks.size() < kKeep) s.blocks.push_back(std::move(block));
  }

  std::vector<std::vector<T>> blocks_;
  std::size_t size_ = 0;
};

// What finish() needs to know of a result.
struct TraceOutput {
  enum Kind : std::uint8_t { Value, Tensor, Number } kind = Number;
  ValueNode* value = nullptr;
  TensorPtr tensor;
  std::uint32_t ref = 0;        // Number: its reference
  std::uint8_t number_type = 0;  // Number: 0 float, 1 int, 2 bool
};

class Tracer {
 public:
  using Ref = std::uint32_t;  // a scalar or tensor produced while tracing (an event)

  Tracer();
  ~Tracer();  // releases every node it kept
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  void start();  // this thread's ops are logged from now on
  void stop();
  bool owned_by_this_thread() const { return owner_ == std::this_thread::get_id(); }

  // ---- arguments (before fn runs): position `leaf` of the flattened arguments
  Ref arg_number(std::uint32_t leaf, double value);
  void arg_value(std::uint32_t leaf, ValueNode* n);
  void arg_tensor(std::uint32_t leaf, const TensorPtr& t);

  // ---- the engines' hooks
  void on_value_leaf(ValueNode* n);
  void on_value_init(ValueNode* n);  // a leaf's data set by Value.__init__ after it was made
  void on_value_op(ValueNode* n, Op op, ValueNode* a, ValueNode* b);  // b null: unary
  void on_value_pow(ValueNode* n, ValueNode* a, double k);
  void on_value_function(ValueNode* n);
  void on_tensor(const TensorPtr& n);  // a node made by record() or make_leaf()

  // ---- the driver's (through the bindings)
  Ref value_ref(ValueNode* n);        // the slot of a Value (v.data): made here, an argument, or outside
  Ref number_const(double v);
  Ref number_op(Op op, Ref a, Ref b);  // b = kNoSlot for a unary op
  // A leaf made from a tracked number: its data is the number's at each replay.
  void value_from_number(ValueNode* leaf, Ref number);
  void tensor_from_number(const TensorPtr& leaf, Ref number);
  void tensor_detached(const TensorPtr& leaf, const TensorPtr& from);
  void tensor_draw(const TensorPtr& leaf, std::shared_ptr<TensorSource> source);
  // A dropout node's noise: `source` draws it afresh at each replay. A dropout
  // node without one is refused (its noise would be a constant of the tape).
  void tensor_noise(const TensorPtr& n, std::shared_ptr<TensorSource> source);
  // batch_norm's running statistics (either may be null): read by every
  // replay, and updated by it in training (on copies, stored once the guards held).
  void running_stats(const TensorPtr& n, const TensorPtr& mean, const TensorPtr& var);
  // t's values are about to change in place (batch_norm's update): a constant
  // made in fn keeps, for the tape, the values it was made with.
  void before_update(const TensorPtr& t);
  Ref item(const TensorPtr& t);       // t.item() as a tracked number
  // Ids read from Tensors, replayed from them: getitem's integer-array items at
  // the given positions, cross_entropy's labels.
  void index_from(const TensorPtr& n, const std::vector<IndexItem>& items,
                  const std::vector<std::pair<std::uint32_t, TensorPtr>>& sources);
  void labels_from(const TensorPtr& n, const TensorPtr& labels);
  // gather's index (along dim) and embedding's ids (dim unused), replayed from that tensor
  void ids_from(const TensorPtr& n, const TensorPtr& index, std::int64_t dim);
  void guard_truth(Ref r, bool expected);
  void guard_exact(Ref r, double expected);
  void guard_int(Ref r);
  void guard_tensor(const TensorPtr& t);  // its data, as it is now, must be read again at replay
  void store_value(ValueNode* target, Ref source);   // target.data = tracked number or Value data
  void store_tensor(const TensorPtr& target, const TensorPtr& source);
  // Something the tape cannot replay (a tg.autograd.Function): finish() then throws, naming it.
  void unsupported(const std::string& what);
  std::string unsupported_reason() const;

  // Compiles the log into a tape for these results. The driver's checks come
  // first: a RuntimeError names what cannot be replayed.
  TapePtr finish(const std::vector<TraceOutput>& outputs);
  // Lets go of every node the log holds (finish() first). Until then, the
  // nodes of fn are shared with the log, which would change eager's sweep of
  // the traced call's own result (Note [Backward pass]'s exclusive nodes).
  void drop_log();

 private:
  struct Event;
  Ref push(Event&& e);
  Ref add(int kind);  // a fresh event of this Event::Kind, made in place (the hot hooks)
  Ref tensor_ref(const TensorPtr& t);
  Event& event_of_value(ValueNode* n);
  void restore_leaves();

  BlockLog<Event> events_;  // Note [Trace log blocks]
  std::unordered_map<const ValueNode*, Ref> outside_values_;
  std::unordered_map<const TensorNode*, Ref> outside_tensors_;
  std::thread::id owner_;
  std::string unsupported_;
  std::size_t unsourced_noise_ = 0;  // dropout nodes logged without tensor_noise()
  bool started_ = false;
  friend class TapeBuilder;
};

// The engines call these (value.cpp, ops_elementwise.cpp): cheap when no trace runs.
inline Tracer* tracer_here() { return tracing() ? active_tracer() : nullptr; }

}  // namespace tapegrad
