// The int64 side of Tensor (Note [Dtypes]): argmax/argmin, gather, the dtype
// casts long/float/double, and the embedding lookup behind
// tg.nn.functional.embedding. No math here.
#include "bindings.h"
#include "tensor_convert.h"
#include "trace.h"

namespace tapegrad::bindings {

namespace {

TensorPtr arg_call(Op op, const TensorPtr& s, const Args& a) {
  const bool all = a[0].is_none();
  const std::int64_t dim = all ? 0 : dim_arg(a[0], s->data.ndim());
  const bool keepdim = flag_arg(a[1]);
  return maybe_nogil(s->data.numel(), [&] { return arg_op(op, s, dim, all, keepdim); });
}

// An int64 index argument: a Tensor (the core checks its dtype), else a TypeError.
const Array& index_arg(py::handle index, const char* what, const char* name) {
  if (!is_tensor(index.ptr())) {
    std::string foreign = foreign_backend(index);
    throw TypeError(std::string(what) + ": " + name + " must be an int64 tensor, got " +
                    (foreign.empty() ? type_name(index) : foreign));
  }
  return holder_of(index.ptr())->data;
}

}  // namespace

void bind_tensor_index(py::module_& m, TensorClass& cls) {
  for (Op op : {Op::Argmax, Op::Argmin}) {
    const OpInfo& info = op_info(op);
    def_method(cls, info.python, "self, dim=None, keepdim=False", info.doc,
               [op](const TensorPtr& s, const Args& a) { return arg_call(op, s, a); });
  }
  def_method(cls, "gather", "self, dim, index", op_info(Op::Gather).doc, [](const TensorPtr& s, const Args& a) {
    const std::int64_t dim = dim_arg(a[0], s->data.ndim());
    const Array& index = index_arg(a[1], "gather", "index");
    TensorPtr out = maybe_nogil(index.numel(), [&] { return gather(s, dim, index); });
    if (Tracer* tr = tracing() ? active_tracer() : nullptr) tr->ids_from(out, holder_of(a[1].ptr()), dim);  // replayed ids
    return out;
  });
  def_method(cls, "long", "self", "The values as int64, truncated toward zero (a leaf: int64 takes no gradient).",
             [](const TensorPtr& s, const Args&) { return cast(s, DType::I64); });
  def_method(cls, "float", "self", "The values as float32 (itself if float32; an 'astype' node when recorded).",
             [](const TensorPtr& s, const Args&) { return cast(s, DType::F32); });
  def_method(cls, "double", "self", "The values as float64 (itself if float64; an 'astype' node when recorded).",
             [](const TensorPtr& s, const Args&) { return cast(s, DType::F64); });
  def_function(m, "_embedding", "idx, weight", op_info(Op::Embedding).doc, [](const Args& a) {
    const Array& index = index_arg(a[0], "embedding", "idx");
    if (!is_tensor(a[1].ptr())) throw TypeError("embedding: weight must be a Tensor, got " + type_name(a[1]));
    const TensorPtr& weight = holder_of(a[1].ptr());
    TensorPtr out = maybe_nogil(index.numel() * (weight->data.ndim() == 2 ? weight->data.shape[1] : 1),
                                [&] { return embedding(index, weight); });
    if (Tracer* tr = tracing() ? active_tracer() : nullptr) tr->ids_from(out, holder_of(a[0].ptr()), 0);  // replayed ids
    return out;
  });
}

}  // namespace tapegrad::bindings
