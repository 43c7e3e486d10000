// Tensor autograd methods (backward, _gradients, detach, zero_grad) and the
// module's tensor functions (tensor, zeros, ones, concatenate, stack, where,
// the fused losses). No math here.
#include <pybind11/stl.h>

#include "bindings.h"
#include "compile_hooks.h"
#include "grad_mode.h"
#include "tensor_convert.h"

namespace tapegrad::bindings {

namespace {

using T = TensorNode;

// gradient=: a Tensor as it is (a recorded pass differentiates through it), else data in `dtype`.
TensorPtr gradient_arg(py::handle gradient, DType dtype) {
  if (gradient.is_none()) return nullptr;
  if (is_tensor(gradient.ptr())) return holder_of(gradient.ptr());
  return make_leaf(array_from_py(gradient, py::str(dtype_name(dtype))));
}

// retain_graph=None means create_graph, as in PyTorch.
bool retain_arg(py::handle retain_graph, bool create_graph) {
  return retain_graph.is_none() ? create_graph : flag_arg(retain_graph);
}

std::vector<TensorPtr> tensor_list(py::handle seq, const char* what) {
  if (is_tensor(seq.ptr()) || !py::hasattr(seq, "__iter__"))
    throw TypeError(std::string(what) + "() takes a sequence of tensors, got " + type_name(seq));
  std::vector<TensorPtr> out;
  for (auto x : seq) out.push_back(as_tensor(x, DType::F32, what));
  if (out.empty()) throw ValueError(std::string(what) + "() needs at least one tensor");
  return out;
}

// cross_entropy's labels as class ids and their shape; the core checks the
// shape and the range (Note [Errors]).
std::pair<std::vector<std::int64_t>, Shape> labels_arg(py::handle labels) {
  if (is_tensor(labels.ptr()) && holder_of(labels.ptr())->data.dtype == DType::I64) {  // the usual labels, as they are
    Array ids = contiguous(holder_of(labels.ptr())->data);
    return {std::vector<std::int64_t>(ids.data<std::int64_t>(), ids.data<std::int64_t>() + ids.numel()), ids.shape};
  }
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  if (is_tensor(labels.ptr())) {  // tg.compile replays the ids from it (cross_entropy below)
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
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ints(arr);
  return {std::vector<std::int64_t>(ints.data(), ints.data() + ints.size()), Shape(ints.shape(), ints.shape() + ints.ndim())};
}

}  // namespace

void bind_tensor_autograd(TensorClass& cls) {
  def_method(cls, "detach", "self", "A leaf sharing this tensor's data, outside the graph.",
             [](const TensorPtr& s, const Args&) {
    TensorPtr leaf = make_leaf(s->data);
    if (Tracer* t = tracing() ? active_tracer() : nullptr) t->tensor_detached(leaf, s);  // replayed from s
    return leaf;
  });
  def_method(cls, "zero_grad", "self", "Set .grad to None.", [](const TensorPtr& s, const Args&) { s->grad = nullptr; });
  def_method(cls, "backward", "self, gradient=None, retain_graph=None, create_graph=False",
             "Add d(self)/d(leaf) into .grad of every leaf that requires grad. With create_graph the backward pass "
             "records its own ops, so the gradients can be differentiated again; retain_graph defaults to "
             "create_graph.",
             [](const TensorPtr& s, const Args& a) {
    check_not_tracing("backward()");
    const py::handle gradient = a[0];
    const bool create_graph = flag_arg(a[2]);
    const bool retain = retain_arg(a[1], create_graph);
    TensorPtr g = gradient_arg(gradient, s->data.dtype);
    BackwardPass pass;
    if (create_graph || live_callbacks() > 0) {  // records nodes, or calls Python: with the GIL
      pass = tapegrad::backward(s, g, retain, create_graph);
    } else {
      py::gil_scoped_release release;
      pass = tapegrad::backward(s, g, retain, false);
    }
    commit(std::move(pass));  // .grad and .parents change with the GIL held
  });
  def_method(cls, "_gradients", "self, inputs, gradient=None, retain_graph=None, create_graph=False",
             "This pass's d(self)/d(input) for each input (zeros if unreachable); no .grad changes.",
             [](const TensorPtr& s, const Args& a) {
    check_not_tracing("tg.grad()");
    std::vector<TensorPtr> ins;
    for (auto x : a[0]) {
      if (!is_tensor(x.ptr())) throw TypeError("grad() inputs must be tapegrad (native) Tensors, got " + type_name(x));
      ins.push_back(holder_of(x.ptr()));
    }
    const py::handle gradient = a[1];
    const bool create_graph = flag_arg(a[3]);
    const bool retain = retain_arg(a[2], create_graph);
    TensorPtr g = gradient_arg(gradient, s->data.dtype);
    std::vector<TensorPtr> gs;
    BackwardPass pass;
    if (create_graph || live_callbacks() > 0) {  // Note [Callbacks]
      gs = gradients(s, ins, g, retain, create_graph, pass);
    } else {
      py::gil_scoped_release release;
      gs = gradients(s, ins, g, retain, false, pass);
    }
    commit(std::move(pass));
    py::list out;
    for (auto& t : gs) out.append(py::cast(t));
    return out;
  });
}

void bind_tensor_functions(py::module_& m) {
  def_function(m, "tensor", "data, requires_grad=False, dtype=None", "A new leaf holding a copy of data.", [](const Args& a) {
    const bool requires_grad = requires_grad_arg(a[1]);
    return make_leaf(array_from_py(a[0], a[2]), requires_grad);
  });
  def_function(m, "zeros", "*shape, dtype=None, requires_grad=False", "Zeros (tapegrad.zeros checks the shape first).",
               [](const Args& a) {
    const bool requires_grad = requires_grad_arg(a[2]);
    return make_leaf(zeros(shape_args(a[0]), dtype_arg(a[1], DType::F32)), requires_grad);
  });
  def_function(m, "ones", "*shape, dtype=None, requires_grad=False", "Ones (tapegrad.ones checks the shape first).",
               [](const Args& a) {
    const bool requires_grad = requires_grad_arg(a[2]);
    return make_leaf(full(shape_args(a[0]), dtype_arg(a[1], DType::F32), 1.0), requires_grad);
  });
  def_function(m, "concatenate", "tensors, dim=0, *, axis=None", op_info(Op::Concatenate).doc, [](const Args& a) {
    std::vector<TensorPtr> ts = tensor_list(a[0], "concatenate");
    return concatenate(ts, dim_arg(a[2].is_none() ? a[1] : a[2], ts[0]->data.ndim()));
  });
  def_function(m, "stack", "tensors, dim=0, *, axis=None", op_info(Op::Stack).doc, [](const Args& a) {
    std::vector<TensorPtr> ts = tensor_list(a[0], "stack");
    return stack(ts, dim_arg(a[2].is_none() ? a[1] : a[2], ts[0]->data.ndim() + 1));
  });
  def_function(m, "where", "cond, a, b", op_info(Op::Where).doc, [](const Args& args) {
    DType dt = DType::F32;
    bool any = false;
    for (py::handle x : {args[1], args[2]})
      if (is_tensor(x.ptr())) {
        DType d = holder_of(x.ptr())->data.dtype;
        dt = any ? promote(dt, d) : d;
        any = true;
      }
    TensorPtr c = as_tensor(args[0], DType::F32, "where"), x = as_tensor(args[1], dt, "where"), y = as_tensor(args[2], dt, "where");
    return where(c, x, y);
  });
  def_function(m, "cross_entropy", "logits, labels", "Mean over the batch of -log softmax(logits)[label], fused and stable.",
               [](const Args& a) {
    TensorPtr z = as_tensor(a[0], DType::F32, "cross_entropy");
    auto [ids, shape] = labels_arg(a[1]);
    TensorPtr out = cross_entropy(z, ids, shape);
    if (Tracer* tr = tracing() && is_tensor(a[1].ptr()) ? active_tracer() : nullptr) tr->labels_from(out, holder_of(a[1].ptr()));
    return out;
  });
  def_function(m, "mse_loss", "pred, target", "Mean of (pred - target)^2 over all elements (shapes broadcast).",
               [](const Args& a) {
    TensorPtr p = as_tensor(a[0], DType::F32, "mse_loss");
    return mse_loss(p, as_tensor(a[1], p->data.dtype, "mse_loss"));
  });
}

}  // namespace tapegrad::bindings
