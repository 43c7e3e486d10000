// NumPy indexing: a subscript becomes a plan (a strided view for basic
// indexing, else a table of element positions) that the forward gather and
// the backward scatter-add share. See indexing.h.
#include "indexing.h"

#include <algorithm>
#include <cstring>

#include "kernels.h"

namespace tapegrad {

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
  std::vector<std::int64_t> flat;  // advanced: offsets of the runs of `block` elements, row-major over `shape`
  std::int64_t block = 1;
};

// An advanced part of a subscript: an integer array (or an int among
// arrays), where its broadcast dims go in the output, and the input axis it
// indexes.
struct Adv {
  std::size_t pos;
  const IndexItem* item;
  std::int64_t size, stride, axis;
  std::int64_t scalar;
  bool is_scalar;
};

// Phase 1: ints, slices, None and Ellipsis applied to (shape, strides,
// offset); the advanced parts are set aside in `adv`.
Layout basic_layout(const Shape& shape, const Shape& strides, std::int64_t offset, const std::vector<IndexItem>& items,
                    std::vector<Adv>& adv) {
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
        if (it.mask_size >= 0 && it.mask_size != shape[d])
          throw IndexError("boolean index did not match indexed array along axis " + std::to_string(d) + "; size of axis is " +
                           std::to_string(shape[d]) + " but size of corresponding boolean axis is " + std::to_string(it.mask_size));
        adv.push_back({L.shape.size(), &it, shape[d], strides[d], d, 0, false});
        ++d;
        break;
    }
  }
  take_rest(nd);
  return L;
}

// Phase 2: the index arrays broadcast together to B (ints count as 0-d);
// returns, for each position of B, the summed offset of the advanced parts.
std::vector<std::int64_t> advanced_offsets(const std::vector<Adv>& adv, Shape& B) {
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
  return table;
}

// Indexes the layout (shape, strides, offset) with NumPy's rules.
Layout index_layout(const Shape& shape, const Shape& strides, std::int64_t offset, const std::vector<IndexItem>& items) {
  std::vector<Adv> adv;
  Layout L = basic_layout(shape, strides, offset, items, adv);
  if (adv.empty()) return L;
  Shape B;
  const std::vector<std::int64_t> table = advanced_offsets(adv, B);
  // Phase 3. NumPy: adjacent advanced indices put the broadcast dims in their
  // place, separated ones put them first.
  bool adjacent = true;
  for (std::size_t k = 1; k < adv.size(); ++k) if (adv[k].pos != adv[0].pos) adjacent = false;
  std::size_t at = adjacent ? adv[0].pos : 0;

  // Output: L dims [0, at) + B + L dims [at, end); offsets from the table.
  Shape pre(L.shape.begin(), L.shape.begin() + at), post(L.shape.begin() + at, L.shape.end());
  Shape pre_st(L.strides.begin(), L.strides.begin() + at), post_st(L.strides.begin() + at, L.strides.end());
  Layout R;
  R.advanced = true;
  R.shape = pre; R.shape.insert(R.shape.end(), B.begin(), B.end()); R.shape.insert(R.shape.end(), post.begin(), post.end());
  Shape dims = pre; dims.push_back(static_cast<std::int64_t>(table.size())); dims.insert(dims.end(), post.begin(), post.end());
  Shape st = pre_st; st.push_back(0); st.insert(st.end(), post_st.begin(), post_st.end());
  // Note [Gather plans]: trailing dims laid out contiguously become one run
  const std::size_t bpos = pre.size();
  while (dims.size() > bpos + 1 && st.back() == R.block) {
    R.block *= dims.back();
    dims.pop_back();
    st.pop_back();
  }
  std::int64_t total = 1;
  for (auto v : dims) total *= v;
  if (R.block == 0) total = 0;
  R.flat.resize(static_cast<std::size_t>(total));
  std::vector<std::int64_t> idx(dims.size(), 0);
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
  p.block = L.block;
  return p;
}

Array apply_index(const Array& a, const std::vector<IndexItem>& items, const IndexPlan& plan) {
  if (plan.is_view) {
    // the same view arithmetic, on the input's own strides and offset
    Layout L = index_layout(a.shape, a.strides, a.offset, items);
    return Array{a.storage, a.dtype, L.shape, L.strides, L.offset};
  }
  return gather(a, plan);
}

// ---- gather and scatter by a plan ------------------------------------------------

Array gather(const Array& a, const IndexPlan& p) {
  Array src = contiguous(a);  // the plan describes a contiguous input
  if (p.is_view) return Array{src.storage, src.dtype, p.out_shape, p.view_strides, src.offset + p.view_offset};
  Array out = empty(p.out_shape, a.dtype);
  const std::int64_t n = static_cast<std::int64_t>(p.flat.size()), b = p.block;
  const std::int64_t* at = p.flat.data();
  by_any_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    const T* s = src.data<T>();
    T* o = out.data<T>();
    if (b == 1) {
      for (std::int64_t i = 0; i < n; ++i) o[i] = s[at[i]];
    } else {
      for (std::int64_t i = 0; i < n; ++i) std::memcpy(o + i * b, s + at[i], static_cast<std::size_t>(b) * sizeof(T));
    }
  });
  return out;
}

Array scatter(const Array& g0, const IndexPlan& p) {
  Array out = zeros(p.in_shape, g0.dtype);
  if (p.is_view) {
    add_into(Array{out.storage, out.dtype, p.out_shape, p.view_strides, p.view_offset}, g0);
    return out;
  }
  Array g = contiguous(g0);
  const std::int64_t n = static_cast<std::int64_t>(p.flat.size()), b = p.block;
  const std::int64_t* at = p.flat.data();
  by_any_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    const T* s = g.data<T>();
    T* d = out.data<T>();
    for (std::int64_t i = 0; i < n; ++i) {
      T* row = d + at[i];
      const T* src = s + i * b;
      for (std::int64_t j = 0; j < b; ++j) row[j] += src[j];
    }
  });
  return out;
}

// ---- the plans of gather and embedding ------------------------------------------

namespace {

// The index values as one contiguous int64 run.
Array index_values(const Array& index, const char* what, const char* name) {
  if (index.dtype != DType::I64)
    throw TypeError(std::string(what) + ": " + name + " must be an int64 tensor, got " + dtype_name(index.dtype));
  return contiguous(index);
}

}  // namespace

IndexPlan gather_plan(const Shape& in_shape, std::int64_t dim, const Array& index) {
  const std::int64_t nd = static_cast<std::int64_t>(in_shape.size());
  dim = normalize_dim(dim, nd);
  Array ix = index_values(index, "gather", "index");
  if (index.ndim() != nd)
    throw ValueError("gather: index of shape " + shape_str(index.shape) + " for a tensor of shape " + shape_str(in_shape) +
                     " (they need the same number of dimensions)");
  for (std::int64_t d = 0; d < nd; ++d)
    if (d != dim && index.shape[d] > in_shape[d])
      throw ValueError("gather: index of shape " + shape_str(index.shape) + " is larger than the tensor's shape " +
                       shape_str(in_shape) + " outside dim " + std::to_string(dim));
  IndexPlan p;
  p.in_shape = in_shape;
  p.is_view = false;
  p.out_shape = index.shape;
  const Shape cs = contiguous_strides(in_shape);
  const std::int64_t len = nd ? in_shape[dim] : 1, n = ix.numel();
  const std::int64_t* v = ix.data<std::int64_t>();
  p.flat.resize(static_cast<std::size_t>(n));
  std::vector<std::int64_t> pos(static_cast<std::size_t>(index.ndim()), 0);
  for (std::int64_t f = 0; f < n; ++f) {
    if (v[f] < 0 || v[f] >= len)
      throw IndexError("gather: index " + std::to_string(v[f]) + " is out of bounds for dim " + std::to_string(dim) +
                       " with size " + std::to_string(len));
    std::int64_t o = 0;
    for (std::size_t d = 0; d < pos.size(); ++d) o += (static_cast<std::int64_t>(d) == dim ? v[f] : pos[d]) * cs[d];
    p.flat[f] = o;
    for (std::size_t d = pos.size(); d-- > 0;) { if (++pos[d] < index.shape[d]) break; pos[d] = 0; }
  }
  return p;
}

IndexPlan embedding_plan(const Shape& weight_shape, const Array& index) {
  Array ix = index_values(index, "embedding", "idx");
  if (weight_shape.size() != 2)
    throw ValueError("embedding: weight must have shape (num_embeddings, embedding_dim), got " + shape_str(weight_shape));
  const std::int64_t rows = weight_shape[0], dim = weight_shape[1], n = ix.numel();
  IndexPlan p;
  p.in_shape = weight_shape;
  p.is_view = false;
  p.out_shape = index.shape;
  p.out_shape.push_back(dim);
  check_shape(p.out_shape, DType::F64);
  p.block = dim;
  const std::int64_t* v = ix.data<std::int64_t>();
  p.flat.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    if (v[i] < 0 || v[i] >= rows)
      throw IndexError("embedding: index " + std::to_string(v[i]) + " is out of range for " + std::to_string(rows) + " embeddings");
    p.flat[i] = v[i] * dim;
  }
  return p;
}

}  // namespace tapegrad
