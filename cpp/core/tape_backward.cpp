// A tape's reverse sweep over its Values, and the nodes a replay returns
// (Note [Compile]). The sweep visits the tape's nodes in the order eager's
// sweep (graph.h) would visit the graph the trace built: that order is found
// once per result by running graph.h's own Backprop over the tape's
// structure with a policy that records instead of computing.
#include <algorithm>

#include "chain_mul.h"
#include "errors.h"
#include "graph.h"
#include "op_dispatch.h"
#include "tape.h"

namespace tapegrad {

std::mutex& value_pass_mutex();  // value.cpp: Value passes run one at a time

namespace {

bool is_value_op(std::uint8_t code) { return code < kOpCount && kOps[code].value && code != code_of(Op::Leaf); }

}  // namespace

// The Value graph as eager's sweep sees it once fn has returned: interior
// nodes (the ops that record), their edges, and which nodes are exclusive (a
// node used by one edge and held by no Python object: fn's temporaries).
struct Tape::Structure {
  struct Node {
    std::uint32_t mark = 0;      // the simulated sweep's slot
    std::uint32_t def = kNoSlot;  // the instruction that made it, if it records a gradient edge
  };
  std::vector<Node> nodes;           // per scalar slot
  std::vector<std::uint32_t> uses;   // per scalar slot: edges from nodes alive after fn returns
  std::vector<char> held;            // per scalar slot: a result or an input (a Python object)

  explicit Structure(const Tape& t) : nodes(t.scalar_init.size()), uses(t.scalar_init.size(), 0), held(t.scalar_init.size(), 0) {
    for (std::uint32_t k = 0; k < t.code.size(); ++k) {
      const Instr& i = t.code[k];
      if (is_value_op(i.code) && !(i.flags & Instr::kNoGrad) && nodes[i.out].def == kNoSlot) nodes[i.out].def = k;
    }
    for (const TapeInput& in : t.inputs)
      if (in.kind == TapeInput::ArgValue || in.kind == TapeInput::ExternalValue) held[in.slot] = 1;
    std::vector<char> alive(nodes.size(), 0);
    for (const TapeOutput& o : t.outputs)
      if (o.kind == TapeOutput::Value) alive[o.slot] = held[o.slot] = 1;
    for (std::size_t k = t.code.size(); k-- > 0;) {  // made before used: one reverse pass
      const Instr& i = t.code[k];
      if (i.out == kNoSlot || nodes[i.out].def != k || !alive[i.out]) continue;
      for (int j = 0; j < arity(i); ++j) {
        const std::uint32_t p = j == 0 ? i.a : i.b;
        alive[p] = 1;
        ++uses[p];
      }
    }
  }
  static int arity(const Instr& i) { return i.code == code_of(Op::PowConst) ? 1 : kOps[i.code].arity; }
  // A parent the sweep walks into: one that records an edge of its own (leaves never change the order).
  Node* parent(const Node* n, std::size_t j, const Tape& t) {
    const Instr& i = t.code[n->def];
    const std::uint32_t p = j == 0 ? i.a : i.b;
    return nodes[p].def == kNoSlot ? nullptr : &nodes[p];
  }
};

namespace {

struct Unit {};

// graph.h's policy over the tape's structure: records the order of visits.
struct OrderPolicy {
  Tape::Structure& st;
  const Tape& tape;
  std::vector<std::uint32_t>& order;

  std::uint32_t& slot(Tape::Structure::Node* n) const { return n->mark; }
  std::size_t arity(const Tape::Structure::Node* n) const {
    return n->def == kNoSlot ? 0 : static_cast<std::size_t>(Tape::Structure::arity(tape.code[n->def]));
  }
  Tape::Structure::Node* parent(const Tape::Structure::Node* n, std::size_t i) const { return st.parent(n, i, tape); }
  bool exclusive(const Tape::Structure::Node* n, std::size_t i) const {
    const Instr& in = tape.code[n->def];
    const std::uint32_t p = i == 0 ? in.a : in.b;
    return st.uses[p] == 1 && !st.held[p];
  }
  Unit zero() const { return {}; }
  void add(Unit&, Unit&&) const {}
  bool has(const Unit&) const { return true; }
  void prefetch(const Tape::Structure::Node*) const {}
  void visit(Tape::Structure::Node* n, const Unit&) const {
    if (n->def != kNoSlot) order.push_back(n->def);
  }
  template <class To>
  void propagate(const Tape::Structure::Node* n, const Unit&, To&& to) const {
    for (std::size_t i = 0; i < arity(n); ++i) to(i, Unit{});
  }
};

}  // namespace

const Tape::Schedule& Tape::schedule(std::uint32_t root) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [r, sc] : schedules_)
    if (r == root) return *sc;
  if (!structure_) structure_ = std::make_shared<Structure>(*this);
  auto sc = std::make_unique<Schedule>();
  Structure& st = *structure_;
  if (st.nodes[root].def != kNoSlot) {
    OrderPolicy policy{st, *this, sc->order};
    Backprop<Structure::Node, Unit> sweep;
    sweep.run(&st.nodes[root], Unit{}, policy);
  }
  sc->code.reserve(sc->order.size());
  for (std::uint32_t k : sc->order) sc->code.push_back(code[k]);
  // The Value inputs the result depends on: its node's parents.
  std::vector<char> reach(scalar_init.size(), 0);
  reach[root] = 1;
  for (std::uint32_t k : sc->order) {
    const Instr& i = code[k];
    for (int j = 0; j < Structure::arity(i); ++j) reach[j == 0 ? i.a : i.b] = 1;
  }
  for (std::uint32_t k = 0; k < inputs.size(); ++k) {
    const TapeInput& in = inputs[k];
    if ((in.kind == TapeInput::ArgValue || in.kind == TapeInput::ExternalValue) && reach[in.slot]) {
      sc->inputs.push_back(k);
      sc->input_slots.push_back(in.slot);
    }
  }
  mark_first_shares(*sc, root);
  schedules_.emplace_back(root, std::move(sc));
  return *schedules_.back().second;
}

// ---- the reverse sweep ---------------------------------------------------------------

#define TG_TB_NONE(Name)
#define TG_TB_UNARY(Name)                                                                          \
  case code_of(Op::Name): {                                                                        \
    using R = rules::Name;                                                                         \
    const double sv = kValueOps[code_of(Op::Name)].reads_output ? s[i.out] : s[i.a];               \
    const double local = rules::local1<R>(sv, i.code == code_of(Op::PowConst) ? s[i.b] : 0.0);     \
    if (!(i.flags & Instr::kConstA)) share(g, last, i.a, i.flags & Instr::kFirstA, i.flags & Instr::kPassA, rules::chain_mul(up, local)); \
    break;                                                                                         \
  }
#define TG_TB_BINARY(Name)                                                                         \
  case code_of(Op::Name): {                                                                        \
    const rules::Pair<double> d = rules::Name::d(s[i.a], s[i.b], s[i.out]);                        \
    if (!(i.flags & Instr::kConstA)) share(g, last, i.a, i.flags & Instr::kFirstA, i.flags & Instr::kPassA, rules::chain_mul(up, d.da)); \
    if (!(i.flags & Instr::kConstB)) share(g, last, i.b, i.flags & Instr::kFirstB, i.flags & Instr::kPassB, rules::chain_mul(up, d.db)); \
    break;                                                                                         \
  }
// The Value rows of the table (surface V) have scalar gradients; the rest none here.
#define TG_TB_VT(kind, Name) TG_TB_##kind(Name)
#define TG_TB_V(kind, Name) TG_TB_##kind(Name)
#define TG_TB_T(kind, Name) TG_TB_NONE(Name)
#define TG_TB_Leaf TG_TB_NONE
#define TG_TB_Unary TG_TB_UNARY
#define TG_TB_Binary TG_TB_BINARY
#define TG_TB_Function TG_TB_NONE

namespace {

// One share into an accumulator: its first is 0.0 + v, as into eager's fresh slot.
// The last share is kept in registers: in a chain it is the next node's
// upstream gradient, read without a round trip through memory.
struct Last {
  std::uint32_t slot = kNoSlot;
  double value = 0.0;
};
// A share marked pass (mark_first_shares) is read by the next instruction only: not stored.
TG_ALWAYS_INLINE void share(double* g, Last& last, std::uint32_t slot, int first, int pass, double v) {
  const double x = (first ? 0.0 : g[slot]) + v;
  if (!pass) g[slot] = x;
  last.slot = slot;
  last.value = x;
}

}  // namespace

// The shares the sweep below writes (the same cases, from the same table), in
// its order: which is the first into its accumulator, and which accumulators
// are read before any share reaches them. A sweep then needs no fill of its
// whole scratch buffer.
#define TG_TW_NONE(Name)
#define TG_TW_UNARY(Name)                                                     \
  case code_of(Op::Name):                                                     \
    if (!(i.flags & Instr::kConstA)) write(i.a, Instr::kFirstA);              \
    break;
#define TG_TW_BINARY(Name)                                                    \
  case code_of(Op::Name):                                                     \
    if (!(i.flags & Instr::kConstA)) write(i.a, Instr::kFirstA);              \
    if (!(i.flags & Instr::kConstB)) write(i.b, Instr::kFirstB);              \
    break;
#define TG_TW_VT(kind, Name) TG_TW_##kind(Name)
#define TG_TW_V(kind, Name) TG_TW_##kind(Name)
#define TG_TW_T(kind, Name) TG_TW_NONE(Name)
#define TG_TW_Leaf TG_TW_NONE
#define TG_TW_Unary TG_TW_UNARY
#define TG_TW_Binary TG_TW_BINARY
#define TG_TW_Function TG_TW_NONE

void Tape::mark_first_shares(Schedule& sc, std::uint32_t root) const {
  std::vector<char> written(scalar_init.size(), 0);
  written[root] = 1;  // the seed
  auto read = [&](std::uint32_t slot) {
    if (written[slot]) return;
    written[slot] = 1;
    sc.zero.push_back(slot);
  };
  // Per instruction, its final share (the one `last` holds after it): slot and pass flag.
  std::vector<std::pair<std::uint32_t, std::uint8_t>> finals(sc.code.size(), {kNoSlot, 0});
  for (std::size_t k = 0; k < sc.code.size(); ++k) {
    Instr& i = sc.code[k];
    read(i.out);  // the upstream gradient
    auto write = [&](std::uint32_t slot, std::uint8_t first) {
      finals[k] = {slot, first == Instr::kFirstA ? Instr::kPassA : Instr::kPassB};
      if (written[slot]) return;
      written[slot] = 1;
      i.flags |= first;
    };
    switch (i.code) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_TW_##surf(kind, Name)
      TG_OPS(TG_X)
#undef TG_X
      default:
        break;
    }
  }
  for (std::uint32_t slot : sc.input_slots) read(slot);
  // A final share that only the next instruction reads, as its upstream
  // gradient, is passed on in registers and never stored (a chain's gradient).
  std::vector<std::uint32_t> reads(scalar_init.size(), 0);
  for (const Instr& i : sc.code) ++reads[i.out];
  for (std::uint32_t slot : sc.input_slots) reads[slot] += 2;  // read after the sweep
  for (std::size_t k = 0; k + 1 < sc.code.size(); ++k) {
    const auto [slot, pass] = finals[k];
    if (slot != kNoSlot && slot == sc.code[k + 1].out && reads[slot] == 1) sc.code[k].flags |= pass;
  }
}

TG_LOOP_ALIGN std::vector<double> Tape::backward(const Replay& r, std::uint32_t root, double seed) {
  const Schedule& sc = schedule(root);
  // Every accumulator starts at 0.0, as eager's slots do (mark_first_shares);
  // the root holds the seed.
  if (grad_.size() != scalar_init.size()) grad_.assign(scalar_init.size(), 0.0);
  double* g = grad_.data();
  const double* s = r.s.data();
  for (std::uint32_t slot : sc.zero) g[slot] = 0.0;
  g[root] = seed;
  Last last{root, seed};
  for (const Instr& i : sc.code) {
    const double up = i.out == last.slot ? last.value : g[i.out];
    switch (i.code) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_TB_##surf(kind, Name)
      TG_OPS(TG_X)
#undef TG_X
      default:
        break;
    }
  }
  std::vector<double> out(sc.input_slots.size());
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = g[sc.input_slots[k]];
  if (grad_.size() > (std::size_t{1} << 20)) std::vector<double>().swap(grad_);  // a huge tape's scratch is not kept
  return out;
}

// ---- results ---------------------------------------------------------------------------

namespace {

// The backward of a replayed Value result: the tape's sweep on its replay's buffer.
class TapeResult : public ValueFunction {
 public:
  TapeResult(ReplayPtr r, std::uint32_t root) : ValueFunction(Native{}), replay_(std::move(r)), root_(root) {}
  const std::string& name() const override { return replay_->tape->name; }
  std::vector<double> backward(double g) override { return replay_->tape->backward(*replay_, root_, g); }
  std::vector<ValueNode*> backward_recorded(ValueNode*) override {
    throw RuntimeError("tg.grad(..., create_graph=True) of a compiled function's result: its tape has no recorded "
                       "backward; call the function itself (not compiled) to differentiate twice");
  }
  bool accumulates() const override { return true; }

 private:
  ReplayPtr replay_;
  std::uint32_t root_;
};

}  // namespace

ValueNode* Tape::value_result(const ReplayPtr& r, std::uint32_t output) {
  const TapeOutput& o = outputs[output];
  const double data = r->s[o.slot];
  if (o.leaf) return make_leaf(data);
  const Schedule& sc = schedule(o.slot);
  std::vector<ValueNode*> parents;
  parents.reserve(sc.inputs.size());
  for (std::uint32_t k : sc.inputs) parents.push_back(r->value_nodes[k]);
  if (parents.empty()) return make_leaf(data);
  return make_function(data, parents, std::make_shared<TapeResult>(r, o.slot));
}

}  // namespace tapegrad
