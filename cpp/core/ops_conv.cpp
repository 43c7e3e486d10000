// conv2d and pooling (NCHW), each forward beside its backward rule.
//
// Note [conv2d as one GEMM]
// conv2d lays out the input as a column matrix, col (C*KH*KW, N*OH*OW):
// column (n, oh, ow) holds the input window of output pixel (oh, ow) of image
// n (im2col, zeros in the padding). Then out = W col, with W the weight as an
// (O, C*KH*KW) matrix: one GEMM through matmul's BLAS, whose (O, N*OH*OW)
// result is copied to (N, O, OH, OW) with the bias added. The backward runs
// two more GEMMs: dW = G col^T and dcol = W^T G, and col2im adds each entry
// of dcol back where im2col took it from. The recorded rule (create_graph)
// makes im2col an index plan (getitem's gather, col2im its scatter-add
// getitem_backward), so every step is an op of the table and differentiates
// again. The pools record their windows as plans too: max_pool2d's backward
// is the scatter-add of g to each window's maximum, in both sweeps.
#include "backward_rules.h"
#include "kernels_nn.h"

namespace tapegrad {

namespace {

using Plan = std::shared_ptr<const IndexPlan>;

ConvGeom geometry(const char* fn, const Shape& xs, std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw,
                  std::int64_t ph, std::int64_t pw) {
  if (xs.size() != 4) throw ValueError(std::string(fn) + ": expected an input of shape (N, C, H, W), got " + shape_str(xs));
  if (sh < 1 || sw < 1 || ph < 0 || pw < 0)
    throw ValueError(std::string(fn) + ": stride must be positive and padding non-negative");
  ConvGeom g;
  g.N = xs[0]; g.C = xs[1]; g.H = xs[2]; g.W = xs[3];
  g.KH = kh; g.KW = kw; g.SH = sh; g.SW = sw; g.PH = ph; g.PW = pw;
  if (!conv_output_size(g))
    throw ValueError(std::string(fn) + ": a kernel of size (" + std::to_string(kh) + ", " + std::to_string(kw) +
                     ") does not fit an input of shape " + shape_str(xs) + " padded by (" + std::to_string(ph) + ", " +
                     std::to_string(pw) + ")");
  return g;
}

ConvGeom geometry_of(const TensorNode& n) {
  const NnArgs& a = *n.nn;
  ConvGeom g;
  const Shape& xs = n.parents[0]->data.shape;
  g.N = xs[0]; g.C = xs[1]; g.H = xs[2]; g.W = xs[3];
  g.KH = a.kh; g.KW = a.kw; g.SH = a.sh; g.SW = a.sw; g.PH = a.ph; g.PW = a.pw;
  conv_output_size(g);
  return g;
}

std::shared_ptr<NnArgs> args_of(const ConvGeom& g) {
  auto a = std::make_shared<NnArgs>();
  a->kh = g.KH; a->kw = g.KW; a->sh = g.SH; a->sw = g.SW; a->ph = g.PH; a->pw = g.PW;
  return a;
}

Plan plan_of(Shape in, Shape out, std::vector<std::int64_t> flat) {
  auto p = std::make_shared<IndexPlan>();
  p->in_shape = std::move(in);
  p->is_view = false;
  p->out_shape = std::move(out);
  p->flat = std::move(flat);
  return p;
}

// y (O, N*P) as (N, O, P) plus the bias, and back: one contiguous run of P per (n, o).
Array to_images(const Array& y0, const Array* bias, const ConvGeom& g, std::int64_t O) {
  Array y = contiguous(y0), b = bias ? contiguous(astype(*bias, y.dtype)) : Array();
  Array out = empty(Shape{g.N, O, g.OH, g.OW}, y.dtype);
  const std::int64_t P = g.OH * g.OW;
  auto run = [&](auto zero) {
    using T = decltype(zero);
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t o = 0; o < O; ++o) {
        const T* src = y.data<T>() + (o * g.N + n) * P;
        T* dst = out.data<T>() + (n * O + o) * P;
        if (bias) { const T bo = b.data<T>()[o]; for (std::int64_t p = 0; p < P; ++p) dst[p] = src[p] + bo; }
        else std::copy(src, src + P, dst);
      }
  };
  if (y.dtype == DType::F32) run(float{}); else run(double{});
  return out;
}

Array from_images(const Array& g0, const ConvGeom& g, std::int64_t O) {
  return contiguous(reshape(transpose(reshape(g0, Shape{g.N, O, g.OH * g.OW}), 0, 1), Shape{O, g.cols()}));
}

}  // namespace

// ---- conv2d ----------------------------------------------------------------------------------

// Saves (Custom): x and the weight, in the result's dtype.
TensorPtr conv2d(const TensorPtr& x, const TensorPtr& w, const TensorPtr& b, std::int64_t sh, std::int64_t sw,
                 std::int64_t ph, std::int64_t pw) {
  const Shape& ws = w->data.shape;
  if (ws.size() != 4) throw ValueError("conv2d: expected a weight of shape (O, C, KH, KW), got " + shape_str(ws));
  ConvGeom g = geometry("conv2d", x->data.shape, ws[2], ws[3], sh, sw, ph, pw);
  if (ws[1] != g.C)
    throw ValueError("conv2d: a weight of shape " + shape_str(ws) + " takes " + std::to_string(ws[1]) +
                     " input channels, got an input of shape " + shape_str(x->data.shape));
  const std::int64_t O = ws[0];
  if (b && b->data.shape != Shape{O})
    throw ValueError("conv2d: bias has shape " + shape_str(b->data.shape) + ", expected " + shape_str(Shape{O}));
  DType dt = promote(x->data.dtype, w->data.dtype);
  if (b) dt = promote(dt, b->data.dtype);
  Array xd = astype(x->data, dt), wd = astype(w->data, dt);
  Array y = matmul(reshape(wd, Shape{O, g.rows()}), im2col(xd, g));
  Array out = to_images(y, b ? &b->data : nullptr, g, O);
  std::vector<TensorPtr> ps{x, w};
  if (b) ps.push_back(b);
  if (!any_requires_grad(ps)) return make_leaf(std::move(out));
  TensorPtr n = record(std::move(out), Op::Conv2d, std::move(ps), {xd, wd});
  auto args = args_of(g);
  args->has_weight = true;
  args->has_bias = b != nullptr;
  n->nn = std::move(args);
  return n;
}

// dx = col2im(W^T G), dW = G col(x)^T, db = sum of g over (N, OH, OW) (Note [conv2d as one GEMM])
template <class X, class In>
std::vector<X> backward_Conv2d(const TensorNode& n, const X& g, const In& in) {
  const ConvGeom geom = geometry_of(n);
  const Shape& xs = n.parents[0]->data.shape;
  const Shape& ws = n.parents[1]->data.shape;
  const std::int64_t O = ws[0];
  std::vector<X> out(n.parents.size());
  const bool has_bias = n.parents.size() == 3;
  if constexpr (kRecorded<X>) {
    const TensorPtr& x = in.input(0);
    TensorPtr gy = reshape(permute(g, {1, 0, 2, 3}), Shape{O, geom.cols()});
    // im2col as a gather from x's elements (and a zero after them, for the padding)
    const std::int64_t numel = x->data.numel();
    const bool padded = geom.PH > 0 || geom.PW > 0;
    TensorPtr src = reshape(x, Shape{numel});
    if (padded) src = concatenate({src, make_leaf(zeros(Shape{1}, x->data.dtype))}, 0);
    Plan plan = plan_of(Shape{numel + (padded ? 1 : 0)}, Shape{geom.rows(), geom.cols()}, im2col_positions(geom));
    if (in.needs(1)) out[1] = reshape(matmul(gy, transpose(gather_by_plan(src, plan), 0, 1)), ws);
    if (in.needs(0)) {
      TensorPtr dsrc = scatter_by_plan(matmul(transpose(reshape(in.input(1), Shape{O, geom.rows()}), 0, 1), gy), plan);
      out[0] = reshape(padded ? slice(dsrc, 0, 0, numel) : dsrc, xs);
    }
    if (has_bias && in.needs(2)) out[2] = reduce_op(Op::Sum, g, {0, 2, 3}, false, false);
  } else {
    const DType dt = n.saved[0].dtype;
    Array gy = from_images(astype(g, dt), geom, O);
    if (in.needs(1)) out[1] = reshape(matmul(gy, transpose(im2col(n.saved[0], geom), 0, 1)), ws);
    if (in.needs(0)) out[0] = col2im(matmul(transpose(reshape(n.saved[1], Shape{O, geom.rows()}), 0, 1), gy), geom, dt);
    if (has_bias && in.needs(2)) out[2] = reduce(ReduceKind::Sum, gy, {1}, false);
  }
  return out;
}
TG_INSTANTIATE_BACKWARD(backward_Conv2d)

// ---- pooling -----------------------------------------------------------------------------------

// max_pool2d saves (Custom) the position of each window's maximum, as a plan.
TensorPtr pool2d(Op op, const TensorPtr& x, std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw) {
  const char* fn = op == Op::MaxPool2d ? "max_pool2d" : "avg_pool2d";
  if (kh < 1 || kw < 1) throw ValueError(std::string(fn) + ": kernel_size must be positive");
  ConvGeom g = geometry(fn, x->data.shape, kh, kw, sh, sw, 0, 0);
  std::vector<std::int64_t> where;
  Array out = op == Op::MaxPool2d ? max_pool(x->data, g, where) : avg_pool(x->data, g);
  if (!recording({&x})) return make_leaf(std::move(out));
  Shape out_shape = out.shape;
  TensorPtr n = record(std::move(out), op, {x});
  n->nn = args_of(g);
  if (op == Op::MaxPool2d) n->plan = plan_of(x->data.shape, std::move(out_shape), std::move(where));
  return n;
}

// g added to each window's maximum (the scatter-add of getitem's backward)
template <class X, class In>
std::vector<X> backward_MaxPool2d(const TensorNode& n, const X& g, const In&) {
  return {scatter_by_plan(g, n.plan)};
}
TG_INSTANTIATE_BACKWARD(backward_MaxPool2d)

// d mean/dx = 1 / (KH KW) for each window x is in
template <class X, class In>
std::vector<X> backward_AvgPool2d(const TensorNode& n, const X& g, const In&) {
  const ConvGeom geom = geometry_of(n);
  if constexpr (kRecorded<X>) {
    const Shape& xs = n.parents[0]->data.shape;
    const std::int64_t k = geom.KH * geom.KW;
    Shape windows{geom.N, geom.C, geom.OH, geom.OW, k};
    TensorPtr share = scale(reshape(g, Shape{geom.N, geom.C, geom.OH, geom.OW, 1}), 1.0 / static_cast<double>(k));
    Plan plan = plan_of(xs, windows, window_positions(geom));
    return {scatter_by_plan(expand(share, windows), plan)};
  } else {
    return {avg_pool_backward(g, geom, n.parents[0]->data.dtype)};
  }
}
TG_INSTANTIATE_BACKWARD(backward_AvgPool2d)

}  // namespace tapegrad
