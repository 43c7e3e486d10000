// From the tracer's log to a tape (Note [Compile]): keep what the results,
// the guards and the stores need, give each kept scalar and tensor a slot
// (equal constants share one), and write the instructions in eager order.
#include <cstring>
#include <unordered_map>

#include "errors.h"
#include "trace_event.h"

namespace tapegrad {

namespace {

std::uint64_t bits_of(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// The op and arguments of a traced node, without its data, parents or graph.
TensorPtr op_template(const TensorNode& n) {
  auto t = std::make_shared<TensorNode>();
  t->op = n.op;
  t->data.shape = n.data.shape;  // no storage: the result's shape and dtype only
  t->data.dtype = n.data.dtype;
  t->requires_grad = n.requires_grad;
  t->dims = n.dims;
  t->sizes = n.sizes;
  t->labels = n.labels;
  t->k = n.k;
  t->k2 = n.k2;
  t->keepdim = n.keepdim;
  t->plan = n.plan;
  t->function = n.function;
  t->nn = n.nn;  // the nn layers' arguments (immutable, shared)
  return t;
}

}  // namespace

class TapeBuilder {
 public:
  using Event = Tracer::Event;
  using Ref = Tracer::Ref;

  explicit TapeBuilder(Tracer& tr) : tr_(tr), ev_(tr.events_), tape_(std::make_shared<Tape>()) {}

  TapePtr build(const std::vector<TraceOutput>& outputs) {
    std::vector<Ref> out_refs;
    for (const TraceOutput& o : outputs)
      out_refs.push_back(o.kind == TraceOutput::Value ? tr_.value_ref(o.value)
                         : o.kind == TraceOutput::Tensor ? tr_.tensor_ref(o.tensor) : o.ref);
    tensor_parents();
    liveness(out_refs);
    assign_slots();
    for (std::size_t i = 0; i < ev_.size(); ++i)
      if (live_[i]) emit(static_cast<Ref>(i));
    running_stores();
    for (std::size_t i = 0; i < outputs.size(); ++i) add_output(outputs[i], out_refs[i]);
    tape_->tensor_slots = tensor_count_;
    tape_->plan_reads();
    tape_->plan_flat();
    tr_.restore_leaves();
    return tape_;
  }

 private:
  // The refs of every traced Tensor node's parents (this may add inputs from outside).
  void tensor_parents() {
    parents_.resize(ev_.size());
    for (std::size_t i = 0; i < ev_.size(); ++i) {
      if (ev_[i].kind != Event::TensorOp) continue;
      TensorPtr t = ev_[i].tensor;  // ev_ may grow below
      std::vector<Ref> refs;
      for (const TensorPtr& p : t->parents) refs.push_back(tr_.tensor_ref(p));
      if (parents_.size() < ev_.size()) parents_.resize(ev_.size());
      parents_[i] = std::move(refs);
    }
    parents_.resize(ev_.size());
  }

  // batch_norm in training with running statistics: its replay updates them.
  bool updates_running(const Event& e) const {
    return e.kind == Event::TensorOp && e.tensor->op == Op::BatchNorm && e.tensor->nn && e.tensor->nn->training &&
           (e.a != kNoSlot || e.b != kNoSlot);
  }

  // Results, guards, stores and random draws (the stream moves as eager's
  // does, even for a draw nothing reads) are needed; so is whatever they read.
  void liveness(const std::vector<Ref>& out_refs) {
    live_.assign(ev_.size(), 0);
    for (Ref r : out_refs) live_[r] = 1;
    for (std::size_t i = 0; i < ev_.size(); ++i) {
      const Event& e = ev_[i];
      const auto k = e.kind;
      if (k == Event::Guard || k == Event::GuardTensor || k == Event::StoreValue || k == Event::StoreTensor ||
          k == Event::TensorDraw || (k == Event::TensorOp && e.source) || updates_running(e))
        live_[i] = 1;
      if (k == Event::StoreValue) stored_.emplace(ev_[i].a, true);
    }
    for (std::size_t i = ev_.size(); i-- > 0;) {
      if (!live_[i]) continue;
      const Event& e = ev_[i];
      if (e.a != kNoSlot) live_[e.a] = 1;
      if (e.b != kNoSlot) live_[e.b] = 1;
      for (Ref p : parents_[i]) live_[p] = 1;
      for (const auto& src : e.id_sources) live_[src.second] = 1;
    }
  }

  void assign_slots() {
    slot_.assign(ev_.size(), kNoSlot);
    std::unordered_map<std::uint64_t, std::uint32_t> constants;
    for (std::size_t i = 0; i < ev_.size(); ++i) {
      if (!live_[i]) continue;
      const Event& e = ev_[i];
      if (e.is_tensor()) {
        slot_[i] = tensor_count_++;
        continue;
      }
      if (!e.is_scalar()) continue;
      const bool constant = e.kind == Event::NumberConst || (e.kind == Event::ValueConst && stored_.count(static_cast<Ref>(i)) == 0);
      if (constant) {
        auto found = constants.find(bits_of(e.k));
        if (found != constants.end()) {
          slot_[i] = found->second;
          continue;
        }
        constants.emplace(bits_of(e.k), scalar_count());
      }
      slot_[i] = scalar_count();
      tape_->scalar_init.push_back(constant || e.kind == Event::ValueConst ? e.k : 0.0);
      is_const_.push_back(constant);
    }
  }
  std::uint32_t scalar_count() const { return static_cast<std::uint32_t>(tape_->scalar_init.size()); }

  std::uint32_t s(Ref r) const { return r == kNoSlot ? kNoSlot : slot_[r]; }
  bool constant(Ref r) const { return r != kNoSlot && ev_[r].is_scalar() && is_const_[slot_[r]]; }

  void instr(std::uint8_t code, std::uint8_t flags, std::uint32_t out, std::uint32_t a, std::uint32_t b) {
    tape_->code.push_back(Instr{code, flags, 0, out, a, b});
  }

  std::uint32_t input(TapeInput in, Ref r) {
    input_of_.emplace(r, static_cast<std::uint32_t>(tape_->inputs.size()));
    tape_->inputs.push_back(std::move(in));
    return static_cast<std::uint32_t>(tape_->inputs.size() - 1);
  }

  void tensor_instr(TensorInstr ti, std::uint32_t code_a = kNoSlot) {
    tape_->uses_tensors = true;
    tape_->tensors.push_back(std::move(ti));
    instr(code_of(Tc::Tensor), 0, kNoSlot, static_cast<std::uint32_t>(tape_->tensors.size() - 1), code_a);
  }

  void emit(Ref r) {
    const Event& e = ev_[r];
    switch (e.kind) {
      case Event::ValueConst:
      case Event::NumberConst:
        return;  // filled in every buffer (scalar_init)
      case Event::ValueOp:
      case Event::NumberOp: {
        std::uint8_t flags = e.flags;
        if (constant(e.a)) flags |= Instr::kConstA;
        if (e.code == code_of(Op::PowConst) || constant(e.b)) flags |= Instr::kConstB;  // k is no parent
        return instr(e.code, flags, s(r), s(e.a), s(e.b));
      }
      case Event::ValueCopy:
        return instr(code_of(Tc::Copy), Instr::kNoGrad, s(r), s(e.a), kNoSlot);
      case Event::Item:
        return instr(code_of(Tc::Item), Instr::kNoGrad, s(r), s(e.a), kNoSlot);
      case Event::ValueInput: {
        TapeInput in{e.leaf == kNoSlot ? TapeInput::ExternalValue : TapeInput::ArgValue, e.leaf, s(r), nullptr, nullptr};
        if (e.leaf == kNoSlot) {
          in.value = e.value;
          retain(e.value);  // the tape's own reference (released with the tape)
        }
        input(std::move(in), r);
        return;
      }
      case Event::NumberInput:
        input(TapeInput{TapeInput::ArgNumber, e.leaf, s(r), nullptr, nullptr}, r);
        return;
      case Event::TensorInput: {
        TapeInput in{e.leaf == kNoSlot ? TapeInput::ExternalTensor : TapeInput::ArgTensor, e.leaf, s(r), nullptr, nullptr};
        if (e.leaf == kNoSlot) in.tensor = e.tensor;
        in.requires_grad = e.tensor->requires_grad;
        in.shape = e.tensor->data.shape;
        in.dtype = e.tensor->data.dtype;
        input(std::move(in), r);
        return;
      }
      case Event::Guard:
        return instr(e.code, 0, kNoSlot, s(e.a), s(e.b));
      case Event::StoreValue: {
        instr(code_of(Tc::Store), Instr::kNoGrad, s(e.a), s(e.b), kNoSlot);
        tape_->stores_into_init_ = true;
        auto in = input_of_.find(e.a);
        if (in != input_of_.end()) tape_->stores.push_back(TapeStore{in->second, s(e.a), false});
        return;
      }
      default:
        return emit_tensor(r);
    }
  }

  void emit_tensor(Ref r) {
    const Event& e = ev_[r];
    TensorInstr ti;
    ti.out = s(r);
    ti.no_grad = (e.flags & Instr::kNoGrad) != 0;
    switch (e.kind) {
      case Event::TensorOp:
        ti.kind = TensorInstr::Op;
        ti.tmpl = op_template(*e.tensor);
        if (e.tensor->op == Op::Gather) ti.tmpl->dims = {static_cast<std::int64_t>(e.k)};  // ids_from's dim
        for (Ref p : parents_[r]) ti.parents.push_back(s(p));
        for (const auto& [pos, src] : e.id_sources) ti.id_sources.emplace_back(pos, s(src));
        ti.items = e.items;
        ti.running[0] = s(e.a);
        ti.running[1] = s(e.b);
        ti.source = e.source;  // dropout's noise
        if (e.source) tape_->draws = true;
        break;
      case Event::TensorConst:
        ti.kind = TensorInstr::Const;
        ti.tmpl = e.made_as ? e.made_as : e.tensor;  // the leaf itself: its data is the constant
        ti.requires_grad = e.tensor->requires_grad;
        break;
      case Event::TensorFromNumber:
        ti.kind = TensorInstr::FromNumber;
        ti.tmpl = op_template(*e.tensor);
        ti.number = s(e.a);
        ti.requires_grad = e.tensor->requires_grad;
        break;
      case Event::TensorDetach:
        ti.kind = TensorInstr::Detach;
        ti.parents.push_back(s(e.a));
        ti.requires_grad = e.tensor->requires_grad;
        break;
      case Event::TensorDraw:
        ti.kind = TensorInstr::Draw;
        ti.source = e.source;
        ti.tmpl = op_template(*e.tensor);
        ti.requires_grad = e.tensor->requires_grad;
        tape_->draws = true;
        break;
      case Event::GuardTensor: {
        ti.kind = TensorInstr::Const;
        ti.tmpl = e.tensor;
        ti.out = kNoSlot;
        tape_->tensors.push_back(std::move(ti));
        return instr(code_of(Tc::GuardTensor), 0, kNoSlot, s(e.a), static_cast<std::uint32_t>(tape_->tensors.size() - 1));
      }
      case Event::StoreTensor: {
        ti.kind = TensorInstr::Store;
        ti.out = s(e.a);
        ti.parents.push_back(s(e.b));
        auto in = input_of_.find(e.a);
        if (in != input_of_.end()) tape_->stores.push_back(TapeStore{in->second, s(e.a), true});
        break;
      }
      default:
        return;
    }
    tensor_instr(std::move(ti));
  }

  // batch_norm in training updates running statistics from outside fn (the
  // inputs, known once every event is emitted): written back into them, in
  // place, after the replay's guards held.
  void running_stores() {
    for (std::size_t i = 0; i < ev_.size(); ++i) {
      if (!live_[i] || !updates_running(ev_[i])) continue;
      for (Ref stat : {ev_[i].a, ev_[i].b}) {
        auto in = input_of_.find(stat);
        if (stat == kNoSlot || in == input_of_.end()) continue;
        const TapeStore st{in->second, s(stat), true, true};
        bool seen = false;
        for (const TapeStore& o : tape_->stores) seen = seen || (o.in_place && o.input == st.input);
        if (!seen) tape_->stores.push_back(st);
      }
    }
  }

  void add_output(const TraceOutput& o, Ref r) {
    TapeOutput out;
    auto in = input_of_.find(r);
    if (in != input_of_.end()) {
      out.kind = TapeOutput::Input;
      out.slot = in->second;
    } else if (o.kind == TraceOutput::Value) {
      out.kind = TapeOutput::Value;
      out.slot = s(r);
      const Event& e = ev_[r];
      out.leaf = e.kind != Event::ValueOp || (e.flags & Instr::kNoGrad) != 0;
    } else if (o.kind == TraceOutput::Tensor) {
      out.kind = TapeOutput::Tensor;
      out.slot = s(r);
    } else {
      out.kind = TapeOutput::Number;
      out.slot = s(r);
      out.number_type = o.number_type;
    }
    tape_->outputs.push_back(out);
  }

  Tracer& tr_;
  BlockLog<Event>& ev_;
  TapePtr tape_;
  std::vector<std::vector<Ref>> parents_;
  std::vector<char> live_;
  std::vector<std::uint32_t> slot_;
  std::vector<char> is_const_;  // per scalar slot
  std::unordered_map<Ref, bool> stored_;
  std::unordered_map<Ref, std::uint32_t> input_of_;
  std::uint32_t tensor_count_ = 0;
};

TapePtr Tracer::finish(const std::vector<TraceOutput>& outputs) {
  const std::string why = unsupported_reason();
  if (!why.empty()) throw RuntimeError("tg.compile cannot replay " + why + " yet");
  TapeBuilder builder(*this);
  return builder.build(outputs);
}

}  // namespace tapegrad
