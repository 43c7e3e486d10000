// Elementwise kernels: loops over the rules of rules.h, forward (f) and
// backward (g * d, fused into one pass), plus the copies and selects built
// the same way. Loops over contiguous data vectorise; a select on a
// comparison (ReLU's backward) does so only with GCC's -fno-trapping-math
// (CMakeLists.txt), where a branch per element would mispredict.
#include <algorithm>
#include <array>
#include <cmath>

#include "broadcast.h"
#include "kernels.h"
#include "odometer.h"
#include "op_dispatch.h"
#include "parallel.h"
#include "vmath.h"

namespace tapegrad {

namespace {

bool all_zero(const Shape& s) { return std::all_of(s.begin(), s.end(), [](std::int64_t v) { return v == 0; }); }

// o[i] = f(x[i]) for every element of x (any layout), o contiguous.
template <class T, class F>
void map1_range(const Array& x, T* o, F&& f) {
  const T* px = x.data<T>();
  if (x.is_contiguous()) {
    const std::int64_t n = x.numel();
    for (std::int64_t i = 0; i < n; ++i) o[i] = f(px[i]);
    return;
  }
  odometer<1>(x.shape, {&x.strides}, [&](const std::array<std::int64_t, 1>& off, std::int64_t m, const std::array<std::int64_t, 1>& is) {
    const T* p = px + off[0];
    for (std::int64_t j = 0; j < m; ++j) o[j] = f(p[j * is[0]]);
    o += m;
  });
}

// o[i] = f(x[i], y[i]) for x and y of one shape (any layouts, stride 0 for
// broadcast dims), o contiguous. The layouts of a broadcast binary op
// (contiguous with a scalar, a row, a column) get loops of their own.
template <class T, class F>
void map2_range(const Array& x, const Array& y, T* o, F&& f) {
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  const std::int64_t n = x.numel();
  const bool cx = x.is_contiguous(), cy = y.is_contiguous();
  if (cx && cy) { for (std::int64_t i = 0; i < n; ++i) o[i] = f(px[i], py[i]); return; }
  if (cx && all_zero(y.strides)) { const T b = py[0]; for (std::int64_t i = 0; i < n; ++i) o[i] = f(px[i], b); return; }
  if (cy && all_zero(x.strides)) { const T a = px[0]; for (std::int64_t i = 0; i < n; ++i) o[i] = f(a, py[i]); return; }
  odometer<2>(x.shape, {&x.strides, &y.strides}, [&](const std::array<std::int64_t, 2>& off, std::int64_t m, const std::array<std::int64_t, 2>& is) {
    const T* a = px + off[0];
    const T* b = py + off[1];
    if (is[0] == 1 && is[1] == 1) for (std::int64_t j = 0; j < m; ++j) o[j] = f(a[j], b[j]);
    else if (is[0] == 1 && is[1] == 0) for (std::int64_t j = 0; j < m; ++j) o[j] = f(a[j], b[0]);
    else if (is[0] == 0 && is[1] == 1) for (std::int64_t j = 0; j < m; ++j) o[j] = f(a[0], b[j]);
    else for (std::int64_t j = 0; j < m; ++j) o[j] = f(a[j * is[0]], b[j * is[1]]);
    o += m;
  });
}

template <class T, class F>
void map1(const Array& x, T* o, F&& f) {
  split_elements<1>({&x}, [&](const std::array<const Array*, 1>& v, std::int64_t i) { map1_range<T>(*v[0], o + i, f); });
}

template <class T, class F>
void map2(const Array& x, const Array& y, T* o, F&& f) {
  split_elements<2>({&x, &y}, [&](const std::array<const Array*, 2>& v, std::int64_t i) {
    map2_range<T>(*v[0], *v[1], o + i, f);
  });
}

// Calls f(x, y) with a and b converted to their promoted dtype and
// broadcast to one shape; operands that need neither are passed as they are
// (no copy of the Array, not even of its shared_ptr: this is every small op).
template <class F>
decltype(auto) with_common(const Array& a, const Array& b, const char* op, F&& f) {
  if (a.dtype == b.dtype && a.shape == b.shape) return f(a, b);  // the common case
  Shape s = broadcast_shape(a.shape, b.shape, op);
  DType dt = promote(a.dtype, b.dtype);
  return f(expand(astype(a, dt), s), expand(astype(b, dt), s));
}

// a in dtype dt: a itself, or a converted copy held in `keep`.
const Array& in_dtype(const Array& a, DType dt, Array& keep) {
  if (a.dtype == dt) return a;
  keep = astype(a, dt);
  return keep;
}

}  // namespace

// ---- forward ------------------------------------------------------------------

namespace {

// The ops whose forward is a vmath function (Note [Vector math] in vmath.h).
bool vector_fn(Op op, vmath::Fn& f) {
  switch (op) {
    case Op::Exp: f = vmath::Fn::Exp; return true;
    case Op::Log: f = vmath::Fn::Log; return true;
    case Op::Tanh: f = vmath::Fn::Tanh; return true;
    case Op::Sigmoid: f = vmath::Fn::Sigmoid; return true;
    case Op::Erf: f = vmath::Fn::Erf; return true;
    default: return false;
  }
}

// f over a contiguous copy of `a` (in place when a copy had to be made).
Array vector_unary(vmath::Fn f, const Array& a) {
  const bool fresh = !a.is_contiguous();
  Array src = contiguous(a);
  Array out = fresh ? src : empty(a.shape, a.dtype);
  const auto n = static_cast<std::size_t>(a.numel());
  by_float_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    vmath::apply(f, src.data<T>(), out.data<T>(), n);
  });
  return out;
}

}  // namespace

Array unary(Op op, const Array& a, double k, double k2) {
  if (a.dtype == DType::I64) return int_unary(op, a, k, k2);  // Note [Dtypes]
  vmath::Fn vf;
  if (vector_fn(op, vf)) return vector_unary(vf, a);
  Array out;
  if (vector_activation(op, a, out)) return out;
  out = empty(a.shape, a.dtype);
  with_unary_rule(op, [&](auto r) {
    using R = decltype(r);
    by_float_dtype(a.dtype, [&](auto t) {
      using T = decltype(t);
      map1<T>(a, out.data<T>(), [k, k2](T x) { return rules::forward1<R>(x, k, k2); });
    });
  });
  return out;
}

Array binary(Op op, const Array& a, const Array& b) {
  if (a.dtype == DType::I64 && b.dtype == DType::I64) return int_binary(op, a, b);  // Note [Dtypes]
  return with_common(a, b, op_name(op), [&](const Array& x, const Array& y) {
    Array out = empty(x.shape, x.dtype);
    auto run = [&](auto r) {
      using R = decltype(r);
      by_float_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        map2<T>(x, y, out.data<T>(), [](T u, T v) { return R::f(u, v); });
      });
    };
    if (op_info(op).kind == OpKind::Compare) with_compare_rule(op, run);
    else with_binary_rule(op, run);
    return out;
  });
}

Array binary_scalar(Op op, const Array& a, double s) { return binary(op, a, scalar_array(s, a.dtype)); }
Array rbinary_scalar(Op op, double s, const Array& a) { return binary(op, scalar_array(s, a.dtype), a); }

// ---- backward: g * the rule's local gradient, in one pass ------------------------

Array unary_grad(Op op, const Array& g, const Array& s, double k, double k2) {
  return with_unary_rule(op, [&](auto r) {
    using R = decltype(r);
    if constexpr (rules::UnaryPass<R>::value == -1) {
      return unary(Op::Neg, g);
    } else {
      Array fused;
      if (vector_activation_grad(op, g, s, fused)) return fused;
      return with_common(g, s, op_name(op), [&](const Array& x, const Array& y) {
        Array out = empty(x.shape, x.dtype);
        by_float_dtype(x.dtype, [&](auto t) {
          using T = decltype(t);
          map2<T>(x, y, out.data<T>(), [k, k2](T gi, T si) { return gi * rules::local1<R>(si, k, k2); });
        });
        return out;
      });
    }
  });
}

namespace {

// g * d/da or g * d/db (Which = 0 or 1) of a binary rule; a, b and out have
// g's shape (the op's operands were expanded to it). Operands the rule does
// not read cost nothing: their loads are dead code once inlined.
template <class R, int Which>
Array binary_grad_of(const Array& g, const Array& a, const Array& b, const Array& out) {
  if constexpr (R::kPass[Which] == 1) return g;
  if constexpr (R::kPass[Which] == -1) return unary(Op::Neg, g);
  const DType dt = promote(g.dtype, a.dtype);
  Array keep[4];
  const Array& ga = in_dtype(g, dt, keep[0]);
  const Array& aa = in_dtype(a, dt, keep[1]);
  const Array& bb = in_dtype(b, dt, keep[2]);
  const Array& oo = in_dtype(out, dt, keep[3]);
  Array res = empty(g.shape, dt);
  by_float_dtype(dt, [&](auto t) {
    using T = decltype(t);
    auto one = [&](T gi, T ai, T bi, T oi) {
      rules::Pair<T> d = R::d(ai, bi, oi);
      return gi * (Which == 0 ? d.da : d.db);
    };
    split_elements<4>({&ga, &aa, &bb, &oo}, [&](const std::array<const Array*, 4>& v, std::int64_t i) {
      const Array &vg = *v[0], &va = *v[1], &vb = *v[2], &vo = *v[3];
      T* o = res.data<T>() + i;
      const T *pg = vg.data<T>(), *pa = va.data<T>(), *pb = vb.data<T>(), *po = vo.data<T>();
      if (vg.is_contiguous() && va.is_contiguous() && vb.is_contiguous() && vo.is_contiguous()) {
        const std::int64_t n = vg.numel();
        for (std::int64_t k = 0; k < n; ++k) o[k] = one(pg[k], pa[k], pb[k], po[k]);
        return;
      }
      odometer<4>(vg.shape, {&vg.strides, &va.strides, &vb.strides, &vo.strides},
                  [&](const std::array<std::int64_t, 4>& off, std::int64_t m, const std::array<std::int64_t, 4>& is) {
                    for (std::int64_t j = 0; j < m; ++j)
                      o[j] = one(pg[off[0] + j * is[0]], pa[off[1] + j * is[1]], pb[off[2] + j * is[2]], po[off[3] + j * is[3]]);
                    o += m;
                  });
    });
  });
  return res;
}

}  // namespace

Array binary_grad(Op op, int which, const Array& g, const Array& a, const Array& b, const Array& out) {
  return with_binary_rule(op, [&](auto r) {
    using R = decltype(r);
    return which == 0 ? binary_grad_of<R, 0>(g, a, b, out) : binary_grad_of<R, 1>(g, a, b, out);
  });
}

// ---- on raw memory: the contiguous loops above, without Arrays -------------------

namespace {

template <vmath::Fn F, class T>
void vector_loop(const void* x, void* out, std::int64_t n, double, double) {
  vmath::apply(F, static_cast<const T*>(x), static_cast<T*>(out), static_cast<std::size_t>(n));
}

template <class R, class T>
void unary_loop(const void* x, void* out, std::int64_t n, double k, double k2) {
  const T* px = static_cast<const T*>(x);
  T* o = static_cast<T*>(out);
  for (std::int64_t i = 0; i < n; ++i) o[i] = rules::forward1<R>(px[i], k, k2);
}

template <class R, class T>
void binary_loop(const void* x, const void* y, void* out, std::int64_t n) {
  const T *px = static_cast<const T*>(x), *py = static_cast<const T*>(y);
  T* o = static_cast<T*>(out);
  for (std::int64_t i = 0; i < n; ++i) o[i] = R::f(px[i], py[i]);
}

template <class R, class T>
void unary_grad_loop(const void* g, const void* s, void* out, std::int64_t n, double k, double k2) {
  const T *pg = static_cast<const T*>(g), *ps = static_cast<const T*>(s);
  T* o = static_cast<T*>(out);
  for (std::int64_t i = 0; i < n; ++i) o[i] = pg[i] * rules::local1<R>(ps[i], k, k2);
}

template <class R, int Which, class T>
void binary_grad_loop(const void* g, const void* a, const void* b, const void* o, void* out, std::int64_t n) {
  const T *pg = static_cast<const T*>(g), *pa = static_cast<const T*>(a), *pb = static_cast<const T*>(b);
  const T* po = static_cast<const T*>(o);
  T* res = static_cast<T*>(out);
  for (std::int64_t i = 0; i < n; ++i) {
    const rules::Pair<T> d = R::d(pa[i], pb[i], po[i]);
    res[i] = pg[i] * (Which == 0 ? d.da : d.db);
  }
}

// the float or the double instance, by dtype (null for int64)
template <class Fn>
Fn by_dtype(DType dt, Fn f32, Fn f64) {
  return dt == DType::F32 ? f32 : dt == DType::F64 ? f64 : nullptr;
}

template <vmath::Fn F>
UnaryRawFn vector_fn_of(DType dt) {
  return by_dtype<UnaryRawFn>(dt, &vector_loop<F, float>, &vector_loop<F, double>);
}

}  // namespace

UnaryRawFn unary_raw_fn(Op op, DType dt) {
  vmath::Fn vf;
  if (vector_fn(op, vf)) {
    switch (vf) {
      case vmath::Fn::Exp: return vector_fn_of<vmath::Fn::Exp>(dt);
      case vmath::Fn::Log: return vector_fn_of<vmath::Fn::Log>(dt);
      case vmath::Fn::Tanh: return vector_fn_of<vmath::Fn::Tanh>(dt);
      case vmath::Fn::Sigmoid: return vector_fn_of<vmath::Fn::Sigmoid>(dt);
      case vmath::Fn::Erf: return vector_fn_of<vmath::Fn::Erf>(dt);
    }
  }
  if (vector_op(op) || op_info(op).kind != OpKind::Unary) return nullptr;
  return with_unary_rule(op, [&](auto r) -> UnaryRawFn {
    using R = decltype(r);
    return by_dtype<UnaryRawFn>(dt, &unary_loop<R, float>, &unary_loop<R, double>);
  });
}

BinaryRawFn binary_raw_fn(Op op, DType dt) {
  if (op_info(op).kind != OpKind::Binary) return nullptr;
  return with_binary_rule(op, [&](auto r) -> BinaryRawFn {
    using R = decltype(r);
    return by_dtype<BinaryRawFn>(dt, &binary_loop<R, float>, &binary_loop<R, double>);
  });
}

UnaryGradRawFn unary_grad_raw_fn(Op op, DType dt) {
  if (vector_op(op) || op_info(op).kind != OpKind::Unary) return nullptr;
  return with_unary_rule(op, [&](auto r) -> UnaryGradRawFn {
    using R = decltype(r);
    if constexpr (rules::UnaryPass<R>::value == -1) return nullptr;
    else return by_dtype<UnaryGradRawFn>(dt, &unary_grad_loop<R, float>, &unary_grad_loop<R, double>);
  });
}

BinaryGradRawFn binary_grad_raw_fn(Op op, int which, DType dt) {
  if (op_info(op).kind != OpKind::Binary) return nullptr;
  return with_binary_rule(op, [&](auto r) -> BinaryGradRawFn {
    using R = decltype(r);
    if (R::kPass[which] != 0) return nullptr;
    return which == 0 ? by_dtype<BinaryGradRawFn>(dt, &binary_grad_loop<R, 0, float>, &binary_grad_loop<R, 0, double>)
                      : by_dtype<BinaryGradRawFn>(dt, &binary_grad_loop<R, 1, float>, &binary_grad_loop<R, 1, double>);
  });
}

bool unary_raw(Op op, DType dt, const void* x, void* out, std::int64_t n, double k, double k2) {
  const UnaryRawFn f = unary_raw_fn(op, dt);
  if (f != nullptr) f(x, out, n, k, k2);
  return f != nullptr;
}

bool binary_raw(Op op, DType dt, const void* x, const void* y, void* out, std::int64_t n) {
  const BinaryRawFn f = binary_raw_fn(op, dt);
  if (f != nullptr) f(x, y, out, n);
  return f != nullptr;
}

bool unary_grad_raw(Op op, DType dt, const void* g, const void* s, void* out, std::int64_t n, double k, double k2) {
  const UnaryGradRawFn f = unary_grad_raw_fn(op, dt);
  if (f != nullptr) f(g, s, out, n, k, k2);
  return f != nullptr;
}

bool binary_grad_raw(Op op, int which, DType dt, const void* g, const void* a, const void* b, const void* o, void* out,
                     std::int64_t n) {
  const BinaryGradRawFn f = binary_grad_raw_fn(op, which, dt);
  if (f != nullptr) f(g, a, b, o, out, n);
  return f != nullptr;
}

int binary_pass(Op op, int which) {
  return with_binary_rule(op, [&](auto r) { return static_cast<int>(decltype(r)::kPass[which]); });
}

// ---- copies, accumulation, selection ----------------------------------------------

namespace {
template <class T, bool Add>
void store_into(const Array& dst, const Array& src0) {
  Array src = expand(astype(src0, dst.dtype), dst.shape);
  T* pd = dst.data<T>();
  const T* ps = src.data<T>();
  odometer<2>(dst.shape, {&dst.strides, &src.strides}, [&](const std::array<std::int64_t, 2>& off, std::int64_t m, const std::array<std::int64_t, 2>& is) {
    T* x = pd + off[0];
    const T* y = ps + off[1];
    if (is[0] == 1 && is[1] == 1) { for (std::int64_t j = 0; j < m; ++j) { if (Add) x[j] += y[j]; else x[j] = y[j]; } }
    else for (std::int64_t j = 0; j < m; ++j) { if (Add) x[j * is[0]] += y[j * is[1]]; else x[j * is[0]] = y[j * is[1]]; }
  });
}
}  // namespace

void copy_into(const Array& dst, const Array& src) {
  by_any_dtype(dst.dtype, [&](auto t) { store_into<decltype(t), false>(dst, src); });
}

void add_into(const Array& dst, const Array& src) {
  by_any_dtype(dst.dtype, [&](auto t) { store_into<decltype(t), true>(dst, src); });
}

// One pass over the broadcast operands as strided views (a mask row or a
// number is read in place, never copied out to the full shape); the
// condition in its own dtype, nonzero (NaN too) meaning true.
Array where(const Array& cond, const Array& a, const Array& b) {
  Shape s = broadcast_shapes({cond.shape, a.shape, b.shape}, "where");
  DType dt = promote(a.dtype, b.dtype);
  Array keep[2];
  const Array c = expand(cond, s), x = expand(in_dtype(a, dt, keep[0]), s), y = expand(in_dtype(b, dt, keep[1]), s);
  Array out = empty(s, dt);
  by_any_dtype(c.dtype, [&](auto ct) {
    using C = decltype(ct);
    by_any_dtype(dt, [&](auto t) {
      using T = decltype(t);
      split_elements<3>({&c, &x, &y}, [&](const std::array<const Array*, 3>& part, std::int64_t at) {
        const Array &pcs = *part[0], &pxs = *part[1], &pys = *part[2];
        const C* pc = pcs.data<C>();
        const T *px = pxs.data<T>(), *py = pys.data<T>();
        T* o = out.data<T>() + at;
        if (pcs.is_contiguous() && pxs.is_contiguous() && pys.is_contiguous()) {
          const std::int64_t n = pcs.numel();
          for (std::int64_t i = 0; i < n; ++i) o[i] = pc[i] != C(0) ? px[i] : py[i];
          return;
        }
        odometer<3>(pcs.shape, {&pcs.strides, &pxs.strides, &pys.strides},
                    [&](const std::array<std::int64_t, 3>& off, std::int64_t m, const std::array<std::int64_t, 3>& is) {
          const C* q = pc + off[0];
          const T *u = px + off[1], *v = py + off[2];
          if (is[0] == 1 && is[1] == 1 && is[2] == 0) { const T w = v[0]; for (std::int64_t j = 0; j < m; ++j) o[j] = q[j] != C(0) ? u[j] : w; }
          else if (is[0] == 1 && is[1] == 0 && is[2] == 1) { const T w = u[0]; for (std::int64_t j = 0; j < m; ++j) o[j] = q[j] != C(0) ? w : v[j]; }
          else for (std::int64_t j = 0; j < m; ++j) o[j] = q[j * is[0]] != C(0) ? u[j * is[1]] : v[j * is[2]];
          o += m;
        });
      });
    });
  });
  return out;
}

Array concatenate(const std::vector<Array>& parts, std::int64_t dim) {
  if (parts.empty()) throw ValueError("concatenate() needs at least one tensor");
  const Array& first = parts[0];
  if (first.ndim() == 0) throw ValueError("concatenate: zero-dimensional tensors cannot be concatenated");
  dim = normalize_dim(dim, first.ndim());
  Shape s = first.shape;
  DType dt = first.dtype;
  s[dim] = 0;
  for (const Array& p : parts) {
    bool ok = p.ndim() == first.ndim();
    for (std::int64_t i = 0; ok && i < first.ndim(); ++i) ok = i == dim || p.shape[i] == first.shape[i];
    if (!ok)
      throw ValueError("concatenate: shapes " + shape_str(first.shape) + " and " + shape_str(p.shape) + " differ outside dim " + std::to_string(dim));
    s[dim] += p.shape[dim];
    dt = promote(dt, p.dtype);
  }
  Array out = empty(s, dt);
  std::int64_t at = 0;
  for (const Array& p : parts) {
    copy_into(slice(out, dim, at, at + p.shape[dim], 1), p);
    at += p.shape[dim];
  }
  return out;
}

}  // namespace tapegrad
