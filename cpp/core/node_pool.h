// A slab allocator for small fixed-size graph nodes.
//
// Nodes are carved from slabs of kSlabNodes and recycled through an intrusive
// free list, so creating a node is a pointer pop (no malloc, no atomics) and
// RSS stays flat when graphs of the same size are built and dropped again and
// again. Slabs are kept for reuse, never returned to the system. Not thread
// safe: the Value engine only allocates and frees with the caller's lock held
// (Note [Value node lifetime] in value.h).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace tapegrad {

// T must be trivially destructible (slabs are freed without destructors);
// `Link` names the void* member reused as the free-list link of a free node.
template <class T, void* T::*Link, std::size_t kSlabNodes = 8192>
class NodePool {
  static_assert(std::is_trivially_destructible_v<T>, "pool nodes are plain data");

 public:
  T* allocate() {
    if (free_ == nullptr) grow();
    T* n = free_;
    free_ = static_cast<T*>(n->*Link);
    ++live_;
    return n;
  }

  void deallocate(T* n) noexcept {
    n->*Link = free_;
    free_ = n;
    --live_;
  }

  // Makes sure the next `count` allocations cannot throw.
  void reserve(std::size_t count) {
    std::size_t have = 0;
    for (T* n = free_; n != nullptr && have < count; n = static_cast<T*>(n->*Link)) ++have;
    if (have < count) grow();
  }

  std::size_t live() const { return live_; }
  std::size_t capacity() const { return slabs_.size() * kSlabNodes; }

 private:
  void grow() {
    std::unique_ptr<T[]> slab(new T[kSlabNodes]);  // std::bad_alloc -> MemoryError
    T* nodes = slab.get();
    slabs_.push_back(std::move(slab));
    // Thread the new nodes onto the free list in address order.
    for (std::size_t i = kSlabNodes; i-- > 0;) {
      nodes[i].*Link = free_;
      free_ = &nodes[i];
    }
  }

  T* free_ = nullptr;
  std::size_t live_ = 0;
  std::vector<std::unique_ptr<T[]>> slabs_;
};

}  // namespace tapegrad
