// Storage, shapes and views (see tensor.h).
#include "tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <numeric>
#include <sstream>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace tapegrad {

const char* dtype_name(DType d) { return d == DType::F32 ? "float32" : "float64"; }

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
// step, a quarter of its time. The cache holds at most kCacheBytes, blocks of
// at most kCacheBlock each; anything else goes to free() as before. It has its
// own mutex: buffers die wherever their last reference does, with or without
// the GIL. Under AddressSanitizer it is off, so that a use after free is
// still reported.
class BufferCache {
 public:
  static constexpr std::size_t kCacheBytes = std::size_t{256} << 20;
  static constexpr std::size_t kCacheBlock = std::size_t{64} << 20;

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
      if (size <= kCacheBlock && held_ + size <= kCacheBytes && blocks_.size() < kMaxBlocks) {
        blocks_.push_back({p, size});  // capacity reserved: cannot throw
        held_ += size;
        return;
      }
    }
    std::free(p);
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

}  // namespace

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
  return MemoryError(std::string("a ") + dtype_name(d) + " tensor of shape " + shape_str(s) + " needs " +
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

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<std::int64_t>(s[i], 1);
  }
  return st;
}

std::int64_t Array::numel() const {
  std::int64_t n = 1;
  for (auto v : shape) n *= v;
  return n;
}

bool Array::is_contiguous() const {
  std::int64_t acc = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != acc) return shape[i] == 0 ? true : false;
    acc *= shape[i];
  }
  return true;
}

Array empty(const Shape& shape, DType dtype) {
  std::int64_t n = checked_numel(shape, dtype);
  return Array{allocate(n, dtype, false), dtype, shape, contiguous_strides(shape), 0};
}

Array zeros(const Shape& shape, DType dtype) {
  std::int64_t n = checked_numel(shape, dtype);
  return Array{allocate(n, dtype, true), dtype, shape, contiguous_strides(shape), 0};
}

Array full(const Shape& shape, DType dtype, double value) {
  Array a = empty(shape, dtype);
  std::int64_t n = a.numel();
  if (dtype == DType::F32) std::fill_n(a.data<float>(), n, static_cast<float>(value));
  else std::fill_n(a.data<double>(), n, value);
  return a;
}

Array scalar_array(double value, DType dtype) { return full({}, dtype, value); }

Array from_external(void* data, std::shared_ptr<void> owner, DType dtype, Shape shape, Shape strides) {
  // aliasing constructor: shares ownership with `owner`, points at `data`
  std::shared_ptr<void> storage(std::move(owner), data);
  return Array{std::move(storage), dtype, std::move(shape), std::move(strides), 0};
}

namespace {

template <class S, class D>
void copy_strided(const Array& src, D* out) {
  const S* base = src.data<S>();
  const std::int64_t nd = src.ndim();
  const std::int64_t n = src.numel();
  if (n == 0) return;
  if (nd == 0) { out[0] = static_cast<D>(base[0]); return; }
  std::vector<std::int64_t> idx(nd, 0);
  const std::int64_t inner = src.shape[nd - 1], is = src.strides[nd - 1];
  std::int64_t off = 0;
  for (std::int64_t done = 0; done < n; done += inner) {
    const S* p = base + off;
    if (is == 1) for (std::int64_t j = 0; j < inner; ++j) out[j] = static_cast<D>(p[j]);
    else for (std::int64_t j = 0; j < inner; ++j) out[j] = static_cast<D>(p[j * is]);
    out += inner;
    for (std::int64_t d = nd - 2; d >= 0; --d) {  // odometer over the outer dimensions
      off += src.strides[d];
      if (++idx[d] < src.shape[d]) break;
      off -= src.strides[d] * src.shape[d];
      idx[d] = 0;
    }
  }
}

Array copy_as(const Array& a, DType dtype) {
  Array out = empty(a.shape, dtype);
  if (a.dtype == DType::F32) {
    if (dtype == DType::F32) copy_strided<float, float>(a, out.data<float>());
    else copy_strided<float, double>(a, out.data<double>());
  } else {
    if (dtype == DType::F32) copy_strided<double, float>(a, out.data<float>());
    else copy_strided<double, double>(a, out.data<double>());
  }
  return out;
}

}  // namespace

Array copy(const Array& a) { return copy_as(a, a.dtype); }
Array contiguous(const Array& a) { return a.is_contiguous() ? a : copy_as(a, a.dtype); }
Array astype(const Array& a, DType dtype) { return a.dtype == dtype ? a : copy_as(a, dtype); }

double item(const Array& a) {
  if (a.numel() != 1)
    throw ValueError("only a tensor with one element can be converted to a Python scalar, got shape " + shape_str(a.shape));
  return a.dtype == DType::F32 ? static_cast<double>(*a.data<float>()) : *a.data<double>();
}

std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim) {
  std::int64_t n = std::max<std::int64_t>(ndim, 1);
  if (dim < -n || dim >= n)
    throw ValueError("dim " + std::to_string(dim) + " is out of range for a tensor with " + std::to_string(ndim) + " dimensions");
  return dim < 0 ? dim + n : dim;
}

std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim) {
  std::vector<std::int64_t> out;
  for (auto d : dims) out.push_back(normalize_dim(d, ndim));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) throw ValueError("dim repeats a dimension");
  if (ndim == 0) out.clear();
  return out;
}

Shape infer_reshape(const Shape& from, const Shape& to) {
  std::int64_t total = 1;
  for (auto v : from) total *= v;
  Shape out = to;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < to.size(); ++i) {
    if (to[i] == -1) {
      if (infer >= 0) throw ValueError("can only specify one unknown dimension in reshape to " + shape_str(to));
      infer = static_cast<std::int64_t>(i);
    } else if (to[i] < 0) {
      throw ValueError("negative dimensions are not allowed: cannot reshape to " + shape_str(to));
    }
  }
  Shape fixed = to;  // the target's product, -1 aside, must not overflow (itemsize 1 here; reshape checks bytes)
  if (infer >= 0) fixed[infer] = 1;
  check_shape(fixed, DType::F32);
  for (auto v : fixed) known *= v;
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      throw ValueError("cannot reshape a tensor of shape " + shape_str(from) + " into shape " + shape_str(to));
    out[infer] = total / known;
  } else if (known != total) {
    throw ValueError("cannot reshape a tensor of shape " + shape_str(from) + " into shape " + shape_str(to));
  }
  return out;
}

Array reshape(const Array& a, const Shape& shape) {
  Shape to = infer_reshape(a.shape, shape);
  check_shape(to, a.dtype);
  Array src = contiguous(a);
  Array out = src;
  out.shape = to;
  out.strides = contiguous_strides(to);
  return out;
}

Array permute(const Array& a, const std::vector<std::int64_t>& dims) {
  if (static_cast<std::int64_t>(dims.size()) != a.ndim())
    throw ValueError("permute needs " + std::to_string(a.ndim()) + " dims for a tensor of shape " + shape_str(a.shape) + ", got " + std::to_string(dims.size()));
  std::vector<std::int64_t> nd;
  std::vector<bool> seen(a.shape.size(), false);
  for (auto d : dims) {
    auto k = normalize_dim(d, a.ndim());
    if (a.ndim() == 0) continue;
    if (seen[k]) throw ValueError("permute dims repeat a dimension");
    seen[k] = true;
    nd.push_back(k);
  }
  Array out = a;
  for (std::size_t i = 0; i < nd.size(); ++i) {
    out.shape[i] = a.shape[nd[i]];
    out.strides[i] = a.strides[nd[i]];
  }
  return out;
}

Array transpose(const Array& a, std::int64_t d0, std::int64_t d1) {
  Array out = a;
  if (a.ndim() == 0) { normalize_dim(d0, 0); normalize_dim(d1, 0); return out; }
  d0 = normalize_dim(d0, a.ndim());
  d1 = normalize_dim(d1, a.ndim());
  std::swap(out.shape[d0], out.shape[d1]);
  std::swap(out.strides[d0], out.strides[d1]);
  return out;
}

Array expand(const Array& a, const Shape& shape) {
  if (shape.size() < a.shape.size())
    throw ValueError("shapes " + shape_str(a.shape) + " and " + shape_str(shape) + " do not broadcast");
  check_shape(shape, a.dtype);
  Array out = a;
  std::size_t lead = shape.size() - a.shape.size();
  out.shape = shape;
  out.strides.assign(shape.size(), 0);
  for (std::size_t i = 0; i < a.shape.size(); ++i) {
    if (a.shape[i] == shape[lead + i]) out.strides[lead + i] = a.strides[i];
    else if (a.shape[i] != 1)
      throw ValueError("shapes " + shape_str(a.shape) + " and " + shape_str(shape) + " do not broadcast");
  }
  return out;
}

namespace {

// Python's slice.indices(): clamp start/stop to the dimension and count.
std::int64_t resolve_slice(std::int64_t len, const IndexItem& it, std::int64_t& start) {
  const std::int64_t step = it.step;
  if (step == 0) throw ValueError("slice step cannot be zero");
  const std::int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? len : len - 1;
  auto clamp = [&](std::int64_t v) {
    if (v < 0) { v += len; if (v < lower) v = lower; }
    else if (v > upper) v = upper;
    return v;
  };
  start = it.has_start ? clamp(it.start) : (step > 0 ? lower : upper);
  std::int64_t stop = it.has_stop ? clamp(it.stop) : (step > 0 ? upper : lower);
  if (step > 0) return start < stop ? (stop - start - 1) / step + 1 : 0;
  return stop < start ? (start - stop - 1) / (-step) + 1 : 0;
}

std::int64_t wrap_index(std::int64_t i, std::int64_t len, std::int64_t axis) {
  if (i < -len || i >= len)
    throw IndexError("index " + std::to_string(i) + " is out of bounds for axis " + std::to_string(axis) + " with size " + std::to_string(len));
  return i < 0 ? i + len : i;
}

struct Layout {
  Shape shape, strides;
  std::int64_t offset = 0;
  bool advanced = false;
  std::vector<std::int64_t> flat;  // advanced: element offsets, row-major over `shape`
};

// Indexes the layout (shape, strides, offset) with NumPy's rules.
Layout index_layout(const Shape& shape, const Shape& strides, std::int64_t offset, const std::vector<IndexItem>& items) {
  bool any_array = false;
  std::int64_t consumed = 0, ellipses = 0;
  for (auto& it : items) {
    if (it.kind == IndexItem::IntArray) any_array = true;
    if (it.kind == IndexItem::Ellipsis) ++ellipses;
    else if (it.kind != IndexItem::NewAxis) ++consumed;
  }
  const std::int64_t nd = static_cast<std::int64_t>(shape.size());
  if (ellipses > 1) throw IndexError("an index can only have a single ellipsis ('...')");
  if (consumed > nd)
    throw IndexError("too many indices for tensor: tensor is " + std::to_string(nd) + "-dimensional, but " + std::to_string(consumed) + " were indexed");

  Layout L;
  L.offset = offset;
  // advanced parts: the out-dim position where each sits, its values, shape and stride
  struct Adv { std::size_t pos; const IndexItem* item; std::int64_t size, stride, axis; std::int64_t scalar; bool is_scalar; };
  std::vector<Adv> adv;
  std::int64_t d = 0;
  auto take_rest = [&](std::int64_t upto) {
    for (; d < upto; ++d) { L.shape.push_back(shape[d]); L.strides.push_back(strides[d]); }
  };
  for (auto& it : items) {
    switch (it.kind) {
      case IndexItem::Ellipsis: take_rest(d + (nd - consumed)); break;
      case IndexItem::NewAxis: L.shape.push_back(1); L.strides.push_back(0); break;
      case IndexItem::Int: {
        std::int64_t i = wrap_index(it.i, shape[d], d);
        if (any_array) adv.push_back({L.shape.size(), &it, shape[d], strides[d], d, i, true});
        else L.offset += i * strides[d];
        ++d;
        break;
      }
      case IndexItem::Slice: {
        std::int64_t start = 0;
        std::int64_t n = resolve_slice(shape[d], it, start);
        if (n > 0) L.offset += start * strides[d];
        L.shape.push_back(n);
        L.strides.push_back(strides[d] * it.step);
        ++d;
        break;
      }
      case IndexItem::IntArray:
        adv.push_back({L.shape.size(), &it, shape[d], strides[d], d, 0, false});
        ++d;
        break;
    }
  }
  take_rest(nd);
  if (adv.empty()) return L;

  // Broadcast the index arrays together (ints count as 0-d arrays here).
  Shape B;
  for (auto& a : adv) {
    if (a.is_scalar) continue;
    const Shape& s = a.item->shape;
    Shape nb(std::max(B.size(), s.size()), 1);
    for (std::size_t k = 0; k < nb.size(); ++k) {
      std::int64_t x = k + B.size() >= nb.size() ? B[k + B.size() - nb.size()] : 1;
      std::int64_t y = k + s.size() >= nb.size() ? s[k + s.size() - nb.size()] : 1;
      if (x != y && x != 1 && y != 1)
        throw IndexError("shape mismatch: indexing arrays could not be broadcast together with shapes " + shape_str(B) + " " + shape_str(s));
      nb[k] = x == 1 ? y : x;
    }
    B = nb;
  }
  std::int64_t nb = 1;
  for (auto v : B) nb *= v;
  std::vector<std::int64_t> table(static_cast<std::size_t>(nb), 0);
  for (auto& a : adv) {
    if (a.is_scalar) { for (auto& t : table) t += a.scalar * a.stride; continue; }
    const Shape& s = a.item->shape;
    Shape bst(B.size(), 0);  // strides of this array's values broadcast to B
    Shape cs = contiguous_strides(s);
    for (std::size_t k = 0; k < s.size(); ++k)
      if (s[k] != 1) bst[B.size() - s.size() + k] = cs[k];
    std::vector<std::int64_t> idx(B.size(), 0);
    for (std::int64_t f = 0; f < nb; ++f) {
      std::int64_t src = 0;
      for (std::size_t k = 0; k < B.size(); ++k) src += idx[k] * bst[k];
      table[f] += wrap_index(a.item->values[src], a.size, a.axis) * a.stride;
      for (std::size_t k = B.size(); k-- > 0;) { if (++idx[k] < B[k]) break; idx[k] = 0; }
    }
  }
  // NumPy: adjacent advanced indices put the broadcast dims in their place,
  // separated ones put them first.
  bool adjacent = true;
  for (std::size_t k = 1; k < adv.size(); ++k) if (adv[k].pos != adv[0].pos) adjacent = false;
  std::size_t at = adjacent ? adv[0].pos : 0;

  // Output: L dims [0, at) + B + L dims [at, end); offsets from the table.
  Shape pre(L.shape.begin(), L.shape.begin() + at), post(L.shape.begin() + at, L.shape.end());
  Shape pre_st(L.strides.begin(), L.strides.begin() + at), post_st(L.strides.begin() + at, L.strides.end());
  Layout R;
  R.advanced = true;
  R.shape = pre; R.shape.insert(R.shape.end(), B.begin(), B.end()); R.shape.insert(R.shape.end(), post.begin(), post.end());
  Shape dims = pre; dims.push_back(nb); dims.insert(dims.end(), post.begin(), post.end());
  Shape st = pre_st; st.push_back(0); st.insert(st.end(), post_st.begin(), post_st.end());
  std::int64_t total = 1;
  for (auto v : dims) total *= v;
  R.flat.resize(static_cast<std::size_t>(total));
  std::vector<std::int64_t> idx(dims.size(), 0);
  const std::size_t bpos = pre.size();
  for (std::int64_t f = 0; f < total; ++f) {
    std::int64_t o = L.offset;
    for (std::size_t k = 0; k < dims.size(); ++k) o += k == bpos ? table[idx[k]] : idx[k] * st[k];
    R.flat[f] = o;
    for (std::size_t k = dims.size(); k-- > 0;) { if (++idx[k] < dims[k]) break; idx[k] = 0; }
  }
  return R;
}

}  // namespace

IndexPlan plan_index(const Shape& in_shape, const std::vector<IndexItem>& items) {
  Layout L = index_layout(in_shape, contiguous_strides(in_shape), 0, items);
  IndexPlan p;
  p.in_shape = in_shape;
  p.is_view = !L.advanced;
  p.out_shape = L.shape;
  p.view_strides = L.strides;
  p.view_offset = L.offset;
  p.flat = std::move(L.flat);
  return p;
}

Array apply_index(const Array& a, const std::vector<IndexItem>& items, const IndexPlan& plan) {
  if (plan.is_view) {
    // the same view arithmetic, on the input's own strides and offset
    Layout L = index_layout(a.shape, a.strides, a.offset, items);
    return Array{a.storage, a.dtype, L.shape, L.strides, L.offset};
  }
  Array src = contiguous(a);
  Array out = empty(plan.out_shape, a.dtype);
  const std::int64_t n = static_cast<std::int64_t>(plan.flat.size());
  if (a.dtype == DType::F32) { const float* s = src.data<float>(); float* o = out.data<float>(); for (std::int64_t i = 0; i < n; ++i) o[i] = s[plan.flat[i]]; }
  else { const double* s = src.data<double>(); double* o = out.data<double>(); for (std::int64_t i = 0; i < n; ++i) o[i] = s[plan.flat[i]]; }
  return out;
}

}  // namespace tapegrad
