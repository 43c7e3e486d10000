// Storage: the dtypes, sizes checked before allocating, and the allocation of
// tensor memory (small buffers beside their control block, large ones through
// the buffer cache). See storage.h.
#include "storage.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <sstream>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tapegrad {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I64: return "int64";
  }
  return "?";
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ',';
  os << ')';
  return os.str();
}

namespace {

// Bytes a single allocation may ask for. Beyond physical memory an allocation
// either fails or, with overcommit, succeeds and gets the process killed when
// touched; refusing it up front turns both into a clean MemoryError.
std::uint64_t max_bytes() {
  static const std::uint64_t limit = [] {
    std::uint64_t lim = static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) / 2;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) lim = std::min<std::uint64_t>(lim, static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page));
#endif
    return lim;
  }();
  return limit;
}

// Small buffers share one heap block with their shared_ptr control block:
// allocate_shared asks this allocator for the control block once, and it
// hands out room for the bytes right behind it (16-byte aligned, as malloc's).
// That halves the allocations of every small op result.
template <class U>
struct TailAllocator {
  using value_type = U;
  std::size_t bytes;
  void** data;  // where allocate() reports the bytes; only read during allocate_shared
  TailAllocator(std::size_t b, void** d) : bytes(b), data(d) {}
  template <class V>
  TailAllocator(const TailAllocator<V>& o) : bytes(o.bytes), data(o.data) {}  // NOLINT: rebinding
  static std::size_t head(std::size_t n) { return (n * sizeof(U) + 15) / 16 * 16; }
  U* allocate(std::size_t n) {
    void* p = std::malloc(head(n) + bytes);
    if (p == nullptr) throw std::bad_alloc();
    *data = static_cast<char*>(p) + head(n);
    return static_cast<U*>(p);
  }
  void deallocate(U* p, std::size_t) noexcept { std::free(p); }
  template <class V> bool operator==(const TailAllocator<V>&) const { return true; }
  template <class V> bool operator!=(const TailAllocator<V>&) const { return false; }
};
struct TailOwner {};
constexpr std::size_t kTailBytes = 4096;  // larger buffers: calloc's lazily zeroed pages matter more

// Note [Buffer cache]
// Large buffers (beyond kTailBytes) go back to a small cache when freed and
// serve the next request of the same page-rounded size. A training step
// allocates the same sizes every time; without the cache glibc hands big
// blocks back to the kernel (munmap, or trimming the heap top) and the next
// step pays a page fault and a kernel zeroing per 4 KiB: 750 faults per W4
// step, a quarter of its time. A library gets no "idle" signal to empty such
// a cache on, so it is bounded instead: it holds at most `limit` bytes (64
// MiB unless tg.set_cache_limit says otherwise; 0 turns it off) in at most
// kMaxBlocks blocks, and a buffer that does not fit goes to free() as
// before. tg.empty_cache() frees everything it holds. So what a process
// keeps after dropping its tensors is at most the limit. It has its own
// mutex: buffers die wherever their last reference does, with or without
// the caller's lock. Under AddressSanitizer it is off, so that a use after
// free is still reported.
class BufferCache {
 public:
  static constexpr std::size_t kDefaultLimit = std::size_t{64} << 20;

  static std::size_t rounded(std::size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

  void* take(std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].size == size) {
        void* p = blocks_[i].ptr;
        blocks_[i] = blocks_.back();
        blocks_.pop_back();
        held_ -= size;
        return p;
      }
    }
    return nullptr;
  }

  // Keeps p (a block of `size` bytes) or frees it.
  void give(void* p, std::size_t size) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (held_ + size <= limit_ && blocks_.size() < kMaxBlocks) {
        blocks_.push_back({p, size});  // capacity reserved: cannot throw
        held_ += size;
        return;
      }
    }
    std::free(p);
  }

  // Frees the oldest blocks until at most `keep` bytes are held; returns the bytes freed.
  std::size_t shrink(std::size_t keep) noexcept {
    std::vector<Block> drop;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::size_t i = 0;
      for (; i < blocks_.size() && held_ > keep; ++i) held_ -= blocks_[i].size;
      drop.assign(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(i));
      blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    std::size_t freed = 0;
    for (const Block& b : drop) {
      freed += b.size;
      std::free(b.ptr);
    }
    return freed;
  }

  void set_limit(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
    }
    shrink(bytes);
  }

  CacheInfo info() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {held_, limit_, blocks_.size()};
  }

  BufferCache() { blocks_.reserve(kMaxBlocks); }

 private:
  static constexpr std::size_t kMaxBlocks = 64;
  struct Block {
    void* ptr;
    std::size_t size;
  };
  std::mutex mutex_;
  std::vector<Block> blocks_;
  std::size_t held_ = 0;
  std::size_t limit_ = kDefaultLimit;
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUseCache = false;
#else
constexpr bool kUseCache = true;
#endif

BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache();  // never destroyed: buffers may die at exit
  return *cache;
}

}  // namespace

// (Without the cache, as under AddressSanitizer, it never holds anything.)
CacheInfo cache_info() { return buffer_cache().info(); }
void set_cache_limit(std::size_t bytes) { buffer_cache().set_limit(bytes); }
std::size_t empty_cache() {
  std::size_t freed = buffer_cache().shrink(0);
#if defined(__GLIBC__)
  // glibc keeps freed heap memory for reuse (after a large free it even
  // raises its mmap threshold, so buffers of that size come from the heap
  // afterwards); emptying the cache is the moment to hand it back too.
  malloc_trim(0);
#endif
  return freed;
}

std::shared_ptr<void> allocate(std::int64_t numel, DType dtype, bool zero) {
  std::size_t bytes = static_cast<std::size_t>(std::max<std::int64_t>(numel, 1)) * itemsize(dtype);
  if (bytes <= kTailBytes) {
    void* data = nullptr;
    auto owner = std::allocate_shared<TailOwner>(TailAllocator<TailOwner>(bytes, &data));
    if (zero) std::memset(data, 0, bytes);
    return std::shared_ptr<void>(owner, data);  // aliasing: owns the block, points at the bytes
  }
  if (!kUseCache) {
    void* p = zero ? std::calloc(bytes, 1) : std::malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  const std::size_t size = BufferCache::rounded(bytes);
  void* p = buffer_cache().take(size);
  if (p != nullptr) {
    if (zero) std::memset(p, 0, bytes);
  } else {
    p = zero ? std::calloc(size, 1) : std::malloc(size);
    if (p == nullptr) throw std::bad_alloc();
  }
  // If the control block cannot be allocated, shared_ptr hands p to the deleter.
  return std::shared_ptr<void>(p, [size](void* q) { buffer_cache().give(q, size); });
}

namespace {

// The decimal digits of itemsize * prod(s), exactly, however large: the
// MemoryError message names the bytes asked for, as the reference's does.
std::string bytes_needed(const Shape& s, DType d) {
  std::vector<std::uint32_t> limbs{static_cast<std::uint32_t>(itemsize(d))};  // base 1e9, least significant first
  for (auto v : s) {
    std::uint64_t carry = 0;
    for (auto& limb : limbs) {
      // limb < 1e9 and v < 2^63: split v so that no partial product overflows
      const std::uint64_t x = static_cast<std::uint64_t>(v);
      const std::uint64_t lo = (x % 1000000000u) * limb + carry % 1000000000u;
      const std::uint64_t hi = (x / 1000000000u) * limb + carry / 1000000000u + lo / 1000000000u;
      limb = static_cast<std::uint32_t>(lo % 1000000000u);
      carry = hi;
    }
    for (; carry != 0; carry /= 1000000000u) limbs.push_back(static_cast<std::uint32_t>(carry % 1000000000u));
  }
  while (limbs.size() > 1 && limbs.back() == 0) limbs.pop_back();
  std::string out = std::to_string(limbs.back());
  for (std::size_t i = limbs.size() - 1; i-- > 0;) {
    std::string part = std::to_string(limbs[i]);
    out += std::string(9 - part.size(), '0') + part;
  }
  return out;
}

}  // namespace

MemoryError too_big(const Shape& s, DType d) {
  return MemoryError(std::string(d == DType::I64 ? "an " : "a ") + dtype_name(d) + " tensor of shape " + shape_str(s) + " needs " +
                     bytes_needed(s, d) + " bytes, more than this machine's memory");
}

std::int64_t checked_numel(const Shape& s, DType d) {
  std::uint64_t n = 1;
  const std::uint64_t limit = max_bytes() / itemsize(d);
  bool overflows = false, has_zero = false;
  for (auto v : s) {
    if (v < 0) throw ValueError("negative dimensions are not allowed: shape " + shape_str(s));
  }
  for (auto v : s) {
    if (v == 0) { has_zero = true; continue; }
    if (overflows) continue;
    if (static_cast<std::uint64_t>(v) > limit / n) overflows = true;
    else n *= static_cast<std::uint64_t>(v);
  }
  // Zero elements, but strides (products of the other dims) must still fit.
  if (has_zero) { check_shape(s, d); return 0; }
  if (overflows) throw too_big(s, d);
  return static_cast<std::int64_t>(n);
}

void check_shape(const Shape& s, DType d) {
  std::uint64_t bytes = itemsize(d);
  const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (auto v : s) {
    if (v < 0) throw ValueError("negative dimensions are not allowed: shape " + shape_str(s));
    if (v == 0) continue;
    if (static_cast<std::uint64_t>(v) > limit / bytes)
      throw ValueError("tensor is too big: shape " + shape_str(s) + " of " + dtype_name(d) + " overflows 64-bit sizes");
    bytes *= static_cast<std::uint64_t>(v);
  }
}

}  // namespace tapegrad
