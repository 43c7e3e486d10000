// A flat replay's raw program (Note [Flat replay] in docs/DESIGN.md): the
// elementwise instructions whose operands are dense arrays of the output's
// shape and float dtype, decided once per tape, run the kernels' loops on raw
// memory (kernels.h, unary_raw ... binary_grad_raw) into the slots' pooled
// buffers, forward and backward. A step is a few packed numbers and a slot's
// memory one pointer: no Array is made, copied or checked per instruction.
#include <cstring>

#include "grad_mode.h"
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
  step_of.assign(t.tensors.size(), kNoSlot);
  bufferable.assign(t.tensor_slots, 0);
  std::vector<char> dense(t.tensor_slots, 0), listed(t.tensor_slots, 0);
  std::vector<std::uint32_t> const_of(t.tensor_slots, kNoSlot);
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
      const_of[ti.out] = k;
      continue;
    }
    const Op op = ti.tmpl->op;
    if (ti.kind != TensorInstr::Op || !elementwise[k] || !pooled[ti.out] || !is_float(data.dtype) || !raw_op(op)) continue;
    bool ok = true;
    for (std::uint32_t p : ti.parents) ok = ok && dense[p] && like[p].dtype == data.dtype && like[p].shape == data.shape;
    if (!ok) continue;
    RawStep s{op, data.dtype, op_info(op).saves, ti.parents.size() == 2, {0, 0}, ti.parents[0],
              ti.parents.size() == 2 ? ti.parents[1] : kNoSlot, ti.out, data.numel(), ti.tmpl->k, ti.tmpl->k2};
    s.neg = unary_raw_fn(Op::Neg, s.dt);
    s.add = binary_raw_fn(Op::Add, s.dt);
    if (s.binary) {
      s.binary_fn = binary_raw_fn(op, s.dt);
      for (int i = 0; i < 2; ++i) {
        s.pass[i] = static_cast<std::int8_t>(binary_pass(op, i));
        s.binary_grad[i] = binary_grad_raw_fn(op, i, s.dt);
      }
    } else {
      s.unary = unary_raw_fn(op, s.dt);
      s.unary_grad = unary_grad_raw_fn(op, s.dt);
    }
    step_of[k] = static_cast<std::uint32_t>(steps.size());
    steps.push_back(s);
    dense[ti.out] = 1;
    raw_outs.push_back(ti.out);
    for (std::uint32_t p : ti.parents) {
      if (grad[p] && pooled[p] && !input_slot[p] && !bufferable[p]) {
        bufferable[p] = 1;
        bwd_slots.push_back(p);
      }
      if (listed[p]) continue;
      listed[p] = 1;
      if (input_slot[p]) raw_inputs.push_back(p);
      else if (const_of[p] != kNoSlot) raw_consts.emplace_back(p, const_of[p]);
    }
  }
  plan_arrays(t);
}

// The slots a step writes that something else reads as an Array: another
// instruction, a scalar instruction (item(), a guard), or the caller (a result).
void Tape::FlatPlan::plan_arrays(const Tape& t) {
  as_array.assign(t.tensor_slots, 0);
  for (std::uint32_t k = 0; k < t.tensors.size(); ++k) {
    if (step_of[k] != kNoSlot) continue;
    const TensorInstr& ti = t.tensors[k];
    for (std::uint32_t p : ti.parents) as_array[p] = 1;
    for (const auto& src : ti.id_sources) as_array[src.second] = 1;
  }
  for (const Instr& i : t.code)
    if (i.code == code_of(Tc::Item) || i.code == code_of(Tc::GuardTensor)) as_array[i.a] = 1;
  for (const TapeOutput& o : t.outputs)
    if (o.kind == TapeOutput::Tensor) as_array[o.slot] = 1;
  plan_lists(t);
}

void Tape::FlatPlan::plan_lists(const Tape& t) {
  std::vector<char> raw_written(t.tensor_slots, 0), holder(t.tensor_slots, 0);
  for (const RawStep& s : steps) raw_written[s.out] = 1;
  for (std::uint32_t k = 0; k < t.tensors.size(); ++k) {
    const TensorInstr& ti = t.tensors[k];
    if (ti.kind != TensorInstr::Op || elementwise[k]) continue;
    generic.push_back(k);
    for (std::uint32_t p : ti.parents) holder[p] = 1;
    for (const auto& src : ti.id_sources) holder[src.second] = 1;
    if (ti.out != kNoSlot) holder[ti.out] = 1;
  }
  for (std::uint32_t slot = 0; slot < t.tensor_slots; ++slot) {
    if (input_slot[slot]) input_slots.push_back(slot);
    if (grad[slot]) grad_slots.push_back(slot);
    if (holder[slot] && !input_slot[slot]) holder_slots.push_back(slot);
    if (raw_written[slot] && !as_array[slot]) continue;
    array_slots.push_back(slot);
    if (!keep[slot] && !input_slot[slot]) drop_slots.push_back(slot);
  }
}

std::size_t Tape::raw_steps() const { return flat_ ? flat_->steps.size() : 0; }

void Tape::start_raw(Replay& r) const {
  const FlatPlan& pl = *flat_;
  for (std::uint32_t slot : pl.raw_outs) {
    Array& buf = r.fwd_buf[slot];  // only ever this slot's shape and dtype
    if (!reusable(buf)) buf = empty(pl.like[slot].shape, pl.like[slot].dtype);
    r.ptr[slot] = buf.ptr();
  }
  for (std::uint32_t slot : pl.raw_inputs) r.ptr[slot] = r.a[slot].ptr();
  for (const auto& [slot, k] : pl.raw_consts) r.ptr[slot] = tensors[k].tmpl->data.ptr();
}

void Tape::run_raw(Replay& r, std::uint32_t k) const {
  const FlatPlan::RawStep& s = flat_->steps[flat_->step_of[k]];
  void* const* ptr = r.ptr.data();
  if (s.binary) s.binary_fn(ptr[s.a], ptr[s.b], ptr[s.out], s.n);
  else s.unary(ptr[s.a], ptr[s.out], s.n, s.k, s.k2);
  if (flat_->as_array[s.out]) r.a[s.out] = r.fwd_buf[s.out];
}

void Tape::start_raw_sweep(Replay& r) const {
  const FlatPlan& pl = *flat_;
  for (std::uint32_t slot : pl.bwd_slots) {
    Array& buf = r.bwd_buf[slot];
    if (!reusable(buf) || buf.dtype != pl.like[slot].dtype || buf.shape != pl.like[slot].shape)
      buf = empty(pl.like[slot].shape, pl.like[slot].dtype);
    r.bptr[slot] = buf.ptr();
  }
}

void Tape::grad_as_array(Replay& r, std::uint32_t p) const {
  if (r.gstate[p] != 1) return;
  r.grads[p] = r.bwd_buf[p];  // now held twice: no rule computes into it, sums make new arrays
  r.gstate[p] = 2;
}

namespace {

// The share of parent i of raw step s, from upstream gradient g, into dst: what
// eager's rule computes (unary_backward, binary_backward).
void raw_share(const Tape::FlatPlan::RawStep& s, int i, const void* g, void* const* ptr, void* dst) {
  if (!s.binary) {
    if (s.unary_grad == nullptr) s.neg(g, dst, s.n, 0.0, 0.0);  // neg's share: -g
    else s.unary_grad(g, ptr[s.saves == Saves::Output ? s.out : s.a], dst, s.n, s.k, s.k2);
  } else if (s.pass[i] == 1) {
    std::memcpy(dst, g, static_cast<std::size_t>(s.n) * itemsize(s.dt));  // eager's share is g itself
  } else if (s.pass[i] == -1) {
    s.neg(g, dst, s.n, 0.0, 0.0);
  } else {
    const bool has_in = s.saves == Saves::Inputs || s.saves == Saves::InputsOutput;
    s.binary_grad[i](g, has_in ? ptr[s.a] : g, has_in ? ptr[s.b] : g, s.saves == Saves::InputsOutput ? ptr[s.out] : g,
                     dst, s.n);
  }
}

}  // namespace

// Step k's backward: each parent's share computed straight into the parent's
// buffer when it is the first to reach it (mode 1), or into a new array then
// added into the buffer in place (2) or into grads (3): sum + share, in
// eager's order. A gradient lives in its buffer (gstate 1) until a non-raw
// instruction reads it (grad_as_array).
void Tape::raw_backward(Replay& r, std::uint32_t k, std::vector<Array>& grads, bool anomaly) const {
  const FlatPlan& pl = *flat_;
  const FlatPlan::RawStep& s = pl.steps[pl.step_of[k]];
  const char state = r.gstate[s.out];
  if (state == 0) return;  // nothing reached it
  const std::uint32_t parent[2] = {s.a, s.b};
  const int m = s.binary ? 2 : 1;
  if (state == 1 && !anomaly && !(s.binary && s.a == s.b)) {  // a chain's step: every share is its parent's first
    bool firsts = true;
    for (int i = 0; i < m; ++i) firsts = firsts && (!pl.grad[parent[i]] || (pl.bufferable[parent[i]] && r.gstate[parent[i]] == 0));
    if (firsts) {
      r.gstate[s.out] = 0;
      for (int i = 0; i < m; ++i) {
        if (!pl.grad[parent[i]]) continue;
        raw_share(s, i, r.bptr[s.out], r.ptr.data(), r.bptr[parent[i]]);
        r.gstate[parent[i]] = 1;
      }
      return;
    }
  }
  Array g;  // the upstream gradient as an Array (in grads, or for anomaly's check)
  const void* gp;
  if (state == 1) {
    gp = r.bptr[s.out];
  } else {
    g = std::move(grads[s.out]);
    if (g.dtype != s.dt || g.numel() != s.n) throw std::logic_error("tape: a gradient of another shape or dtype");
    if (!g.is_contiguous()) g = contiguous(g);  // sum's backward hands on a broadcast one
    gp = g.ptr();
  }
  r.gstate[s.out] = 0;
  Array fresh[2];
  char mode[2] = {0, 0};
  for (int i = 0; i < m; ++i) {
    const std::uint32_t p = parent[i];
    if (!pl.grad[p]) continue;
    const bool buffered = pl.bufferable[p] && !anomaly;
    void* dst;
    if (buffered && r.gstate[p] == 0 && !(i == 1 && s.a == s.b)) {
      mode[i] = 1;
      dst = r.bptr[p];
    } else {
      fresh[i] = empty(pl.like[s.out].shape, s.dt);
      mode[i] = buffered && r.gstate[p] == 1 ? 2 : 3;
      dst = fresh[i].ptr();
    }
    raw_share(s, i, gp, r.ptr.data(), dst);
  }
  if (anomaly) {
    if (state == 1) g = r.bwd_buf[s.out];
    anomaly_check(*tensors[k].tmpl, g, std::vector<Array>(fresh, fresh + m));
  }
  for (int i = 0; i < m; ++i) {
    const std::uint32_t p = parent[i];
    if (mode[i] == 1) {
      r.gstate[p] = 1;
    } else if (mode[i] == 2) {
      s.add(r.bptr[p], fresh[i].ptr(), r.bptr[p], s.n);
    } else if (mode[i] == 3) {
      grad_as_array(r, p);
      Array& sum = grads[p];
      sum = present(sum) ? add(sum, fresh[i]) : std::move(fresh[i]);
      r.gstate[p] = 2;
    }
  }
}

}  // namespace tapegrad
