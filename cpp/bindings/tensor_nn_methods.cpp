// The Tensor methods and functions that real models use, with PyTorch's names
// and arguments: the activations that take arguments (gelu, softplus,
// leaky_relu, clamp), var, std, logsumexp, clone, float, double, maximum and
// minimum, and the private _expand and _slice that tapegrad/_tensor_methods.py
// builds expand, split and chunk on. silu takes none: it is a fast method of the op table
// (install_fast_paths). No math here.
#include <cmath>
#include <limits>

#include "bindings.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

// A number argument, else TypeError "<what> must be a number, got str" (the reference's words).
double number_arg(py::handle v, const char* what) {
  if (!is_number(v)) throw TypeError(std::string(what) + " must be a number, got " + type_name(v));
  return py::float_(py::reinterpret_borrow<py::object>(v)).cast<double>();
}

TensorPtr unary_call(Op op, const TensorPtr& s) {
  return maybe_nogil(s->data.numel(), [&] { return unary_op(op, s); });
}
// an op that takes numbers (k, k2)
TensorPtr param_call(Op op, const TensorPtr& s, double k, double k2 = 0.0) {
  return maybe_nogil(s->data.numel(), [&] { return unary_param(op, s, k, k2); });
}

// gelu's approximate: "none" or "tanh"
Op gelu_op(py::handle approximate) {
  if (PyUnicode_Check(approximate.ptr())) {
    const std::string a = approximate.cast<std::string>();
    if (a == "none") return Op::Gelu;
    if (a == "tanh") return Op::GeluTanh;
  }
  throw ValueError("gelu: approximate must be 'none' or 'tanh', got " + py::repr(approximate).cast<std::string>());
}

// dim=None: every dim; else an int or a tuple of ints
TensorPtr moments_call(Op op, const TensorPtr& s, const Args& a) {
  const bool all = a[0].is_none();
  std::vector<std::int64_t> dims = all ? std::vector<std::int64_t>{} : dims_arg(a[0], s->data.ndim());
  const double correction = number_arg(a[1], op == Op::Var ? "var: correction" : "std: correction");
  const bool keepdim = flag_arg(a[2]);
  return maybe_nogil(s->data.numel(), [&] { return moments_op(op, s, dims, all, keepdim, correction); });
}

// maximum/minimum of two operands: numbers take the tensors' dtype (as where's)
TensorPtr extremum(Op op, py::handle x, py::handle y) {
  DType dt = DType::F32;
  bool any = false;
  for (py::handle v : {x, y})
    if (is_tensor(v.ptr())) {
      const DType d = holder_of(v.ptr())->data.dtype;
      dt = any ? promote(dt, d) : d;
      any = true;
    }
  const char* name = op_name(op);
  TensorPtr a = as_tensor(x, dt, name), b = as_tensor(y, dt, name);
  return maybe_nogil(std::max(a->data.numel(), b->data.numel()), [&] { return binary_op(op, a, b); });
}

}  // namespace

void bind_tensor_nn_methods(py::module_& m, TensorClass& cls) {
  def_method(cls, "gelu", "self, approximate='none'", op_info(Op::Gelu).doc,
             [](const TensorPtr& s, const Args& a) { return unary_call(gelu_op(a[0]), s); });
  def_method(cls, "softplus", "self, beta=1.0, threshold=20.0", op_info(Op::Softplus).doc,
             [](const TensorPtr& s, const Args& a) {
    const double beta = number_arg(a[0], "softplus: beta"), threshold = number_arg(a[1], "softplus: threshold");
    return param_call(Op::Softplus, s, beta, threshold);
  });
  def_method(cls, "leaky_relu", "self, negative_slope=0.01", op_info(Op::LeakyRelu).doc,
             [](const TensorPtr& s, const Args& a) {
    return param_call(Op::LeakyRelu, s, number_arg(a[0], "leaky_relu: negative_slope"));
  });
  def_method(cls, "clamp", "self, min=None, max=None", op_info(Op::Clamp).doc, [](const TensorPtr& s, const Args& a) {
    if (a[0].is_none() && a[1].is_none()) throw TypeError("clamp: at least one of min and max must be given");
    const double inf = std::numeric_limits<double>::infinity();
    const double lo = a[0].is_none() ? -inf : number_arg(a[0], "clamp: min");
    const double hi = a[1].is_none() ? inf : number_arg(a[1], "clamp: max");
    return param_call(Op::Clamp, s, lo, hi);
  });
  def_method(cls, "var", "self, dim=None, *, correction=1, keepdim=False", op_info(Op::Var).doc,
             [](const TensorPtr& s, const Args& a) { return moments_call(Op::Var, s, a); });
  def_method(cls, "std", "self, dim=None, *, correction=1, keepdim=False", op_info(Op::Std).doc,
             [](const TensorPtr& s, const Args& a) { return moments_call(Op::Std, s, a); });
  def_method(cls, "logsumexp", "self, dim, keepdim=False", op_info(Op::LogSumExp).doc,
             [](const TensorPtr& s, const Args& a) {
    std::vector<std::int64_t> dims = dims_arg(a[0], s->data.ndim());
    const bool keepdim = flag_arg(a[1]);
    return maybe_nogil(s->data.numel(), [&] { return logsumexp(s, dims, keepdim); });
  });
  def_method(cls, "clone", "self", "A copy of the values (op 'clone'); the gradient passes through.",
             [](const TensorPtr& s, const Args&) { return clone(s); });
  def_method(cls, "float", "self", "The values as float32 (this tensor itself if it is float32; op 'astype').",
             [](const TensorPtr& s, const Args&) { return cast(s, DType::F32); });
  def_method(cls, "double", "self", "The values as float64 (this tensor itself if it is float64; op 'astype').",
             [](const TensorPtr& s, const Args&) { return cast(s, DType::F64); });
  def_method(cls, "maximum", "self, other", op_info(Op::Maximum).doc,
             [](const TensorPtr& s, const Args& a) { return extremum(Op::Maximum, py::cast(s), a[0]); });
  def_method(cls, "minimum", "self, other", op_info(Op::Minimum).doc,
             [](const TensorPtr& s, const Args& a) { return extremum(Op::Minimum, py::cast(s), a[0]); });
  // expand's target shape, already resolved and checked (tapegrad/_tensor_methods.py)
  def_method(cls, "_expand", "self, shape", "This tensor broadcast to `shape` (op 'expand').",
             [](const TensorPtr& s, const Args& a) {
    Shape shape;
    for (auto n : a[0]) shape.push_back(n.cast<std::int64_t>());
    return expand(s, shape);
  });
  // split's and chunk's parts: [start, stop) along dim, checked by the caller (op 'getitem', a view)
  def_method(cls, "_slice", "self, dim, start, stop", "The part [start, stop) along dim (op 'getitem').",
             [](const TensorPtr& s, const Args& a) {
    return slice(s, a[0].cast<std::int64_t>(), a[1].cast<std::int64_t>(), a[2].cast<std::int64_t>());
  });
  def_function(m, "maximum", "input, other", op_info(Op::Maximum).doc,
               [](const Args& a) { return extremum(Op::Maximum, a[0], a[1]); });
  def_function(m, "minimum", "input, other", op_info(Op::Minimum).doc,
               [](const Args& a) { return extremum(Op::Minimum, a[0], a[1]); });
}

}  // namespace tapegrad::bindings
