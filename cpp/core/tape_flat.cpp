// A flat Tensor replay (Note [Flat replay] in docs/DESIGN.md): a tape's
// tensor slots as arrays, its elementwise instructions as the array kernels
// eager's ops call, with no node per op; one node for the result, whose
// backward is the tape's reverse sweep in the order eager's sweep visits the
// traced graph. Other ops record their node as eager does (their rule reads
// what that node saved), without joining any sweep.
#include <algorithm>

#include "backward_rules.h"
#include "broadcast.h"
#include "errors.h"
#include "grad_mode.h"
#include "graph.h"
#include "tape_flat.h"

namespace tapegrad {

namespace {

bool is_elementwise(Op op) {
  const OpKind k = op_info(op).kind;
  return k == OpKind::Unary || k == OpKind::Binary || k == OpKind::Compare;
}

// Whether a tape's instructions all replay flat: no random draws, no stores
// (in-place state), nothing but ops and leaves.
bool flat_instructions(const Tape& t) {
  if (!t.uses_tensors || t.draws || !t.stores.empty() || t.stores_into_init_) return false;
  for (const TensorInstr& ti : t.tensors) {
    switch (ti.kind) {
      case TensorInstr::Op:
        if (ti.source || ti.tmpl->op == Op::BatchNorm || ti.tmpl->op == Op::Dropout) return false;
        break;
      case TensorInstr::Const:
      case TensorInstr::FromNumber:
      case TensorInstr::Detach: break;
      default: return false;
    }
  }
  return true;
}

// The traced Tensor graph as eager's sweep sees it once fn has returned (as
// Tape::Structure for Values): a node per tensor slot, edges from the ops
// that record, exclusive = one edge and no Python object.
struct FlatStructure {
  struct Node {
    std::uint32_t mark = 0;
    std::uint32_t def = kNoSlot;  // the tensor instruction that made it with an edge
  };
  const Tape& tape;
  const std::vector<char>& grad;
  std::vector<Node> nodes;
  std::vector<std::uint32_t> uses;
  std::vector<char> held;
  std::vector<std::uint32_t>& order;

  std::uint32_t& slot(Node* n) const { return n->mark; }
  std::size_t arity(const Node* n) const { return n->def == kNoSlot ? 0 : tape.tensors[n->def].parents.size(); }
  Node* parent(const Node* n, std::size_t i) {
    const std::uint32_t p = tape.tensors[n->def].parents[i];
    return grad[p] ? &nodes[p] : nullptr;
  }
  bool exclusive(const Node* n, std::size_t i) const {
    const std::uint32_t p = tape.tensors[n->def].parents[i];
    return uses[p] == 1 && !held[p];
  }
  struct Unit {};
  Unit zero() const { return {}; }
  void add(Unit&, Unit&&) const {}
  bool has(const Unit&) const { return true; }
  void prefetch(const Node*) const {}
  void visit(Node* n, const Unit&) const {
    if (n->def != kNoSlot) order.push_back(n->def);
  }
  template <class To>
  void propagate(const Node* n, const Unit&, To&& to) const {
    for (std::size_t i = 0; i < arity(n); ++i) to(i, Unit{});
  }
};

bool present(const TensorPtr& g) { return g != nullptr; }

// sum += share, as eager's sweep adds the paths into a node
template <class G>
void accumulate(G& sum, G&& share) {
  if (!present(sum)) sum = std::move(share);
  else sum = add(sum, share);
}

// The node's data for a flat replay's generic op: the slot's array, with the slot's flag.
const TensorPtr& holder(Replay& r, std::uint32_t slot, bool requires_grad) {
  if (!r.t[slot]) r.t[slot] = make_leaf(r.a[slot], requires_grad);
  return r.t[slot];
}

// The result of a flat replay: its backward is the tape's (callbacks.h).
class FlatBackward final : public TensorFunction {
 public:
  explicit FlatBackward(ReplayPtr r) : TensorFunction(Native{}), r_(std::move(r)) {}
  const std::string& name() const override { return r_->tape->name; }
  std::vector<Array> backward(const Array& g) override { return r_->tape->flat_backward(*r_, g); }
  std::vector<TensorPtr> backward_recorded(const TensorPtr& g) override {
    return r_->tape->flat_backward_recorded(*r_, g);
  }

 private:
  ReplayPtr r_;
};

}  // namespace

void Tape::plan_flat() {
  if (!flat_instructions(*this)) return;
  auto pl = std::make_shared<FlatPlan>();
  pl->grad.assign(tensor_slots, 0);
  pl->keep.assign(tensor_slots, 0);
  pl->input_slot.assign(tensor_slots, 0);
  pl->elementwise.assign(tensors.size(), 0);
  std::vector<char> held(tensor_slots, 0);
  for (std::uint32_t k = 0; k < inputs.size(); ++k) {
    const TapeInput& in = inputs[k];
    if (in.kind != TapeInput::ArgTensor && in.kind != TapeInput::ExternalTensor) continue;
    if (pl->input_slot[in.slot]) return;  // one slot, two inputs: not a tape the builder makes
    pl->input_slot[in.slot] = held[in.slot] = 1;
    pl->grad[in.slot] = in.requires_grad;
    if (in.requires_grad) pl->grad_inputs.push_back(k);
  }
  pl->pooled.assign(tensor_slots, 0);
  for (std::uint32_t k = 0; k < tensors.size(); ++k) {
    const TensorInstr& ti = tensors[k];
    if (ti.out == kNoSlot) continue;  // a guard's constant
    const Array& shape = ti.tmpl ? ti.tmpl->data : Array();
    pl->pooled[ti.out] = ti.tmpl && shape.numel() * static_cast<std::int64_t>(itemsize(shape.dtype)) <= kPooledBytes;
    if (ti.kind == TensorInstr::Op) {
      pl->grad[ti.out] = ti.tmpl->requires_grad && !ti.no_grad;
      pl->elementwise[k] = is_elementwise(ti.tmpl->op);
    } else {
      pl->grad[ti.out] = ti.requires_grad;
    }
  }
  for (const TapeOutput& o : outputs) {
    if (o.kind != TapeOutput::Tensor) continue;
    held[o.slot] = pl->keep[o.slot] = 1;
    if (!pl->grad[o.slot]) continue;
    if (pl->root != kNoSlot) return;  // two results that require grad: their paths meet in eager's sweep
    pl->root = o.slot;
  }
  if (pl->root != kNoSlot && pl->grad_inputs.empty()) return;  // its graph reaches only leaves made inside fn
  if (pl->root != kNoSlot) {
    FlatStructure st{*this, pl->grad, std::vector<FlatStructure::Node>(tensor_slots),
                     std::vector<std::uint32_t>(tensor_slots, 0), held, pl->order};
    std::vector<char> alive(tensor_slots, 0);
    alive[pl->root] = 1;
    for (std::uint32_t k = 0; k < tensors.size(); ++k)
      if (tensors[k].out != kNoSlot && tensors[k].kind == TensorInstr::Op && pl->grad[tensors[k].out])
        st.nodes[tensors[k].out].def = k;
    for (std::size_t k = tensors.size(); k-- > 0;) {  // made before used: one reverse pass
      const TensorInstr& ti = tensors[k];
      if (ti.out == kNoSlot || st.nodes[ti.out].def != k || !alive[ti.out]) continue;
      for (std::uint32_t p : ti.parents) {
        alive[p] = 1;
        ++st.uses[p];
      }
    }
    Backprop<FlatStructure::Node, FlatStructure::Unit> sweep;
    sweep.run(&st.nodes[pl->root], FlatStructure::Unit{}, st);
  }
  for (std::uint32_t k : pl->order) {  // what the elementwise rules read (the Saves column)
    const TensorInstr& ti = tensors[k];
    if (!pl->elementwise[k]) continue;
    const Saves sv = op_info(ti.tmpl->op).saves;
    if (sv == Saves::Output || sv == Saves::InputsOutput) pl->keep[ti.out] = 1;
    if (sv == Saves::Input || sv == Saves::Inputs || sv == Saves::InputsOutput)
      for (std::uint32_t p : ti.parents) pl->keep[p] = 1;
  }
  pl->plan_raw(*this);
  flat_ = std::move(pl);
}

bool Tape::start_flat(Replay& r) {
  if (!flat_) return false;
  const FlatPlan& pl = *flat_;
  for (std::uint32_t slot : pl.input_slots)  // a flag changed since the trace: eager's nodes decide
    if (r.t[slot]->requires_grad != static_cast<bool>(pl.grad[slot])) return false;
  for (std::size_t i = 0; i < pl.grad_inputs.size(); ++i)  // one tensor passed twice: its paths meet
    for (std::size_t j = 0; j < i; ++j)
      if (r.t[inputs[pl.grad_inputs[i]].slot] == r.t[inputs[pl.grad_inputs[j]].slot]) return false;
  r.nodes.assign(tensors.size(), nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!flat_pool_.empty()) {
      FlatBuffers& b = flat_pool_.back();
      r.fwd_buf = std::move(b.fwd);
      r.bwd_buf = std::move(b.bwd);
      r.a = std::move(b.a);
      r.grads = std::move(b.grads);
      r.ptr = std::move(b.ptr);
      r.bptr = std::move(b.bptr);
      r.gstate = std::move(b.gstate);
      flat_pool_.pop_back();
    }
  }
  for (auto* v : {&r.fwd_buf, &r.bwd_buf, &r.a, &r.grads}) v->resize(tensor_slots);  // pooled ones have the size
  r.ptr.resize(tensor_slots);
  r.bptr.resize(tensor_slots);
  r.gstate.resize(tensor_slots);
  for (std::uint32_t slot : pl.input_slots) r.a[slot] = r.t[slot]->data;
  r.raw = true;  // the raw program runs if the inputs it reads are dense, as traced
  for (std::uint32_t slot : pl.raw_inputs) {
    const Array& x = r.a[slot];
    const Array& like = pl.like[slot];
    r.raw = r.raw && x.dtype == like.dtype && x.shape == like.shape && x.is_contiguous();
  }
  if (r.raw) start_raw(r);
  return true;
}

void Tape::run_flat(Replay& r, std::uint32_t k) const {
  if (r.raw && flat_->step_of[k] != kNoSlot) return run_raw(r, k);
  const TensorInstr& ti = tensors[k];
  switch (ti.kind) {
    case TensorInstr::Op: {
      if (flat_->elementwise[k]) {
        const Array* p[2] = {&r.a[ti.parents[0]], ti.parents.size() > 1 ? &r.a[ti.parents[1]] : nullptr};
        Array& buf = r.fwd_buf[ti.out];
        if (!flat_->pooled[ti.out]) {
          rerun_elementwise(*ti.tmpl, p, r.a[ti.out]);
        } else if (reusable(buf)) {
          ReuseBuffer reuse(buf);
          rerun_elementwise(*ti.tmpl, p, r.a[ti.out]);
        } else {
          rerun_elementwise(*ti.tmpl, p, r.a[ti.out]);
          adopt(buf, r.a[ti.out]);  // now held twice: by the slot and the pool
        }
        return;
      }
      NoGradScope scope(ti.no_grad);
      std::vector<TensorPtr> parents;
      parents.reserve(ti.parents.size());
      for (std::uint32_t p : ti.parents) parents.push_back(holder(r, p, flat_->grad[p]));
      for (const auto& src : ti.id_sources) holder(r, src.second, flat_->grad[src.second]);  // the ids' tensors
      TensorPtr n = ti.id_sources.empty() ? rerun(*ti.tmpl, parents) : rerun_with_ids(ti, parents, r);
      r.a[ti.out] = n->data;
      r.t[ti.out] = n;
      r.nodes[k] = std::move(n);
      return;
    }
    case TensorInstr::Const: r.a[ti.out] = ti.tmpl->data; return;
    case TensorInstr::FromNumber: r.a[ti.out] = scalar_array(r.s[ti.number], ti.tmpl->data.dtype); return;
    case TensorInstr::Detach: r.a[ti.out] = r.a[ti.parents[0]]; return;
    default: throw std::logic_error("tape: a flat replay of an instruction it cannot run");
  }
}

void Tape::end_flat(Replay& r) const {
  const FlatPlan& pl = *flat_;
  for (std::uint32_t slot : pl.holder_slots) r.t[slot].reset();  // holders; the nodes a rule reads stay in r.nodes
  if (r.raw) {
    for (std::uint32_t slot : pl.drop_slots) r.a[slot].storage.reset();  // its shape and dtype stay
  } else {
    for (std::uint32_t slot = 0; slot < tensor_slots; ++slot)
      if (!pl.keep[slot] && !pl.input_slot[slot]) r.a[slot].storage.reset();
  }
  for (std::uint32_t k : pl.generic)
    if (r.nodes[k] && (tensors[k].out == kNoSlot || !pl.grad[tensors[k].out])) r.nodes[k].reset();
}

void Tape::give_flat_buffers(Replay& r) {
  if (r.raw) {
    for (std::uint32_t slot : flat_->array_slots) r.a[slot].storage.reset();  // the buffers are the pool's alone again
  } else {
    for (Array& x : r.a) x.storage.reset();
  }
  r.nodes.clear();
  r.t.clear();
  if (r.fwd_buf.size() != tensor_slots || r.grads.size() != tensor_slots) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (flat_pool_.size() < 2)
    flat_pool_.push_back(
        FlatBuffers{std::move(r.fwd_buf), std::move(r.bwd_buf), std::move(r.a), std::move(r.grads), std::move(r.ptr),
                    std::move(r.bptr), std::move(r.gstate)});
}

TensorPtr Tape::tensor_result(const ReplayPtr& r, std::uint32_t output) {
  const std::uint32_t slot = outputs[output].slot;
  if (!r->flat) return r->t[slot];
  if (slot != flat_->root || !is_grad_enabled()) return make_leaf(r->a[slot]);
  std::vector<TensorPtr> parents;
  parents.reserve(flat_->grad_inputs.size());
  for (std::uint32_t k : flat_->grad_inputs) parents.push_back(r->t[inputs[k].slot]);
  return record_function(r->a[slot], std::move(parents), std::make_shared<FlatBackward>(r));
}

namespace {

// The share of parent i of an elementwise instruction: eager's rule
// (unary_backward, binary_backward) on the arrays of the flat replay, the
// inputs broadcast to the output's shape as the node would have saved them.
Array elementwise_share(const TensorInstr& ti, int i, const Array& g, const Replay& r) {
  const TensorNode& t = *ti.tmpl;
  const Array& out = r.a[ti.out];
  if (op_info(t.op).kind == OpKind::Unary)
    return std::move(unary_backward(t, g, ArrayIn{{&r.a[ti.parents[0]], nullptr}, &out, 0})[0]);
  const Saves sv = op_info(t.op).saves;
  Array a, b;  // read only by rules that save their inputs
  if (sv == Saves::Inputs || sv == Saves::InputsOutput) {
    a = broadcast_view(r.a[ti.parents[0]], out.shape);
    b = broadcast_view(r.a[ti.parents[1]], out.shape);
  }
  const auto k = static_cast<std::size_t>(i);
  return std::move(binary_backward(t, g, ArrayIn{{&a, &b}, &out, k})[k]);
}

}  // namespace

// The shares of instruction k's parents (empty where none goes): an
// elementwise one's each computed into its parent's buffer when that parent
// has no gradient yet (the raw program's steps have their own: tape_raw.cpp).
void Tape::flat_shares(Replay& r, std::uint32_t k, const Array& g, const std::vector<Array>& grads,
                       std::vector<Array>& out) const {
  const TensorInstr& ti = tensors[k];
  if (!flat_->elementwise[k]) {
    out = backward_rule(*r.nodes[k], g);
    return;
  }
  out.assign(ti.parents.size(), Array());
  for (std::size_t i = 0; i < ti.parents.size(); ++i) {
    const std::uint32_t p = ti.parents[i];
    if (!flat_->grad[p]) continue;
    Array& buf = r.bwd_buf[p];
    const bool pool = flat_->pooled[p] && !(r.raw && flat_->bufferable[p]);  // the raw sweep's own buffer
    const bool into_buf = pool && !present(grads[p]);
    if (into_buf && reusable(buf)) {
      ReuseBuffer reuse(buf);
      out[i] = elementwise_share(ti, static_cast<int>(i), g, r);
    } else {
      out[i] = elementwise_share(ti, static_cast<int>(i), g, r);
      if (pool) adopt(buf, out[i]);
    }
  }
}

std::vector<Array> Tape::flat_backward(Replay& r, const Array& g) const {
  const FlatPlan& pl = *flat_;
  std::vector<Array>& grads = r.grads;  // all empty: a sweep leaves none behind, even one that throws
  struct Empty {
    std::vector<Array>& v;
    std::vector<char>& state;
    const std::vector<std::uint32_t>& slots;
    ~Empty() {
      for (std::uint32_t slot : slots) v[slot].storage.reset();
      std::fill(state.begin(), state.end(), 0);
    }
  } empty_after{grads, r.gstate, pl.grad_slots};
  if (r.raw) start_raw_sweep(r);
  const bool anomaly = is_anomaly_enabled();  // read once: nothing in a flat sweep runs Python
  std::vector<Array> share;
  grads[pl.root] = g;
  r.gstate[pl.root] = 2;
  for (std::uint32_t k : pl.order) {
    const TensorInstr& ti = tensors[k];
    if (r.raw && pl.step_of[k] != kNoSlot) {
      raw_backward(r, k, grads, anomaly);
      continue;
    }
    if (r.raw) {
      grad_as_array(r, ti.out);
      for (std::uint32_t p : ti.parents) grad_as_array(r, p);
    }
    const Array gk = std::move(grads[ti.out]);
    if (!present(gk)) continue;  // nothing reached it (an integer index's rule hands none)
    flat_shares(r, k, gk, grads, share);
    if (anomaly) anomaly_check(pl.elementwise[k] ? *ti.tmpl : *r.nodes[k], gk, share);
    for (std::size_t i = 0; i < ti.parents.size(); ++i) {
      const std::uint32_t p = ti.parents[i];
      if (i < share.size() && present(share[i]) && pl.grad[p]) {
        accumulate(grads[p], share_for(std::move(share[i]), r.a[p]));
        r.gstate[p] = 2;
      }
    }
  }
  std::vector<Array> out;
  out.reserve(pl.grad_inputs.size());
  for (std::uint32_t k : pl.grad_inputs) out.push_back(std::move(grads[inputs[k].slot]));
  return out;
}

std::vector<TensorPtr> Tape::flat_backward_recorded(const Replay& r, const TensorPtr& g) const {
  const FlatPlan& pl = *flat_;
  Replay nodes;
  nodes.s = r.s;
  nodes.t.assign(tensor_slots, nullptr);
  for (std::uint32_t slot = 0; slot < tensor_slots; ++slot)
    if (pl.input_slot[slot]) nodes.t[slot] = r.t[slot];
  {
    const bool recording = recording_backward_flag();
    recording_backward_flag() = false;  // the forward's nodes, made again
    for (const TensorInstr& ti : tensors)
      if (ti.out != kNoSlot) run_tensor(nodes, ti);
    recording_backward_flag() = recording;
  }
  std::vector<TensorPtr> grads(tensor_slots);
  grads[pl.root] = g;
  for (std::uint32_t k : pl.order) {
    const TensorInstr& ti = tensors[k];
    TensorPtr gk = std::move(grads[ti.out]);
    if (!gk) continue;
    const TensorPtr& n = nodes.t[ti.out];
    std::vector<TensorPtr> share = recorded_backward_rule(n, gk);
    if (is_anomaly_enabled()) anomaly_check(*n, gk, share);
    for (std::size_t i = 0; i < ti.parents.size(); ++i) {
      const std::uint32_t p = ti.parents[i];
      if (i < share.size() && share[i] && pl.grad[p]) accumulate(grads[p], share_for(std::move(share[i]), nodes.t[p]->data));
    }
  }
  std::vector<TensorPtr> out;
  out.reserve(pl.grad_inputs.size());
  for (std::uint32_t k : pl.grad_inputs) out.push_back(std::move(grads[inputs[k].slot]));
  return out;
}

}  // namespace tapegrad
