// The nn layers' kernels as private functions of _core (_layer_norm,
// _conv2d, ...). tg.nn.functional (tapegrad/_nn_layers_functional.py, shared
// by both backends) checks the arguments in the words both backends share and
// calls these with Tensors, ints and floats; the core checks the shapes again.
// No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

// A Tensor argument, or null for None.
TensorPtr optional_tensor(py::handle h, const char* what) {
  return h.is_none() ? nullptr : as_tensor(h, DType::F32, what);
}

// (a, b) as two ints.
std::pair<std::int64_t, std::int64_t> pair_arg(py::handle h) {
  auto v = h.cast<std::vector<std::int64_t>>();
  if (v.size() != 2) throw ValueError("expected a pair of ints");
  return {v[0], v[1]};
}

}  // namespace

void bind_nn_functions(py::module_& m) {
  def_function(m, "_layer_norm", "x, normalized_ndim, weight, bias, eps", op_info(Op::LayerNorm).doc, [](const Args& a) {
    TensorPtr x = as_tensor(a[0], DType::F32, "layer_norm");
    TensorPtr w = optional_tensor(a[2], "layer_norm"), b = optional_tensor(a[3], "layer_norm");
    const std::int64_t nd = a[1].cast<std::int64_t>();
    const double eps = a[4].cast<double>();
    return maybe_nogil(x->data.numel(), [&] { return layer_norm(x, nd, w, b, eps); });
  });
  def_function(m, "_batch_norm", "x, running_mean, running_var, weight, bias, training, momentum, eps",
               op_info(Op::BatchNorm).doc, [](const Args& a) {
    TensorPtr x = as_tensor(a[0], DType::F32, "batch_norm");
    TensorPtr rm = optional_tensor(a[1], "batch_norm"), rv = optional_tensor(a[2], "batch_norm");
    TensorPtr w = optional_tensor(a[3], "batch_norm"), b = optional_tensor(a[4], "batch_norm");
    const bool training = flag_arg(a[5]);
    const double momentum = a[6].cast<double>(), eps = a[7].cast<double>();
    return batch_norm(x, rm, rv, w, b, training, momentum, eps);  // with the GIL: it writes the running statistics
  });
  def_function(m, "_dropout", "x, noise", op_info(Op::Dropout).doc, [](const Args& a) {
    TensorPtr x = as_tensor(a[0], DType::F32, "dropout");
    Array noise = as_tensor(a[1], x->data.dtype, "dropout")->data;
    return maybe_nogil(x->data.numel(), [&] { return dropout(x, noise); });
  });
  def_function(m, "_conv2d", "x, weight, bias, stride, padding", op_info(Op::Conv2d).doc, [](const Args& a) {
    TensorPtr x = as_tensor(a[0], DType::F32, "conv2d"), w = as_tensor(a[1], DType::F32, "conv2d");
    TensorPtr b = optional_tensor(a[2], "conv2d");
    auto [sh, sw] = pair_arg(a[3]);
    auto [ph, pw] = pair_arg(a[4]);
    return maybe_nogil(x->data.numel(), [&] { return conv2d(x, w, b, sh, sw, ph, pw); });
  });
  def_function(m, "_linear", "input, weight, bias", op_info(Op::Linear).doc, [](const Args& a) {
    TensorPtr x = as_tensor(a[0], DType::F32, "linear"), w = as_tensor(a[1], DType::F32, "linear");
    TensorPtr b = optional_tensor(a[2], "linear");
    return maybe_nogil(std::max(x->data.numel(), w->data.numel()), [&] { return linear(x, w, b); });
  });
  for (Op op : {Op::MaxPool2d, Op::AvgPool2d}) {
    const char* name = op == Op::MaxPool2d ? "_max_pool2d" : "_avg_pool2d";
    def_function(m, name, "x, kernel_size, stride", op_info(op).doc, [op](const Args& a) {
      TensorPtr x = as_tensor(a[0], DType::F32, op_name(op));
      auto [kh, kw] = pair_arg(a[1]);
      auto [sh, sw] = pair_arg(a[2]);
      return maybe_nogil(x->data.numel(), [&] { return pool2d(op, x, kh, kw, sh, sw); });
    });
  }
}

}  // namespace tapegrad::bindings
