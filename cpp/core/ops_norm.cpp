// The normalization layers and dropout, each forward beside its backward
// rule: layer_norm and batch_norm are fused kernels in both directions
// (Note [Normalization numerics] in kernels_nn.h); their recorded rules are
// the same formulas in recorded ops, so that they differentiate again.
#include <cmath>

#include "backward_rules.h"
#include "kernels_nn.h"
#include "trace.h"

namespace tapegrad {

namespace {

DType common_dtype(std::initializer_list<const TensorPtr*> ts) {
  DType dt = DType::F32;
  bool first = true;
  for (auto t : ts) {
    if (!*t) continue;
    dt = first ? (*t)->data.dtype : promote(dt, (*t)->data.dtype);
    first = false;
  }
  return dt;
}

// x, then the weight and the bias where given.
std::vector<TensorPtr> parents_of(const TensorPtr& x, const TensorPtr& w, const TensorPtr& b) {
  std::vector<TensorPtr> ps{x};
  if (w) ps.push_back(w);
  if (b) ps.push_back(b);
  return ps;
}

void check_param(const char* fn, const char* name, const TensorPtr& p, const Shape& want) {
  if (p && p->data.shape != want)
    throw ValueError(std::string(fn) + ": " + name + " has shape " + shape_str(p->data.shape) + ", expected " +
                     shape_str(want));
}

TensorPtr number(double v, DType dt) { return make_leaf(scalar_array(v, dt)); }

std::int64_t product(const Shape& s, std::size_t from, std::size_t to) {
  std::int64_t n = 1;
  for (std::size_t i = from; i < to; ++i) n *= s[i];
  return n;
}

std::vector<std::int64_t> dim_range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> d;
  for (std::int64_t i = from; i < to; ++i) d.push_back(i);
  return d;
}

// The recorded rule of both normalizations with batch statistics, over `dims`
// (kept as size 1), w broadcast by `w_shape`; the weight and bias gradients
// are summed over `other` dims and given `p_shape`.
struct RecordedNorm {
  const std::vector<std::int64_t>& dims;
  const std::vector<std::int64_t>& other;
  double eps;

  // xhat and s of x, as recorded ops
  void stats(const TensorPtr& x, TensorPtr& xhat, TensorPtr& s) const {
    const DType dt = x->data.dtype;
    TensorPtr d = sub(x, reduce_op(Op::Mean, x, dims, false, true));
    TensorPtr var = reduce_op(Op::Mean, mul(d, d), dims, false, true);
    s = div(number(1.0, dt), unary_op(Op::Sqrt, add(var, number(eps, dt))));
    xhat = mul(d, s);
  }
  // dx = s ((dxhat - mean dxhat) - xhat mean(dxhat xhat))
  TensorPtr dx(const TensorPtr& dxhat, const TensorPtr& xhat, const TensorPtr& s) const {
    TensorPtr a = reduce_op(Op::Mean, dxhat, dims, false, true);
    TensorPtr c = reduce_op(Op::Mean, mul(dxhat, xhat), dims, false, true);
    return mul(s, sub(sub(dxhat, a), mul(xhat, c)));
  }
  TensorPtr param_grad(const TensorPtr& t, const Shape& p_shape) const {
    return reshape(reduce_op(Op::Sum, t, other, false, false), p_shape);
  }
};

}  // namespace

// ---- layer_norm ------------------------------------------------------------------------------

// Saves (Custom): x and the weight (in the result's dtype; an empty Array
// without weight), then the mean and s of each row.
TensorPtr layer_norm(const TensorPtr& x, std::int64_t norm_ndim, const TensorPtr& w, const TensorPtr& b, double eps) {
  const Shape& xs = x->data.shape;
  if (norm_ndim < 1 || norm_ndim > x->data.ndim())
    throw ValueError("layer_norm: cannot normalize the last " + std::to_string(norm_ndim) + " dims of a tensor of shape " +
                     shape_str(xs));
  const std::size_t lead = xs.size() - static_cast<std::size_t>(norm_ndim);
  const Shape ns(xs.begin() + lead, xs.end());
  check_param("layer_norm", "weight", w, ns);
  check_param("layer_norm", "bias", b, ns);
  const DType dt = common_dtype({&x, &w, &b});
  Array xd = astype(x->data, dt), wd = w ? astype(w->data, dt) : Array(), bd = b ? astype(b->data, dt) : Array();
  Array mean, rstd;
  Array y = layer_norm_forward(xd, w ? &wd : nullptr, b ? &bd : nullptr, product(xs, 0, lead), product(xs, lead, xs.size()),
                               eps, mean, rstd);
  std::vector<TensorPtr> ps = parents_of(x, w, b);
  if (!any_requires_grad(ps)) return make_leaf(std::move(y));
  TensorPtr n = record(std::move(y), Op::LayerNorm, std::move(ps), {xd, wd, mean, rstd});
  auto args = std::make_shared<NnArgs>();
  args->has_weight = w != nullptr;
  args->has_bias = b != nullptr;
  args->eps = eps;
  args->norm_ndim = norm_ndim;
  n->nn = std::move(args);
  return n;
}

// dx = s ((g w - mean(g w)) - xhat mean(g w xhat)), dw = sum g xhat, db = sum g
template <class X, class In>
std::vector<X> backward_LayerNorm(const TensorNode& n, const X& g, const In& in) {
  const NnArgs& a = *n.nn;
  const Shape& xs = n.parents[0]->data.shape;
  const std::size_t lead = xs.size() - static_cast<std::size_t>(a.norm_ndim), iw = 1, ib = a.has_weight ? 2 : 1;
  const bool need_x = in.needs(0), need_w = a.has_weight && in.needs(iw), need_b = a.has_bias && in.needs(ib);
  const Shape ns(xs.begin() + lead, xs.end());
  std::vector<X> out(n.parents.size());
  if constexpr (kRecorded<X>) {
    const auto dims = dim_range(static_cast<std::int64_t>(lead), static_cast<std::int64_t>(xs.size()));
    const auto other = dim_range(0, static_cast<std::int64_t>(lead));
    RecordedNorm r{dims, other, a.eps};
    TensorPtr xhat, s;
    r.stats(in.input(0), xhat, s);
    if (need_x) out[0] = r.dx(a.has_weight ? mul(g, in.input(iw)) : g, xhat, s);
    if (need_w) out[iw] = r.param_grad(mul(g, xhat), ns);
    if (need_b) out[ib] = r.param_grad(g, ns);
  } else {
    Array dx, dw, db;
    const std::int64_t rows = product(xs, 0, lead), cols = product(xs, lead, xs.size());
    layer_norm_backward(g, n.saved[0], a.has_weight ? &n.saved[1] : nullptr, n.saved[2], n.saved[3], rows, cols,
                        need_x ? &dx : nullptr, need_w ? &dw : nullptr, need_b ? &db : nullptr);
    if (need_x) out[0] = std::move(dx);
    if (need_w) out[iw] = reshape(dw, ns);
    if (need_b) out[ib] = reshape(db, ns);
  }
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_LayerNorm)

// ---- batch_norm ------------------------------------------------------------------------------

namespace {

double element(const Array& a, std::int64_t i) {
  const std::int64_t at = i * a.strides[0];
  return a.dtype == DType::F32 ? static_cast<double>(a.data<float>()[at]) : a.data<double>()[at];
}

void set_element(const Array& a, std::int64_t i, double v) {
  const std::int64_t at = i * a.strides[0];
  if (a.dtype == DType::F32) a.data<float>()[at] = static_cast<float>(v);
  else a.data<double>()[at] = v;
}

void check_float(const char* fn, const char* name, const TensorPtr& t) {
  if (t && t->data.dtype != DType::F32 && t->data.dtype != DType::F64)
    throw TypeError(std::string(fn) + ": " + name + " must be a float tensor, got " + dtype_name(t->data.dtype));
}

}  // namespace

// Saves (Custom): x and the weight (as layer_norm's), then each channel's
// mean and s: the batch's in training, the running statistics' in evaluation.
TensorPtr batch_norm(const TensorPtr& x, const TensorPtr& rm, const TensorPtr& rv, const TensorPtr& w, const TensorPtr& b,
                     bool training, double momentum, double eps) {
  const Shape& xs = x->data.shape;
  if (xs.size() < 2) throw ValueError("batch_norm: expected an input of at least 2 dims (N, C, ...), got shape " + shape_str(xs));
  const Shape cs{xs[1]};
  check_param("batch_norm", "weight", w, cs);
  check_param("batch_norm", "bias", b, cs);
  check_param("batch_norm", "running_mean", rm, cs);
  check_param("batch_norm", "running_var", rv, cs);
  check_float("batch_norm", "running_mean", rm);
  check_float("batch_norm", "running_var", rv);
  if (!training && (!rm || !rv)) throw ValueError("batch_norm: evaluation mode needs running_mean and running_var");
  const DType dt = common_dtype({&x, &w, &b});
  const std::int64_t C = xs[1], count = xs[0] * product(xs, 2, xs.size());
  if (training && count <= 1)
    throw ValueError("batch_norm: training needs more than 1 value per channel, got an input of shape " + shape_str(xs));
  Array xd = astype(x->data, dt), wd = w ? astype(w->data, dt) : Array(), bd = b ? astype(b->data, dt) : Array();
  Array mean = empty(cs, dt), rstd = empty(cs, dt);
  std::vector<double> mu, sq;
  if (training) channel_moments(xd, mu, sq);
  if (Tracer* t = training ? tracer_here() : nullptr) {  // tg.compile: the values before the update below
    if (rm) t->before_update(rm);
    if (rv) t->before_update(rv);
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const double m = training ? mu[c] : element(rm->data, c);
    const double var = training ? sq[c] / static_cast<double>(count) : element(rv->data, c);
    set_element(mean, c, m);
    set_element(rstd, c, 1.0 / std::sqrt(var + eps));
    if (!training) continue;
    if (rm) set_element(rm->data, c, momentum * m + (1.0 - momentum) * element(rm->data, c));
    if (rv) set_element(rv->data, c, momentum * (sq[c] / static_cast<double>(count - 1)) + (1.0 - momentum) * element(rv->data, c));
  }
  Array y = batch_norm_forward(xd, w ? &wd : nullptr, b ? &bd : nullptr, mean, rstd);
  std::vector<TensorPtr> ps = parents_of(x, w, b);
  if (!any_requires_grad(ps)) return make_leaf(std::move(y));
  TensorPtr n = record(std::move(y), Op::BatchNorm, std::move(ps), {xd, wd, mean, rstd});
  auto args = std::make_shared<NnArgs>();
  args->has_weight = w != nullptr;
  args->has_bias = b != nullptr;
  args->training = training;
  args->eps = eps;
  args->momentum = momentum;
  n->nn = std::move(args);
  // tg.compile: the running statistics are operands of a replay (not parents)
  if (Tracer* t = tracer_here()) t->running_stats(n, rm, rv);
  return n;
}

// training: layer_norm's rule per channel; evaluation: dx = s g w, the statistics constants
template <class X, class In>
std::vector<X> backward_BatchNorm(const TensorNode& n, const X& g, const In& in) {
  const NnArgs& a = *n.nn;
  const std::size_t iw = 1, ib = a.has_weight ? 2 : 1;
  const bool need_x = in.needs(0), need_w = a.has_weight && in.needs(iw), need_b = a.has_bias && in.needs(ib);
  std::vector<X> out(n.parents.size());
  if constexpr (kRecorded<X>) {
    const Shape& xs = n.parents[0]->data.shape;
    const std::int64_t nd = static_cast<std::int64_t>(xs.size());
    std::vector<std::int64_t> dims{0};
    for (std::int64_t d = 2; d < nd; ++d) dims.push_back(d);
    Shape kept(xs.size(), 1);  // (1, C, 1, ...)
    kept[1] = xs[1];
    RecordedNorm r{dims, dims, a.eps};
    const TensorPtr& x = in.input(0);
    TensorPtr xhat, s;
    if (a.training) {
      r.stats(x, xhat, s);
    } else {
      s = make_leaf(reshape(n.saved[3], kept));
      xhat = mul(sub(x, make_leaf(reshape(n.saved[2], kept))), s);
    }
    TensorPtr dxhat = a.has_weight ? mul(g, reshape(in.input(iw), kept)) : g;
    if (need_x) out[0] = a.training ? r.dx(dxhat, xhat, s) : mul(s, dxhat);
    if (need_w) out[iw] = r.param_grad(mul(g, xhat), Shape{xs[1]});
    if (need_b) out[ib] = r.param_grad(g, Shape{xs[1]});
  } else {
    Array dx, dw, db;
    batch_norm_backward(g, n.saved[0], a.has_weight ? &n.saved[1] : nullptr, n.saved[2], n.saved[3], a.training,
                        need_x ? &dx : nullptr, need_w ? &dw : nullptr, need_b ? &db : nullptr);
    if (need_x) out[0] = std::move(dx);
    if (need_w) out[iw] = std::move(dw);
    if (need_b) out[ib] = std::move(db);
  }
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_BatchNorm)

// ---- dropout -----------------------------------------------------------------------------------

// Saves (Custom): the noise, in x's dtype.
TensorPtr dropout(const TensorPtr& x, const Array& noise) {
  if (noise.shape != x->data.shape)
    throw ValueError("dropout: noise of shape " + shape_str(noise.shape) + " for an input of shape " + shape_str(x->data.shape));
  Array nz = astype(noise, x->data.dtype);
  Array out = mul(x->data, nz);
  if (!recording({&x})) return make_leaf(std::move(out));
  return record(std::move(out), Op::Dropout, {x}, {nz});
}

// d(a * noise)/da = noise, a constant
template <class X, class In>
std::vector<X> backward_Dropout(const TensorNode& n, const X& g, const In&) {
  return {mul(g, constant<X>(n.saved[0]))};
}
TG_INSTANTIATE_BACKWARD(backward_Dropout)

}  // namespace tapegrad
