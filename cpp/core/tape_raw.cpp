// A flat replay's raw program (Note [Flat replay] in docs/DESIGN.md): the
// elementwise instructions whose operands are dense arrays of the output's
// shape and float dtype, decided once per tape, run the kernels' loops on raw
// memory (kernels.h, unary_raw ... binary_grad_raw) into the slots' pooled
// buffers, forward and backward: no Array is made or checked per instruction.
#include <cstring>

#include "kernels.h"
#include "tape_flat.h"

namespace tapegrad {

namespace {

// An op the raw loops run forward (the vector activations keep their own kernels).
bool raw_op(Op op) {
  const OpKind kind = op_info(op).kind;
  return kind == OpKind::Binary || (kind == OpKind::Unary && !vector_op(op));
}

Array shape_only(const Shape& shape, DType dtype) {
  Array a;
  a.shape = shape;
  a.dtype = dtype;
  a.strides = contiguous_strides(shape);
  return a;
}

}  // namespace

void Tape::FlatPlan::plan_raw(const Tape& t) {
  like.assign(t.tensor_slots, Array());
  raw.assign(t.tensors.size(), 0);
  std::vector<char> dense(t.tensor_slots, 0), listed(t.tensor_slots, 0);
  for (const TapeInput& in : t.inputs) {
    if (in.kind != TapeInput::ArgTensor && in.kind != TapeInput::ExternalTensor) continue;
    like[in.slot] = shape_only(in.shape, in.dtype);
    dense[in.slot] = is_float(in.dtype);  // if the call's array is dense: checked per call (start_flat)
  }
  for (std::uint32_t k = 0; k < t.tensors.size(); ++k) {
    const TensorInstr& ti = t.tensors[k];
    if (ti.out == kNoSlot || !ti.tmpl) continue;
    const Array& data = ti.tmpl->data;
    like[ti.out] = shape_only(data.shape, data.dtype);
    if (ti.kind == TensorInstr::Const) {  // its data is the slot's array at every call
      dense[ti.out] = data.storage != nullptr && is_float(data.dtype) && data.is_contiguous();
      continue;
    }
    if (ti.kind != TensorInstr::Op || !elementwise[k] || !pooled[ti.out] || !is_float(data.dtype) || !raw_op(ti.tmpl->op))
      continue;
    bool ok = true;
    for (std::uint32_t p : ti.parents)
      ok = ok && dense[p] && like[p].dtype == data.dtype && like[p].shape == data.shape;
    if (!ok) continue;
    raw[k] = dense[ti.out] = 1;
    for (std::uint32_t p : ti.parents)
      if (input_slot[p] && !listed[p]) {
        listed[p] = 1;
        raw_inputs.push_back(p);
      }
  }
}

void Tape::run_raw(Replay& r, const TensorInstr& ti) const {
  const Array& like = flat_->like[ti.out];
  Array& buf = r.fwd_buf[ti.out];  // only ever this slot's shape and dtype
  if (!reusable(buf)) buf = empty(like.shape, like.dtype);
  const TensorNode& t = *ti.tmpl;
  const std::int64_t n = buf.numel();
  if (ti.parents.size() == 2)
    binary_raw(t.op, like.dtype, r.a[ti.parents[0]].ptr(), r.a[ti.parents[1]].ptr(), buf.ptr(), n);
  else
    unary_raw(t.op, like.dtype, r.a[ti.parents[0]].ptr(), buf.ptr(), n, t.k, t.k2);
  r.a[ti.out] = buf;
}

// Each parent's share, as eager's rule computes it (unary_backward,
// binary_backward), into the parent's buffer when it is the first to reach
// it, else added into its gradient: sum + share, as eager's sweep adds.
bool Tape::raw_shares(Replay& r, const TensorInstr& ti, const Array& g, std::vector<Array>& grads) const {
  const Array& like = flat_->like[ti.out];
  const std::int64_t n = like.numel();
  if (g.dtype != like.dtype || g.numel() != n || !g.is_contiguous()) return false;
  const TensorNode& t = *ti.tmpl;
  const DType dt = like.dtype;
  const Saves sv = op_info(t.op).saves;
  const bool unary = ti.parents.size() == 1;
  for (std::size_t i = 0; i < ti.parents.size(); ++i) {
    const std::uint32_t p = ti.parents[i];
    if (!flat_->grad[p]) continue;
    Array& buf = r.bwd_buf[p];
    const bool first = !present(grads[p]);
    Array dst;
    if (first && reusable(buf)) {
      dst = buf;
    } else {
      dst = empty(like.shape, dt);
      if (first) buf = dst;
    }
    if (unary) {
      if (t.op == Op::Neg) unary_raw(Op::Neg, dt, g.ptr(), dst.ptr(), n, 0.0, 0.0);
      else unary_grad_raw(t.op, dt, g.ptr(), (sv == Saves::Output ? r.a[ti.out] : r.a[ti.parents[0]]).ptr(), dst.ptr(), n, t.k, t.k2);
    } else {
      const int pass = binary_pass(t.op, static_cast<int>(i));
      if (pass == 1) {
        std::memcpy(dst.ptr(), g.ptr(), static_cast<std::size_t>(n) * itemsize(dt));  // eager's share is g itself
      } else if (pass == -1) {
        unary_raw(Op::Neg, dt, g.ptr(), dst.ptr(), n, 0.0, 0.0);
      } else {
        const bool has_in = sv == Saves::Inputs || sv == Saves::InputsOutput;
        const void* a = has_in ? r.a[ti.parents[0]].ptr() : g.ptr();
        const void* b = has_in ? r.a[ti.parents[1]].ptr() : g.ptr();
        const void* o = sv == Saves::InputsOutput ? r.a[ti.out].ptr() : g.ptr();
        binary_grad_raw(t.op, static_cast<int>(i), dt, g.ptr(), a, b, o, dst.ptr(), n);
      }
    }
    if (first) grads[p] = std::move(dst);
    else if (grads[p].storage == buf.storage && buf.storage.use_count() == 2)  // the pool's and this sweep's only
      binary_raw(Op::Add, dt, grads[p].ptr(), dst.ptr(), grads[p].ptr(), n);
    else
      grads[p] = add(grads[p], dst);
  }
  return true;
}

}  // namespace tapegrad
