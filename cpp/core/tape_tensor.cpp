// A tape's Tensor instructions (Note [Compile]): each replays the core op the
// trace recorded, with the arguments kept in its template node, on the
// replay's nodes. The op builds the node eager builds, so backward() of a
// replayed Tensor is eager's sweep.
#include <cmath>
#include <cstring>

#include "errors.h"
#include "grad_mode.h"
#include "kernels.h"
#include "tape.h"

namespace tapegrad {

namespace {

// The elementwise rows (a tape's most common instructions), straight from the
// slots, the op rerun() would call; null for any other op.
TensorPtr rerun_elementwise(const TensorNode& t, const std::vector<std::uint32_t>& p, const Replay& r) {
  if (t.op == Op::PowConst) return pow_const(r.t[p[0]], t.k);
  switch (op_info(t.op).kind) {
    case OpKind::Unary: return unary_param(t.op, r.t[p[0]], t.k, t.k2);
    case OpKind::Binary: return binary_op(t.op, r.t[p[0]], r.t[p[1]]);
    case OpKind::Compare: return compare(t.op, r.t[p[0]], r.t[p[1]]);
    default: return nullptr;
  }
}

}  // namespace

// The array kernel the elementwise op calls (ops_elementwise.cpp), on arrays:
// the same bits as the node's data.
bool rerun_elementwise(const TensorNode& t, const Array* const* p, Array& out) {
  switch (op_info(t.op).kind) {
    case OpKind::Unary: out = unary(t.op, *p[0], t.k, t.k2); return true;  // "**k" too
    case OpKind::Binary:
    case OpKind::Compare: out = binary(t.op, *p[0], *p[1]); return true;
    default: return false;
  }
}

TensorPtr rerun(const TensorNode& t, const std::vector<TensorPtr>& p) {
  switch (t.op) {
    case Op::PowConst: return pow_const(p[0], t.k);
    case Op::MatMul: return matmul(p[0], p[1]);
    case Op::Sum:
    case Op::Mean:
    case Op::Max:
    case Op::Min: return reduce_op(t.op, p[0], t.dims, false, t.keepdim);
    case Op::Reshape: return reshape(p[0], t.data.shape);
    case Op::Transpose:
    case Op::Permute: return permuted(p[0], t.op, t.dims);
    case Op::Expand: return expand(p[0], t.data.shape);
    case Op::Cast: return cast(p[0], t.data.dtype);
    case Op::GetItem: return getitem(p[0], t.plan);
    case Op::Concatenate: return concatenate(p, t.dims[0]);
    case Op::Stack: return stack(p, t.dims[0]);
    case Op::Where: return where(p[0], p[1], p[2]);
    case Op::Softmax: return softmax(p[0], t.dims[0]);
    case Op::LogSoftmax: return log_softmax(p[0], t.dims[0]);
    case Op::CrossEntropy:
      return cross_entropy(p[0], t.labels, Shape{static_cast<std::int64_t>(t.labels.size())});
    case Op::MseLoss: return mse_loss(p[0], p[1]);
    case Op::Argmax:
    case Op::Argmin: return arg_op(t.op, p[0], t.dims.empty() ? 0 : t.dims[0], t.dims.empty(), t.keepdim);
    case Op::Var:
    case Op::Std: return moments_op(t.op, p[0], t.dims, false, t.keepdim, t.k);
    case Op::LogSumExp: return logsumexp(p[0], t.dims, t.keepdim);
    case Op::Clone: return clone(p[0]);
    case Op::Gather:
    case Op::Embedding: return index_with_plan(t.op, p[0], t.plan);  // ids from no tensor: the traced plan
    case Op::LayerNorm: {  // parents: x, then the weight and the bias if given
      const NnArgs& a = *t.nn;
      return layer_norm(p[0], a.norm_ndim, a.has_weight ? p[1] : nullptr, a.has_bias ? p[a.has_weight ? 2 : 1] : nullptr,
                        a.eps);
    }
    case Op::Conv2d: {
      const NnArgs& a = *t.nn;
      return conv2d(p[0], p[1], a.has_bias ? p[2] : nullptr, a.sh, a.sw, a.ph, a.pw);
    }
    case Op::Linear: return linear(p[0], p[1], p.size() == 3 ? p[2] : nullptr);
    case Op::MaxPool2d:
    case Op::AvgPool2d: return pool2d(t.op, p[0], t.nn->kh, t.nn->kw, t.nn->sh, t.nn->sw);
    default: break;
  }
  switch (op_info(t.op).kind) {
    // every unary op through the path that takes the op's numbers (0 for ops without): the same bits
    case OpKind::Unary: return unary_param(t.op, p[0], t.k, t.k2);
    case OpKind::Binary: return binary_op(t.op, p[0], p[1]);
    case OpKind::Compare: return compare(t.op, p[0], p[1]);
    default: break;
  }
  throw RuntimeError(std::string("tg.compile: cannot replay op '") + op_name(t.op) + "'");
}

namespace {

// Integer ids held by a tensor (getitem's index arrays, cross_entropy's
// labels), with the errors eager's conversion raises.
std::vector<std::int64_t> ids_of(const Array& a, bool labels) {
  Array c = contiguous(a);
  const std::int64_t n = c.numel();
  if (c.dtype == DType::I64) return std::vector<std::int64_t>(c.data<std::int64_t>(), c.data<std::int64_t>() + n);
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = c.dtype == DType::F32 ? static_cast<double>(c.data<float>()[i]) : c.data<double>()[i];
    if (!std::isfinite(x) || x != std::round(x)) {
      if (labels) throw TypeError("cross_entropy: labels must be integer class ids");
      throw IndexError("tensor indices must hold integers");
    }
    out[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(x);
  }
  return out;
}

}  // namespace

// An op whose ids come from tensors: getitem with index tensors, cross_entropy with label tensors.
TensorPtr rerun_with_ids(const TensorInstr& ti, const std::vector<TensorPtr>& p, const Replay& r) {
  if (ti.tmpl->op == Op::CrossEntropy) {
    const Array& labels = r.t[ti.id_sources[0].second]->data;
    return cross_entropy(p[0], ids_of(labels, true), labels.shape);
  }
  if (ti.tmpl->op == Op::Gather) return gather(p[0], ti.tmpl->dims[0], r.t[ti.id_sources[0].second]->data);
  if (ti.tmpl->op == Op::Embedding) return embedding(r.t[ti.id_sources[0].second]->data, p[0]);
  std::vector<IndexItem> items = *ti.items;
  for (const auto& [pos, slot] : ti.id_sources) {
    const Array& ids = r.t[slot]->data;
    items[pos].values = ids_of(ids, false);
    items[pos].shape = ids.shape;
  }
  return getitem(p[0], items);
}

namespace {

// batch_norm with this replay's running statistics: in training, copies of
// them, which take the slots (later readers see the update, as in eager) and
// are written back once every guard held (Tape::forward, its stores).
TensorPtr rerun_batch_norm(Replay& r, const TensorInstr& ti, const std::vector<TensorPtr>& p) {
  const NnArgs& a = *ti.tmpl->nn;
  TensorPtr stats[2];
  for (int k = 0; k < 2; ++k) {
    const std::uint32_t slot = ti.running[k];
    if (slot == kNoSlot) continue;
    if (k == 1 && slot == ti.running[0]) {  // one tensor for both: eager updates it twice
      stats[1] = stats[0];
      continue;
    }
    stats[k] = r.t[slot];
    if (a.training) r.t[slot] = stats[k] = make_leaf(copy(stats[k]->data), stats[k]->requires_grad);
  }
  return batch_norm(p[0], stats[0], stats[1], a.has_weight ? p[1] : nullptr,
                    a.has_bias ? p[a.has_weight ? 2 : 1] : nullptr, a.training, a.momentum, a.eps);
}

bool same_bits(const Array& a, const Array& b) {
  if (a.dtype != b.dtype || a.shape != b.shape) return false;
  Array x = contiguous(a), y = contiguous(b);
  return std::memcmp(x.ptr(), y.ptr(), static_cast<std::size_t>(x.numel()) * itemsize(x.dtype)) == 0;
}

}  // namespace

// Exactly the rows rerun() covers: a row of a new family is refused (fn runs
// eagerly) until rerun() learns it. Not replayed: a tg.autograd.Function (its
// forward is Python's), getitem_backward (recorded backward passes only).
bool replayable(Op op) {
  switch (op) {
    case Op::PowConst: case Op::MatMul: case Op::Sum: case Op::Mean: case Op::Max: case Op::Min:
    case Op::Reshape: case Op::Transpose: case Op::Permute: case Op::Expand: case Op::Cast: case Op::GetItem:
    case Op::Concatenate: case Op::Stack: case Op::Where: case Op::Softmax: case Op::LogSoftmax:
    case Op::CrossEntropy: case Op::MseLoss: case Op::Argmax: case Op::Argmin: case Op::Var: case Op::Std:
    case Op::LogSumExp: case Op::Clone: case Op::Gather: case Op::Embedding: case Op::LayerNorm: case Op::Conv2d:
    case Op::MaxPool2d: case Op::AvgPool2d: case Op::BatchNorm: case Op::Dropout: case Op::Linear:
      return true;  // batch_norm and dropout through run_tensor (their running statistics, their noise)
    default: {
      const OpKind kind = op_info(op).kind;
      return kind == OpKind::Unary || kind == OpKind::Binary || kind == OpKind::Compare;
    }
  }
}

void Tape::run_tensor(Replay& r, const TensorInstr& ti) const {
  switch (ti.kind) {
    case TensorInstr::Op: {
      NoGradScope scope(ti.no_grad);
      if (TensorPtr out = rerun_elementwise(*ti.tmpl, ti.parents, r)) {
        r.t[ti.out] = std::move(out);
        return;
      }
      std::vector<TensorPtr> parents;
      parents.reserve(ti.parents.size());
      for (std::uint32_t p : ti.parents) parents.push_back(r.t[p]);
      if (ti.tmpl->op == Op::BatchNorm) r.t[ti.out] = rerun_batch_norm(r, ti, parents);
      else if (ti.tmpl->op == Op::Dropout) r.t[ti.out] = dropout(parents[0], ti.source->draw());  // fresh noise
      else r.t[ti.out] = ti.id_sources.empty() ? rerun(*ti.tmpl, parents) : rerun_with_ids(ti, parents, r);
      return;
    }
    case TensorInstr::Const:  // a fresh leaf each call, as eager makes, over the same values
      r.t[ti.out] = make_leaf(ti.tmpl->data, ti.requires_grad);
      return;
    case TensorInstr::FromNumber:
      r.t[ti.out] = make_leaf(scalar_array(r.s[ti.number], ti.tmpl->data.dtype), ti.requires_grad);
      return;
    case TensorInstr::Detach:
      r.t[ti.out] = make_leaf(r.t[ti.parents[0]]->data, ti.requires_grad);
      return;
    case TensorInstr::Draw:
      r.t[ti.out] = make_leaf(ti.source->draw(), ti.requires_grad);
      return;
    case TensorInstr::Store: {
      // The slot's later readers see the new values; an outside tensor gets
      // them once every guard has held (Tape::forward).
      TensorPtr fresh = make_leaf(copy(r.t[ti.parents[0]]->data), false);
      r.t[ti.out] = std::move(fresh);
      return;
    }
  }
}

bool Tape::check_tensor(const Replay& r, std::uint32_t slot, const TensorInstr& expected) const {
  return same_bits(slot_data(r, slot), expected.tmpl->data);
}

}  // namespace tapegrad
