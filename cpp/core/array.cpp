// Arrays: strided views of shared storage, their creation, conversion, and
// the views themselves (reshape, permute, expand, slices). See array.h.
#include "array.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>

#include "parallel.h"

namespace tapegrad {

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

namespace {
thread_local const Array* reuse_next = nullptr;  // ReuseBuffer's
}  // namespace

ReuseBuffer::ReuseBuffer(const Array& buf) : previous_(reuse_next) { reuse_next = &buf; }
ReuseBuffer::~ReuseBuffer() { reuse_next = previous_; }

Array empty(const Shape& shape, DType dtype) {
  if (const Array* b = reuse_next) {
    if (b->dtype == dtype && b->shape == shape) {
      reuse_next = nullptr;  // once
      return *b;
    }
  }
  std::int64_t n = checked_numel(shape, dtype);
  return Array{allocate(n, dtype, false), dtype, shape, contiguous_strides(shape), 0};
}

Array zeros(const Shape& shape, DType dtype) {
  std::int64_t n = checked_numel(shape, dtype);
  return Array{allocate(n, dtype, true), dtype, shape, contiguous_strides(shape), 0};
}

Array full(const Shape& shape, DType dtype, double value) {
  if (dtype == DType::I64) return full_int(shape, int64_of(value));
  Array a = empty(shape, dtype);
  std::int64_t n = a.numel();
  if (dtype == DType::F32) std::fill_n(a.data<float>(), n, static_cast<float>(value));
  else std::fill_n(a.data<double>(), n, value);
  return a;
}

Array full_int(const Shape& shape, std::int64_t value) {
  Array a = empty(shape, DType::I64);
  std::fill_n(a.data<std::int64_t>(), a.numel(), value);
  return a;
}

Array scalar_array(double value, DType dtype) { return full({}, dtype, value); }
Array scalar_int(std::int64_t value) { return full_int({}, value); }

const char* const kNotInt64 = "cannot convert NaN, infinity or a number beyond the int64 range to int64";

std::int64_t int64_of(double v) {
  // [-2**63, 2**63) holds every double that truncates into int64; NaN fails both tests
  if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) throw ValueError(kNotInt64);
  return static_cast<std::int64_t>(v);
}

Array from_external(void* data, std::shared_ptr<void> owner, DType dtype, Shape shape, Shape strides) {
  // aliasing constructor: shares ownership with `owner`, points at `data`
  std::shared_ptr<void> storage(std::move(owner), data);
  return Array{std::move(storage), dtype, std::move(shape), std::move(strides), 0};
}

namespace {

// One value converted: floats to int64 truncate toward zero (as NumPy and
// PyTorch), checked, since C++ leaves NaN or an out-of-range value undefined.
template <class D, class S>
D convert(S v) {
  if constexpr (std::is_same_v<D, std::int64_t> && std::is_floating_point_v<S>) return int64_of(static_cast<double>(v));
  else return static_cast<D>(v);
}

template <class S, class D>
void copy_strided(const Array& src, D* out) {
  const S* base = src.data<S>();
  const std::int64_t nd = src.ndim();
  const std::int64_t n = src.numel();
  if (n == 0) return;
  if (nd == 0) { out[0] = convert<D>(base[0]); return; }
  std::vector<std::int64_t> idx(nd, 0);
  const std::int64_t inner = src.shape[nd - 1], is = src.strides[nd - 1];
  std::int64_t off = 0;
  for (std::int64_t done = 0; done < n; done += inner) {
    const S* p = base + off;
    if (is == 1) for (std::int64_t j = 0; j < inner; ++j) out[j] = convert<D>(p[j]);
    else for (std::int64_t j = 0; j < inner; ++j) out[j] = convert<D>(p[j * is]);
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
  by_any_dtype(a.dtype, [&](auto s) {
    by_any_dtype(dtype, [&](auto d) {
      using D = decltype(d);
      split_elements<1>({&a}, [&](const std::array<const Array*, 1>& v, std::int64_t at) {
        copy_strided<decltype(s), D>(*v[0], out.data<D>() + at);
      });
    });
  });
  return out;
}

}  // namespace

Array copy(const Array& a) { return copy_as(a, a.dtype); }
Array contiguous(const Array& a) { return a.is_contiguous() ? a : copy_as(a, a.dtype); }
Array astype(const Array& a, DType dtype) { return a.dtype == dtype ? a : copy_as(a, dtype); }

double item(const Array& a) {
  if (a.numel() != 1) throw ValueError("item() needs a tensor with one element, got shape " + shape_str(a.shape));
  if (a.dtype == DType::I64) return static_cast<double>(*a.data<std::int64_t>());
  return a.dtype == DType::F32 ? static_cast<double>(*a.data<float>()) : *a.data<double>();
}

std::int64_t item_int(const Array& a) {
  if (a.numel() != 1) throw ValueError("item() needs a tensor with one element, got shape " + shape_str(a.shape));
  return a.dtype == DType::I64 ? *a.data<std::int64_t>() : int64_of(item(a));
}

bool truth_value(const Array& a) {
  if (a.numel() != 1)
    throw ValueError("the truth value of a tensor of shape " + shape_str(a.shape) +
                     " is ambiguous (only single-element tensors have one)");
  return item(a) != 0;
}

std::string dim_out_of_range(const std::string& dim, std::int64_t ndim) {
  return "dim " + dim + " is out of range for a tensor with " + std::to_string(ndim) + " dimensions";
}

std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim) {
  std::int64_t n = std::max<std::int64_t>(ndim, 1);
  if (dim < -n || dim >= n) throw ValueError(dim_out_of_range(std::to_string(dim), ndim));
  return dim < 0 ? dim + n : dim;
}

std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim) {
  std::vector<std::int64_t> out;
  for (auto d : dims) out.push_back(normalize_dim(d, ndim));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    throw ValueError("dim " + shape_str(dims) + " repeats a dimension");
  if (ndim == 0) out.clear();
  return out;
}

std::string bad_reshape(const std::string& to) {
  return "reshape: bad shape " + to + " (sizes >= 0, at most one -1)";
}

std::string reshape_mismatch(const Shape& from, const std::string& to) {
  std::int64_t total = 1;
  for (auto v : from) total *= v;
  return "cannot reshape a tensor of shape " + shape_str(from) + " (" + std::to_string(total) + " elements) into shape " + to;
}

Shape infer_reshape(const Shape& from, const Shape& to) {
  std::int64_t total = 1;
  for (auto v : from) total *= v;
  Shape out = to;
  std::int64_t infer = -1;
  for (std::size_t i = 0; i < to.size(); ++i) {
    if (to[i] < -1 || (to[i] == -1 && infer >= 0)) throw ValueError(bad_reshape(shape_str(to)));
    if (to[i] == -1) infer = static_cast<std::int64_t>(i);
  }
  // The target's product, -1 aside; one beyond int64 cannot match `total`.
  std::uint64_t known = 1;
  bool overflows = false;
  for (std::size_t i = 0; i < to.size(); ++i) {
    if (static_cast<std::int64_t>(i) == infer) continue;
    const auto v = static_cast<std::uint64_t>(to[i]);
    if (v != 0 && known > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / v) overflows = true;
    else known *= v;
  }
  const bool zero = std::find(to.begin(), to.end(), 0) != to.end();
  if (overflows && !zero) throw ValueError(reshape_mismatch(from, shape_str(to)));
  if (zero) known = 0;
  if (infer >= 0) {
    if (known == 0 || total % static_cast<std::int64_t>(known) != 0) throw ValueError(reshape_mismatch(from, shape_str(to)));
    out[infer] = total / static_cast<std::int64_t>(known);
  } else if (static_cast<std::int64_t>(known) != total) {
    throw ValueError(reshape_mismatch(from, shape_str(to)));
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
    throw ValueError("permute: dims " + shape_str(dims) + " given for a tensor with " + std::to_string(a.ndim()) + " dimensions");
  std::vector<std::int64_t> nd;
  for (auto d : dims) nd.push_back(normalize_dim(d, a.ndim()));  // every dim in range first
  std::vector<bool> seen(a.shape.size(), false);
  for (auto k : nd) {
    if (seen[k])
      throw ValueError("permute: dims " + shape_str(dims) + " are not a permutation of the " + std::to_string(a.ndim()) + " dimensions");
    seen[k] = true;
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


Array slice(const Array& a, std::int64_t dim, std::int64_t start, std::int64_t stop, std::int64_t step) {
  // plain [start, stop) with a positive step, already in range (internal use)
  Array out = a;
  std::int64_t n = stop > start ? (stop - start - 1) / step + 1 : 0;
  if (n > 0) out.offset += start * a.strides[dim];
  out.shape[dim] = n;
  out.strides[dim] = a.strides[dim] * step;
  return out;
}

Array select(const Array& a, std::int64_t dim, std::int64_t index) {
  Array out = a;
  out.offset += index * a.strides[dim];
  out.shape.erase(out.shape.begin() + dim);
  out.strides.erase(out.strides.begin() + dim);
  return out;
}

Array unsqueeze(const Array& a, std::int64_t dim) {
  Array out = a;
  out.shape.insert(out.shape.begin() + dim, 1);
  out.strides.insert(out.strides.begin() + dim, 0);
  return out;
}

}  // namespace tapegrad
