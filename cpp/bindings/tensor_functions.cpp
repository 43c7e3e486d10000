// Tensor autograd methods (backward, _gradients, detach, zero_grad) and the
// module's tensor functions (tensor, zeros, ones, concatenate, stack, where,
// the fused losses). No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "grad_mode.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

Array gradient_arg(py::handle gradient, DType dtype) { return array_from_py(gradient, py::str(dtype_name(dtype))); }

// retain_graph=None means create_graph, as in PyTorch.
bool retain_arg(py::handle retain_graph, bool create_graph) {
  return retain_graph.is_none() ? create_graph : retain_graph.cast<bool>();
}

std::vector<TensorPtr> tensor_list(py::handle seq, const char* what) {
  if (is_tensor(seq.ptr()) || !py::hasattr(seq, "__iter__"))
    throw TypeError(std::string(what) + "() takes a sequence of tensors, got " + py::type::handle_of(seq).attr("__name__").cast<std::string>());
  std::vector<TensorPtr> out;
  for (auto x : seq) out.push_back(as_tensor(x, DType::F32, what));
  if (out.empty()) throw ValueError(std::string(what) + "() needs at least one tensor");
  return out;
}

std::vector<std::int64_t> labels_arg(py::handle labels, const TensorPtr& logits) {
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (is_tensor(labels.ptr())) {
    arr = array_view(holder_of(labels.ptr())->data, labels);
  } else {
    std::string foreign = foreign_backend(labels);
    if (!foreign.empty()) throw TypeError("cross_entropy: labels must be a NumPy array or Tensor, got " + foreign);
    arr = np.attr("asarray")(labels);
  }
  std::string kind = arr.attr("dtype").attr("kind").cast<std::string>();
  if (kind == "f") {
    if (!np.attr("all")(arr.attr("__eq__")(np.attr("round")(arr))).cast<bool>())
      throw TypeError("cross_entropy: labels must be integer class ids");
  } else if (kind != "i" && kind != "u") {
    throw TypeError("cross_entropy: labels must be integer class ids, got dtype " + py::str(arr.attr("dtype")).cast<std::string>());
  }
  const std::int64_t rows = logits->data.ndim() == 2 ? logits->data.shape[0] : -1;  // else the core's ValueError
  if (rows >= 0 && (arr.attr("ndim").cast<int>() != 1 || arr.attr("shape")[py::int_(0)].cast<std::int64_t>() != rows))
    throw ValueError("cross_entropy: labels of shape " + py::str(arr.attr("shape")).cast<std::string>() +
                     " for logits of batch size " + std::to_string(rows));
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ints(arr);
  return std::vector<std::int64_t>(ints.data(), ints.data() + ints.size());
}

}  // namespace

void bind_tensor_autograd(TensorClass& cls) {
  cls.def("detach", [](const TensorPtr& s) { return make_leaf(s->data); },
          sig("detach", "self", "A leaf sharing this tensor's data, outside the graph.").c_str());
  cls.def("zero_grad", [](T& t) { t.grad = nullptr; }, sig("zero_grad", "self", "Set .grad to None.").c_str());
  cls.def("backward", [](const TensorPtr& s, py::handle gradient, py::handle retain_graph, bool create_graph) {
    Array g;
    if (!gradient.is_none()) g = gradient_arg(gradient, s->data.dtype);
    const bool retain = retain_arg(retain_graph, create_graph);
    BackwardPass pass;
    if (create_graph) {  // records nodes: with the GIL
      pass = tapegrad::backward(s, gradient.is_none() ? nullptr : &g, retain, true);
    } else {
      py::gil_scoped_release release;
      pass = tapegrad::backward(s, gradient.is_none() ? nullptr : &g, retain, false);
    }
    commit(std::move(pass));  // .grad and .parents change with the GIL held
  }, py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
     sig("backward", "self, gradient=None, retain_graph=None, create_graph=False",
         "Add d(self)/d(leaf) into .grad of every leaf that requires grad. With create_graph the backward pass "
         "records its own ops, so the gradients can be differentiated again; retain_graph defaults to "
         "create_graph.").c_str());
  cls.def("_gradients", [](const TensorPtr& s, py::iterable inputs, py::handle gradient, py::handle retain_graph, bool create_graph) {
    std::vector<TensorPtr> ins;
    for (auto x : inputs) {
      if (!is_tensor(x.ptr()))
        throw TypeError("grad() inputs must be tapegrad (native) Tensors, got " + py::type::handle_of(x).attr("__name__").cast<std::string>());
      ins.push_back(holder_of(x.ptr()));
    }
    Array g;
    if (!gradient.is_none()) g = gradient_arg(gradient, s->data.dtype);
    const bool retain = retain_arg(retain_graph, create_graph);
    std::vector<TensorPtr> gs;
    BackwardPass pass;
    if (create_graph) {
      gs = gradients(s, ins, gradient.is_none() ? nullptr : &g, retain, true, pass);
    } else {
      py::gil_scoped_release release;
      gs = gradients(s, ins, gradient.is_none() ? nullptr : &g, retain, false, pass);
    }
    commit(std::move(pass));
    py::list out;
    for (auto& t : gs) out.append(py::cast(t));
    return out;
  }, py::arg("inputs"), py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
     sig("_gradients", "self, inputs, gradient=None, retain_graph=None, create_graph=False",
         "This pass's d(self)/d(input) for each input (zeros if unreachable); no .grad changes.").c_str());
}

void bind_tensor_functions(py::module_& m) {
  m.def("tensor", [](py::handle data, bool requires_grad, py::handle dtype) { return make_leaf(array_from_py(data, dtype), requires_grad); },
        py::arg("data"), py::arg("requires_grad") = false, py::arg("dtype") = py::none(),
        sig("tensor", "data, requires_grad=False, dtype=None", "A new leaf holding a copy of data.").c_str());
  m.def("zeros", [](py::args shape, py::handle dtype, bool requires_grad) {
    return make_leaf(zeros(shape_args(shape), dtype_arg(dtype, DType::F32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
        sig("zeros", "*shape, dtype=None, requires_grad=False", "Zeros (tapegrad.zeros checks the shape first).").c_str());
  m.def("ones", [](py::args shape, py::handle dtype, bool requires_grad) {
    return make_leaf(full(shape_args(shape), dtype_arg(dtype, DType::F32), 1.0), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
        sig("ones", "*shape, dtype=None, requires_grad=False", "Ones (tapegrad.ones checks the shape first).").c_str());
  m.def("concatenate", [](py::handle ts, std::int64_t dim, py::object axis) {
    return concatenate(tensor_list(ts, "concatenate"), axis.is_none() ? dim : axis.cast<std::int64_t>());
  }, py::arg("tensors"), py::arg("dim") = 0, py::kw_only(), py::arg("axis") = py::none(),
        sig("concatenate", "tensors, dim=0, *, axis=None", op_info(Op::Concatenate).doc).c_str());
  m.def("stack", [](py::handle ts, std::int64_t dim, py::object axis) {
    return stack(tensor_list(ts, "stack"), axis.is_none() ? dim : axis.cast<std::int64_t>());
  }, py::arg("tensors"), py::arg("dim") = 0, py::kw_only(), py::arg("axis") = py::none(),
        sig("stack", "tensors, dim=0, *, axis=None", op_info(Op::Stack).doc).c_str());
  m.def("where", [](py::handle cond, py::handle a, py::handle b) {
    DType dt = DType::F32;
    bool any = false;
    for (auto x : {a, b})
      if (is_tensor(x.ptr())) {
        DType d = holder_of(x.ptr())->data.dtype;
        dt = any ? promote(dt, d) : d;
        any = true;
      }
    TensorPtr c = as_tensor(cond, DType::F32, "where"), x = as_tensor(a, dt, "where"), y = as_tensor(b, dt, "where");
    return where(c, x, y);
  }, py::arg("cond"), py::arg("a"), py::arg("b"), sig("where", "cond, a, b", op_info(Op::Where).doc).c_str());
  m.def("cross_entropy", [](py::handle logits, py::handle labels) {
    TensorPtr z = as_tensor(logits, DType::F32, "cross_entropy");
    return cross_entropy(z, labels_arg(labels, z));
  }, py::arg("logits"), py::arg("labels"),
        sig("cross_entropy", "logits, labels", "Mean over the batch of -log softmax(logits)[label], fused and stable.").c_str());
  m.def("mse_loss", [](py::handle pred, py::handle target) {
    TensorPtr p = as_tensor(pred, DType::F32, "mse_loss");
    return mse_loss(p, as_tensor(target, p->data.dtype, "mse_loss"));
  }, py::arg("pred"), py::arg("target"), sig("mse_loss", "pred, target", "Mean of (pred - target)^2 over all elements (shapes broadcast).").c_str());
}

}  // namespace tapegrad::bindings
