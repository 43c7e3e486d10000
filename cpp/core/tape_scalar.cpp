// A tape's replay (Note [Compile]): the forward loop over its instructions,
// and the reverse sweep over its Value instructions in eager's order.
#include <cstring>
#include <utility>

#include "chain_mul.h"
#include "errors.h"
#include "grad_mode.h"
#include "graph.h"
#include "op_dispatch.h"
#include "tape.h"

namespace tapegrad {

// ---- the forward loop ---------------------------------------------------------------

namespace {

template <class R>
TG_ALWAYS_INLINE double unary_f(const double* s, const Instr& i) {
  if constexpr (rules::ParamCount<R>::value == 1) return R::f(s[i.a], s[i.b]);  // "**k": b holds k
  else return R::f(s[i.a]);
}

// dst's elements := src's (running statistics: 1-d, one dtype), in dst's own
// memory as eager's in-place update; a new layout takes src's array instead.
void write_into(Array& dst, const Array& src) {
  if (dst.shape != src.shape || dst.dtype != src.dtype || dst.ndim() != 1) {
    dst = src;
    return;
  }
  const Array c = contiguous(src);
  by_any_dtype(dst.dtype, [&](auto zero) {
    using T = decltype(zero);
    for (std::int64_t i = 0; i < dst.shape[0]; ++i) dst.data<T>()[i * dst.strides[0]] = c.data<T>()[i];
  });
}

std::uint64_t bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

}  // namespace

// One case per elementwise row of the op table: the rule eager runs, on the same doubles.
#define TG_TAPE_NONE(Name)
#define TG_TAPE_UNARY(Name)                                   \
  case code_of(Op::Name):                                     \
    s[i.out] = unary_f<rules::Name>(s, i);                    \
    break;
#define TG_TAPE_BINARY(Name)                                  \
  case code_of(Op::Name):                                     \
    s[i.out] = rules::Name::f(s[i.a], s[i.b]);                \
    break;
// Scalar instructions are the Value rows of the table (surface V) and the
// comparisons (tracked numbers compare); the Tensor-only rows replay as
// Tensor instructions.
#define TG_TAPE_VT(kind, Name) TG_TAPE_##kind(Name)
#define TG_TAPE_V(kind, Name) TG_TAPE_##kind(Name)
#define TG_TAPE_T(kind, Name) TG_TAPE_T_##kind(Name)
#define TG_TAPE_T_Compare TG_TAPE_BINARY
#define TG_TAPE_T_Leaf TG_TAPE_NONE
#define TG_TAPE_T_Unary TG_TAPE_NONE
#define TG_TAPE_T_Binary TG_TAPE_NONE
#define TG_TAPE_T_Function TG_TAPE_NONE
#define TG_TAPE_T_MatMul TG_TAPE_NONE
#define TG_TAPE_T_Reduce TG_TAPE_NONE
#define TG_TAPE_T_Arg TG_TAPE_NONE
#define TG_TAPE_T_Movement TG_TAPE_NONE
#define TG_TAPE_T_Index TG_TAPE_NONE
#define TG_TAPE_T_Join TG_TAPE_NONE
#define TG_TAPE_T_Softmax TG_TAPE_NONE
#define TG_TAPE_T_Loss TG_TAPE_NONE
#define TG_TAPE_T_Moments TG_TAPE_NONE
#define TG_TAPE_T_NN TG_TAPE_NONE
#define TG_TAPE_Leaf TG_TAPE_NONE
#define TG_TAPE_Unary TG_TAPE_UNARY
#define TG_TAPE_Binary TG_TAPE_BINARY
#define TG_TAPE_Function TG_TAPE_NONE

void Tape::plan_reads() {
  reads_.clear();
  reads_.reserve(inputs.size());
  for (const TapeInput& in : inputs) reads_.push_back({in.kind, in.leaf, in.slot});
}

TG_LOOP_ALIGN long Tape::forward(Replay& r, const std::vector<Leaf>& leaves) {
  r.s = take_buffer();
  r.t.assign(tensor_slots, nullptr);
  r.value_nodes.assign(inputs.size(), nullptr);
  double* s = r.s.data();
  const std::size_t count = reads_.size();
  for (std::size_t k = 0; k < count; ++k) {
    const InputRead& in = reads_[k];
    if (k + kAhead < count && reads_[k + kAhead].kind == TapeInput::ArgValue)  // Values spread over memory
      __builtin_prefetch(leaves[reads_[k + kAhead].leaf].value);
    switch (in.kind) {
      case TapeInput::ArgNumber: s[in.slot] = leaves[in.leaf].number; break;
      case TapeInput::ArgValue:
        r.value_nodes[k] = leaves[in.leaf].value;
        s[in.slot] = r.value_nodes[k]->data_;
        break;
      case TapeInput::ExternalValue:
        r.value_nodes[k] = inputs[k].value;
        s[in.slot] = inputs[k].value->data_;
        break;
      case TapeInput::ArgTensor: r.t[in.slot] = *leaves[in.leaf].tensor; break;
      case TapeInput::ExternalTensor: r.t[in.slot] = inputs[k].tensor; break;
    }
  }
  r.flat = start_flat(r);
  const Instr* ins = code.data();
  const std::size_t n = code.size();
  for (std::size_t k = 0; k < n; ++k) {
    const Instr& i = ins[k];
    switch (i.code) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_TAPE_##surf(kind, Name)
      TG_OPS(TG_X)
#undef TG_X
      case code_of(Tc::Copy):
      case code_of(Tc::Store):
        s[i.out] = s[i.a];
        break;
      case code_of(Tc::GuardTrue):
        if (!(s[i.a] != 0.0)) return static_cast<long>(k);
        break;
      case code_of(Tc::GuardFalse):
        if (s[i.a] != 0.0) return static_cast<long>(k);
        break;
      case code_of(Tc::GuardBits):
        if (bits(s[i.a]) != bits(s[i.b])) return static_cast<long>(k);
        break;
      case code_of(Tc::GuardInt):
        if (!(s[i.a] <= 9007199254740992.0 && s[i.a] >= -9007199254740992.0)) return static_cast<long>(k);
        break;
      case code_of(Tc::Tensor):
        if (r.flat) run_flat(r, i.a);
        else run_tensor(r, tensors[i.a]);
        break;
      case code_of(Tc::Item):
        s[i.out] = item(slot_data(r, i.a));
        break;
      case code_of(Tc::GuardTensor):
        if (!check_tensor(r, i.a, tensors[i.b])) return static_cast<long>(k);
        break;
      default:
        throw std::logic_error("tape: unknown instruction");
    }
  }
  for (const TapeStore& st : stores) {  // the guards held: outside state takes its new values
    const TapeInput& in = inputs[st.input];
    if (st.tensor) {
      TensorNode* target = in.kind == TapeInput::ExternalTensor ? in.tensor.get() : leaves[in.leaf].tensor->get();
      if (r.t[st.slot].get() == target) continue;
      if (st.in_place) write_into(target->data, r.t[st.slot]->data);
      else target->data = r.t[st.slot]->data;  // the stored copy
    } else {
      r.value_nodes[st.input]->data_ = s[st.slot];
    }
  }
  if (r.flat) end_flat(r);
  return -1;
}

#undef TG_TAPE_NONE
#undef TG_TAPE_UNARY
#undef TG_TAPE_BINARY

// ---- buffers --------------------------------------------------------------------------

std::vector<double> Tape::take_buffer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!pool_.empty()) {
      std::vector<double> s = std::move(pool_.back());
      pool_.pop_back();
      // Every slot but a constant is written before it is read; a stored-into
      // constant is not constant, so refill then.
      if (!stores_into_init_) return s;
      std::copy(scalar_init.begin(), scalar_init.end(), s.begin());
      return s;
    }
  }
  return scalar_init;
}

void Tape::give_buffer(std::vector<double>&& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pool_.size() < 4 && s.size() == scalar_init.size()) pool_.push_back(std::move(s));
}

Replay::~Replay() {
  if (tape && !s.empty()) tape->give_buffer(std::move(s));
  if (tape && flat) tape->give_flat_buffers(*this);
}

Tape::~Tape() {
  for (TapeInput& in : inputs)
    if (in.value != nullptr) release(in.value);
}

}  // namespace tapegrad
