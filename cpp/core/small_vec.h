// Shapes and strides: a vector of int64 that keeps up to kInline elements
// inside the object. Every op builds a result shape and strides; with
// std::vector each was a heap allocation and a free, which on small tensors
// cost more than the arithmetic. Only the members the engine uses exist.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <new>
#include <type_traits>
#include <vector>

namespace tapegrad {

class SmallVec {
 public:
  using value_type = std::int64_t;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = std::int64_t&;
  using const_reference = const std::int64_t&;
  using pointer = std::int64_t*;
  using const_pointer = const std::int64_t*;
  using iterator = std::int64_t*;
  using const_iterator = const std::int64_t*;
  static constexpr std::size_t kInline = 6;

  SmallVec() noexcept = default;
  explicit SmallVec(std::size_t n, std::int64_t v = 0) { assign(n, v); }
  SmallVec(std::initializer_list<std::int64_t> il) { assign(il.begin(), il.end()); }
  template <class It, class = std::enable_if_t<!std::is_integral<It>::value>>
  SmallVec(It first, It last) { assign(first, last); }
  SmallVec(const std::vector<std::int64_t>& v) { assign(v.begin(), v.end()); }  // NOLINT: implicit on purpose
  SmallVec(const SmallVec& o) { assign(o.begin(), o.end()); }
  SmallVec(SmallVec&& o) noexcept { take(o); }
  ~SmallVec() { release(); }

  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) { release(); take(o); }
    return *this;
  }
  SmallVec& operator=(std::initializer_list<std::int64_t> il) { assign(il.begin(), il.end()); return *this; }
  operator std::vector<std::int64_t>() const { return std::vector<std::int64_t>(begin(), end()); }  // NOLINT

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::int64_t* data() noexcept { return ptr_; }
  const std::int64_t* data() const noexcept { return ptr_; }
  iterator begin() noexcept { return ptr_; }
  iterator end() noexcept { return ptr_ + size_; }
  const_iterator begin() const noexcept { return ptr_; }
  const_iterator end() const noexcept { return ptr_ + size_; }
  std::int64_t& operator[](std::size_t i) noexcept { return ptr_[i]; }
  const std::int64_t& operator[](std::size_t i) const noexcept { return ptr_[i]; }
  std::int64_t& front() noexcept { return ptr_[0]; }
  const std::int64_t& front() const noexcept { return ptr_[0]; }
  std::int64_t& back() noexcept { return ptr_[size_ - 1]; }
  const std::int64_t& back() const noexcept { return ptr_[size_ - 1]; }

  void reserve(std::size_t n) {
    if (n <= cap_) return;
    auto* p = static_cast<std::int64_t*>(::operator new(n * sizeof(std::int64_t)));
    if (size_) std::memcpy(p, ptr_, size_ * sizeof(std::int64_t));
    if (ptr_ != inline_) ::operator delete(ptr_);
    ptr_ = p;
    cap_ = n;
  }
  void clear() noexcept { size_ = 0; }
  void resize(std::size_t n, std::int64_t v = 0) {
    reserve(n);
    for (std::size_t i = size_; i < n; ++i) ptr_[i] = v;
    size_ = n;
  }
  void assign(std::size_t n, std::int64_t v) {
    size_ = 0;
    resize(n, v);
  }
  template <class It, class = std::enable_if_t<!std::is_integral<It>::value>>
  void assign(It first, It last) {
    const auto n = static_cast<std::size_t>(std::distance(first, last));
    size_ = 0;
    reserve(n);
    std::size_t i = 0;
    for (; first != last; ++first) ptr_[i++] = static_cast<std::int64_t>(*first);
    size_ = n;
  }
  void push_back(std::int64_t v) {
    if (size_ == cap_) reserve(cap_ * 2);
    ptr_[size_++] = v;
  }
  void pop_back() noexcept { --size_; }
  iterator insert(const_iterator pos, std::int64_t v) { return insert(pos, &v, &v + 1); }
  template <class It, class = std::enable_if_t<!std::is_integral<It>::value>>
  iterator insert(const_iterator pos, It first, It last) {
    const auto at = static_cast<std::size_t>(pos - ptr_);
    const auto n = static_cast<std::size_t>(std::distance(first, last));
    // copy the source first: it may point into this vector
    SmallVec src;
    src.assign(first, last);
    reserve(std::max(size_ + n, cap_ * 2));
    std::memmove(ptr_ + at + n, ptr_ + at, (size_ - at) * sizeof(std::int64_t));
    if (n) std::memcpy(ptr_ + at, src.ptr_, n * sizeof(std::int64_t));
    size_ += n;
    return ptr_ + at;
  }
  iterator erase(const_iterator pos) {
    const auto at = static_cast<std::size_t>(pos - ptr_);
    std::memmove(ptr_ + at, ptr_ + at + 1, (size_ - at - 1) * sizeof(std::int64_t));
    --size_;
    return ptr_ + at;
  }

  friend bool operator==(const SmallVec& a, const SmallVec& b) noexcept {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const SmallVec& a, const SmallVec& b) noexcept { return !(a == b); }

 private:
  void release() noexcept {
    if (ptr_ != inline_) ::operator delete(ptr_);
    ptr_ = inline_;
    cap_ = kInline;
    size_ = 0;
  }
  // o's elements move here; o is left empty and inline
  void take(SmallVec& o) noexcept {
    if (o.ptr_ == o.inline_) {
      std::memcpy(inline_, o.inline_, o.size_ * sizeof(std::int64_t));
      ptr_ = inline_;
      cap_ = kInline;
    } else {
      ptr_ = o.ptr_;
      cap_ = o.cap_;
      o.ptr_ = o.inline_;
      o.cap_ = kInline;
    }
    size_ = o.size_;
    o.size_ = 0;
  }

  std::int64_t* ptr_ = inline_;
  std::size_t size_ = 0;
  std::size_t cap_ = kInline;
  std::int64_t inline_[kInline];
};

}  // namespace tapegrad
