// The plan of a flat Tensor replay (Note [Flat replay] in docs/DESIGN.md),
// shared by tape_flat.cpp (the replay, the sweep) and tape_raw.cpp (the
// elementwise instructions on raw memory).
#pragma once

#include <cstdint>
#include <vector>

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
  std::vector<Array> like;
  std::vector<char> raw;
  std::vector<std::uint32_t> raw_inputs;
  void plan_raw(const Tape& t);
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
