// The tracer's log (trace.h): one event per scalar or tensor made while fn
// runs, in creation order, which is eager order (Note [Compile]).
#include "trace.h"

#include <cstring>

#include "errors.h"
#include "grad_mode.h"
#include "trace_event.h"

namespace tapegrad {

Tracer* active_tracer() {
  Tracer* t = trace_detail::active().load(std::memory_order_relaxed);
  return (t != nullptr && t->owned_by_this_thread()) ? t : nullptr;
}

Tracer::Tracer() = default;

Tracer::~Tracer() { drop_log(); }

void Tracer::drop_log() {
  stop();
  restore_leaves();
  for (std::size_t i = 0; i < events_.size(); ++i)
    if (events_[i].value != nullptr) release(events_[i].value);
  events_.clear();
  outside_values_.clear();
  outside_tensors_.clear();
}

void Tracer::start() {
  Tracer* expected = nullptr;
  if (!trace_detail::active().compare_exchange_strong(expected, this))
    throw RuntimeError("tg.compile: another function is being traced (on another thread)");
  owner_ = std::this_thread::get_id();
  started_ = true;
}

void Tracer::stop() {
  if (!started_) return;
  Tracer* self = this;
  trace_detail::active().compare_exchange_strong(self, nullptr);
  started_ = false;
}

Tracer::Ref Tracer::push(Event&& e) {
  if (events_.size() >= kNoSlot - 1) throw RuntimeError("tg.compile: more than 2^32 - 2 operations in one trace");
  events_.emplace_back(std::move(e));
  return static_cast<Ref>(events_.size() - 1);
}

Tracer::Ref Tracer::add(int kind) {
  if (events_.size() >= kNoSlot - 1) throw RuntimeError("tg.compile: more than 2^32 - 2 operations in one trace");
  events_.emplace_back(static_cast<Event::Kind>(kind));
  return static_cast<Ref>(events_.size() - 1);
}

// ---- arguments ---------------------------------------------------------------------

Tracer::Ref Tracer::arg_number(std::uint32_t leaf, double value) {
  Event e(Event::NumberInput);
  e.leaf = leaf;
  e.k = value;
  return push(std::move(e));
}

void Tracer::arg_value(std::uint32_t leaf, ValueNode* n) {
  if (outside_values_.count(n) != 0) return;  // the same object twice: its first position
  Event e(Event::ValueInput);
  e.leaf = leaf;
  e.value = n;
  retain(n);
  outside_values_.emplace(n, push(std::move(e)));
}

void Tracer::arg_tensor(std::uint32_t leaf, const TensorPtr& t) {
  if (outside_tensors_.count(t.get()) != 0) return;
  Event e(Event::TensorInput);
  e.leaf = leaf;
  e.tensor = t;
  outside_tensors_.emplace(t.get(), push(std::move(e)));
}

// ---- references ---------------------------------------------------------------------

Tracer::Event& Tracer::event_of_value(ValueNode* n) { return events_[value_ref(n)]; }

Tracer::Ref Tracer::value_ref(ValueNode* n) {
  // A node made here keeps its event in mark_ (no backward pass runs while
  // tracing); any other node is an input, found in the map.
  const std::uint32_t m = n->mark_;
  if (m < events_.size() && events_[m].value == n && events_[m].kind != Event::ValueInput) return m;
  auto it = outside_values_.find(n);
  if (it != outside_values_.end()) return it->second;
  Event e(Event::ValueInput);
  e.value = n;
  retain(n);
  Ref r = push(std::move(e));
  outside_values_.emplace(n, r);
  return r;
}

Tracer::Ref Tracer::tensor_ref(const TensorPtr& t) {
  const std::uint32_t s = t->slot;
  if (s < events_.size() && events_[s].tensor.get() == t.get() && events_[s].kind != Event::TensorInput) return s;
  auto it = outside_tensors_.find(t.get());
  if (it != outside_tensors_.end()) return it->second;
  Event e(Event::TensorInput);
  e.tensor = t;
  Ref r = push(std::move(e));
  outside_tensors_.emplace(t.get(), r);
  return r;
}

// ---- the engines' hooks --------------------------------------------------------------

namespace {
// Retains n and makes its mark_ its event: made while tracing.
void own(ValueNode* n, std::uint32_t ref) {
  retain(n);
  n->mark_ = ref;
}
}  // namespace

void Tracer::on_value_leaf(ValueNode* n) {
  const Ref r = add(Event::ValueConst);
  Event& e = events_[r];
  e.value = n;
  e.k = n->data_;
  own(n, r);
}

void Tracer::on_value_init(ValueNode* n) {
  Event& e = event_of_value(n);
  if (e.kind == Event::ValueConst) e.k = n->data_;
}

void Tracer::on_value_op(ValueNode* n, Op op, ValueNode* a, ValueNode* b) {
  const Ref ra = value_ref(a), rb = b != nullptr ? value_ref(b) : kNoSlot;  // may log inputs first
  const Ref r = add(Event::ValueOp);
  Event& e = events_[r];
  e.code = code_of(op);
  e.a = ra;
  e.b = rb;
  e.flags = is_grad_enabled() ? 0 : Instr::kNoGrad;
  e.value = n;
  own(n, r);
}

void Tracer::on_value_pow(ValueNode* n, ValueNode* a, double k) {
  const Ref ra = value_ref(a);
  const Ref rb = number_const(k);  // the exponent: a constant unless value_from_number's caller says otherwise
  const Ref r = add(Event::ValueOp);
  Event& e = events_[r];
  e.code = code_of(Op::PowConst);
  e.a = ra;
  e.b = rb;
  e.flags = is_grad_enabled() ? 0 : Instr::kNoGrad;
  e.value = n;
  own(n, r);
}

void Tracer::on_value_function(ValueNode* n) {
  unsupported("a tg.autograd.Function on Values");
  on_value_leaf(n);
}

void Tracer::on_tensor(const TensorPtr& n) {
  Event e(n->is_leaf() ? Event::TensorConst : Event::TensorOp);
  e.tensor = n;
  e.flags = is_grad_enabled() ? 0 : Instr::kNoGrad;
  if (n->op == Op::Function) unsupported("a tg.autograd.Function on Tensors");
  else if (!n->is_leaf() && !replayable(n->op)) unsupported(std::string("the Tensor op '") + op_name(n->op) + "'");
  else if (n->op == Op::Dropout) ++unsourced_noise_;  // until tensor_noise() names its source
  n->slot = push(std::move(e));
}

// ---- the driver's ----------------------------------------------------------------------

Tracer::Ref Tracer::number_const(double v) {
  const Ref r = add(Event::NumberConst);
  events_[r].k = v;
  return r;
}

Tracer::Ref Tracer::number_op(Op op, Ref a, Ref b) {
  Event e(Event::NumberOp);
  e.code = code_of(op);
  e.a = a;
  e.b = b;
  e.flags = Instr::kNoGrad;
  return push(std::move(e));
}

void Tracer::value_from_number(ValueNode* leaf, Ref number) {
  Event& e = event_of_value(leaf);
  if (e.kind == Event::ValueConst) {
    e.kind = Event::ValueCopy;
    e.a = number;
  } else if (e.kind == Event::ValueOp && e.code == code_of(Op::PowConst)) {
    e.b = number;  // a ** x: the exponent is the tracked number
  }
}

void Tracer::tensor_from_number(const TensorPtr& leaf, Ref number) {
  Event& e = events_[tensor_ref(leaf)];
  if (e.kind != Event::TensorConst) return;
  e.kind = Event::TensorFromNumber;
  e.a = number;
}

void Tracer::tensor_detached(const TensorPtr& leaf, const TensorPtr& from) {
  Ref src = tensor_ref(from);
  Event& e = events_[tensor_ref(leaf)];
  if (e.kind != Event::TensorConst) return;
  e.kind = Event::TensorDetach;
  e.a = src;
}

void Tracer::tensor_draw(const TensorPtr& leaf, std::shared_ptr<TensorSource> source) {
  Event& e = events_[tensor_ref(leaf)];
  if (e.kind != Event::TensorConst) return;
  e.kind = Event::TensorDraw;
  e.source = std::move(source);
}

void Tracer::tensor_noise(const TensorPtr& n, std::shared_ptr<TensorSource> source) {
  Event& e = events_[tensor_ref(n)];
  if (e.kind != Event::TensorOp || n->op != Op::Dropout || e.source) return;
  e.source = std::move(source);
  --unsourced_noise_;
}

void Tracer::running_stats(const TensorPtr& n, const TensorPtr& mean, const TensorPtr& var) {
  const Ref m = mean ? tensor_ref(mean) : kNoSlot, v = var ? tensor_ref(var) : kNoSlot;
  for (Ref r : {m, v}) {  // updated in place: a tensor an op made may be a view the replay would miss
    if (r != kNoSlot && n->nn->training && events_[r].kind != Event::TensorInput && events_[r].kind != Event::TensorConst)
      unsupported("batch_norm's running statistics computed inside the function");
  }
  Event& e = events_[tensor_ref(n)];
  if (e.kind != Event::TensorOp) return;
  e.a = m;
  e.b = v;
}

void Tracer::before_update(const TensorPtr& t) {
  const std::uint32_t s = t->slot;
  if (s >= events_.size() || events_[s].tensor.get() != t.get()) return;
  Event& e = events_[s];
  if (e.kind != Event::TensorConst || e.made_as) return;
  e.made_as = std::make_shared<TensorNode>();  // not make_leaf: not an event of the log
  e.made_as->data = copy(t->data);
  e.made_as->requires_grad = t->requires_grad;
}

Tracer::Ref Tracer::item(const TensorPtr& t) {
  Event e(Event::Item);
  e.a = tensor_ref(t);
  e.flags = Instr::kNoGrad;
  return push(std::move(e));
}

void Tracer::index_from(const TensorPtr& n, const std::vector<IndexItem>& items,
                        const std::vector<std::pair<std::uint32_t, TensorPtr>>& sources) {
  std::vector<std::pair<std::uint32_t, Ref>> refs;
  for (const auto& [pos, t] : sources) refs.emplace_back(pos, tensor_ref(t));
  Event& e = events_[tensor_ref(n)];
  if (e.kind != Event::TensorOp) return;
  e.items = std::make_shared<const std::vector<IndexItem>>(items);
  e.id_sources = std::move(refs);
}

void Tracer::ids_from(const TensorPtr& n, const TensorPtr& index, std::int64_t dim) {
  const Ref src = tensor_ref(index);
  Event& e = events_[tensor_ref(n)];
  if (e.kind != Event::TensorOp) return;
  e.id_sources = {{kNoSlot, src}};
  e.k = static_cast<double>(dim);
}

void Tracer::labels_from(const TensorPtr& n, const TensorPtr& labels) {
  const Ref src = tensor_ref(labels);
  Event& e = events_[tensor_ref(n)];
  if (e.kind == Event::TensorOp) e.id_sources = {{kNoSlot, src}};
}

void Tracer::guard_truth(Ref r, bool expected) {
  Event e(Event::Guard);
  e.code = code_of(expected ? Tc::GuardTrue : Tc::GuardFalse);
  e.a = r;
  push(std::move(e));
}

void Tracer::guard_exact(Ref r, double expected) {
  Ref c = number_const(expected);
  Event e(Event::Guard);
  e.code = code_of(Tc::GuardBits);
  e.a = r;
  e.b = c;
  push(std::move(e));
}

void Tracer::guard_int(Ref r) {
  Event e(Event::Guard);
  e.code = code_of(Tc::GuardInt);
  e.a = r;
  push(std::move(e));
}

void Tracer::guard_tensor(const TensorPtr& t) {
  Event e(Event::GuardTensor);
  e.a = tensor_ref(t);
  e.tensor = make_leaf(copy(t->data));  // what the read saw
  push(std::move(e));
}

void Tracer::store_value(ValueNode* target, Ref source) {
  Event e(Event::StoreValue);
  e.a = value_ref(target);
  e.b = source;
  push(std::move(e));
}

void Tracer::store_tensor(const TensorPtr& target, const TensorPtr& source) {
  Event e(Event::StoreTensor);
  e.a = tensor_ref(target);
  e.b = tensor_ref(source);
  push(std::move(e));
}

void Tracer::unsupported(const std::string& what) {
  if (unsupported_.empty()) unsupported_ = what;
}

std::string Tracer::unsupported_reason() const {
  if (unsupported_.empty() && unsourced_noise_ > 0) return "dropout noise not drawn by tg.nn.functional.dropout";
  return unsupported_;
}

// Tensors recorded only because a trace ran (no input required grad, or
// no_grad): eager made them leaves, and so they become once the log is read.
void Tracer::restore_leaves() {
  for (std::size_t i = 0; i < events_.size(); ++i) {
    Event& e = events_[i];
    if (e.kind != Event::TensorOp || !e.tensor || e.tensor->requires_grad || e.tensor->is_leaf()) continue;
    TensorNode& n = *e.tensor;
    n.op = Op::Leaf;
    n.parents.clear();
    n.saved.clear();
    n.plan.reset();
    n.function.reset();
  }
}

}  // namespace tapegrad
