// The plan of a flat Tensor replay (Note [Flat replay] in docs/DESIGN.md),
// shared by tape_flat.cpp (the replay, the sweep) and tape_raw.cpp (the
// elementwise instructions on raw memory).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.h"
#include "tape.h"

namespace tapegrad {

struct Tape::FlatPlan {
  std::uint32_t root = kNoSlot;            // the tensor slot of the one Tensor result that requires grad
  std::vector<char> grad;                  // per tensor slot: its node requires grad (an edge of eager's graph)
  std::vector<char> keep;                  // per tensor slot: an elementwise rule reads it, or it is returned
  std::vector<char> elementwise;           // per tensor instruction: run by an array kernel, no node
  std::vector<std::uint32_t> order;        // tensor instructions with an edge, in eager's visiting order from root
  std::vector<std::uint32_t> grad_inputs;  // indices into inputs: the tensor inputs that require grad, in order
  std::vector<char> input_slot;            // per tensor slot: an input's
  std::vector<char> pooled;                // per tensor slot: small, computed here: its buffers are reused
  // The raw program (tape_raw.cpp): per tensor slot its shape and dtype as
  // traced (an Array without storage) where known; per instruction whether
  // it runs on raw memory; the input slots a call must find dense to run it.
  struct RawStep {
    Op op;
    DType dt;
    Saves saves;
    bool binary;
    std::int8_t pass[2];  // a Binary rule's shares: g (1), -g (-1), computed (0)
    std::uint32_t a, b, out;
    std::int64_t n;
    double k, k2;
    // the loops, picked once (kernels.h)
    UnaryRawFn unary = nullptr, neg = nullptr;
    BinaryRawFn binary_fn = nullptr, add = nullptr;
    UnaryGradRawFn unary_grad = nullptr;
    BinaryGradRawFn binary_grad[2] = {nullptr, nullptr};
  };
  std::vector<Array> like;
  std::vector<RawStep> steps;                 // the raw instructions, in tape order
  std::vector<std::uint32_t> step_of;         // per tensor instruction: its step, or kNoSlot
  std::vector<std::uint32_t> raw_inputs;      // input slots the steps read
  std::vector<std::uint32_t> raw_outs;        // slots the steps write
  std::vector<std::pair<std::uint32_t, std::uint32_t>> raw_consts;  // (slot, instruction): constants they read
  std::vector<char> as_array;                 // per slot a step writes: read as an Array too (r.a)
  std::vector<char> bufferable;               // per slot: its gradient may be summed in its buffer (raw)
  std::vector<std::uint32_t> bwd_slots;       // those slots
  void plan_raw(const Tape& t);
  void plan_arrays(const Tape& t);
  // What a call touches, so that its set-up and clean-up do not walk every slot:
  std::vector<std::uint32_t> input_slots;    // the tensor inputs' slots
  std::vector<std::uint32_t> drop_slots;     // arrays dropped after forward (nothing reads them later)
  std::vector<std::uint32_t> array_slots;    // slots that may hold an array (r.a)
  std::vector<std::uint32_t> holder_slots;   // slots that may hold a node (r.t) other than an input's
  std::vector<std::uint32_t> generic;        // instructions that record a node (r.nodes)
  std::vector<std::uint32_t> grad_slots;     // slots that may hold a gradient
  void plan_lists(const Tape& t);
};

// Buffers up to this size are reused from call to call: above it a kernel's
// work dwarfs an allocation, and a pool would hold large arrays while idle.
constexpr std::int64_t kPooledBytes = 64 * 1024;

// buf can take the next result: it exists and nothing but the pool holds it.
inline bool reusable(const Array& buf) { return buf.storage != nullptr && buf.storage.use_count() == 1; }

// The pool keeps `fresh` as the slot's buffer: a whole contiguous array no one else holds.
inline void adopt(Array& buf, const Array& fresh) {
  if (buf.storage == fresh.storage || fresh.storage.use_count() != 1 || fresh.offset != 0 || !fresh.is_contiguous()) return;
  buf = fresh;
}

inline bool present(const Array& g) { return g.storage != nullptr; }

}  // namespace tapegrad
