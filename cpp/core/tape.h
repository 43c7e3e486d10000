// A compiled function's tape: flat arrays of instructions over slots, and
// its replay (docs/DESIGN.md, Note [Compile]). The tracer (trace.h) builds
// tapes; the bindings run them.
//
// Scalar slots (Values and tracked numbers) are doubles in one buffer;
// Tensor slots hold nodes. An instruction is an op code of the op table, or
// a tape code below, with its output slot and operand slots.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "callbacks.h"
#include "op_table.h"
#include "tensor_node.h"
#include "value.h"

namespace tapegrad {

// The codes beyond the op table's (a tape's own instructions).
enum class Tc : std::uint8_t {
  Copy = kOpCount,  // s[out] = s[a]: a leaf holding a number's value, a number passed on
  Store,            // s[out] = s[a], a value assigned (.data = ...) to an existing slot
  GuardTrue,        // s[a] != 0 must hold (a truth value used by Python)
  GuardFalse,       // s[a] == 0 must hold
  GuardBits,        // s[a] must have the bits of s[b] (an exact value read)
  GuardInt,         // |s[a]| <= 2^53 (an int computed in doubles stays exact)
  Tensor,           // tensor instruction a (TensorInstr), run through the core's ops
  Item,             // s[out] = the only element of tensor slot a
  GuardTensor,      // tensor slot a must equal constant tensor instruction b, bit for bit
  End
};
static_assert(static_cast<int>(Tc::End) <= 256, "tape codes fit in a byte");

constexpr std::uint8_t code_of(Op op) { return static_cast<std::uint8_t>(op); }
constexpr std::uint8_t code_of(Tc c) { return static_cast<std::uint8_t>(c); }

constexpr std::uint32_t kNoSlot = 0xffffffffu;

// Note [Replay loop layout]
// The replay loops (Tape::forward, Tape::backward) dispatch each instruction
// through a switch whose cases are a few instructions long. Their speed turned
// out to depend on where the cases fall in memory: the same source ran W1's
// compiled step in 437 us or 843 us as unrelated code moved them (measured on
// AMD EPYC; the time went to the first instruction of each case, as after a
// mispredicted jump). So both loops' functions start on a 64-byte line
// (TG_LOOP_ALIGN) and, with GCC, their jump targets on 32 bytes (CMakeLists.txt,
// -falign-jumps=32): the layout inside them no longer moves with other code.
// With these, W1c ran at 419-435 us and W3c's forward at 1.9-2.2 ms (was 3.1-3.8).
#if defined(__GNUC__) || defined(__clang__)
#define TG_LOOP_ALIGN __attribute__((aligned(64)))
#else
#define TG_LOOP_ALIGN
#endif

// One instruction: 16 bytes.
struct Instr {
  std::uint8_t code;   // an Op, or a Tc
  std::uint8_t flags;  // kNoGrad: a Value made under no_grad, or a number (no gradient edge)
  std::uint16_t pad = 0;
  std::uint32_t out;   // the slot written (kNoSlot for guards)
  std::uint32_t a, b;  // operand slots (PowConst: b holds the exponent)
  static constexpr std::uint8_t kNoGrad = 1;
  static constexpr std::uint8_t kConstA = 2;  // operand a is a constant: no gradient goes to it
  static constexpr std::uint8_t kConstB = 4;
  // In a schedule's copy: the sweep's first share into operand a (b), stored
  // as 0.0 + share, the bits an accumulator starting at 0.0 gets.
  static constexpr std::uint8_t kFirstA = 8;
  static constexpr std::uint8_t kFirstB = 16;
  // In a schedule's copy: the share into operand a (b) is the instruction's
  // last, and only the next instruction reads it (as its upstream gradient):
  // the sweep keeps it in registers and never stores it.
  static constexpr std::uint8_t kPassA = 32;
  static constexpr std::uint8_t kPassB = 64;
};
static_assert(sizeof(Instr) == 16, "one instruction is 16 bytes");

// A Tensor instruction: replays `tmpl`'s op on the slots `parents`.
struct TensorInstr {
  TensorPtr tmpl;                     // the traced node: its op and arguments; a constant's data
  std::vector<std::uint32_t> parents;  // tensor slots
  std::uint32_t out = kNoSlot;        // tensor slot
  std::uint32_t number = kNoSlot;     // a scalar slot: a leaf made from a number (tmpl gives the dtype)
  bool no_grad = false;               // made under no_grad
  bool requires_grad = false;         // the traced node's flag (leaves: constants, detach)
  enum Kind : std::uint8_t { Op, Const, FromNumber, Detach, Draw, Store } kind = Op;
  std::shared_ptr<TensorSource> source;  // Draw: the random stream; a dropout Op: its noise
  // batch_norm: the tensor slots of its running statistics (kNoSlot: none),
  // read at each replay; in training the replay updates copies of them.
  std::uint32_t running[2] = {kNoSlot, kNoSlot};
  // Ids a replay reads from tensor slots: getitem's items at these positions
  // (of `items`), or cross_entropy's labels (position kNoSlot).
  std::vector<std::pair<std::uint32_t, std::uint32_t>> id_sources;
  std::shared_ptr<const std::vector<IndexItem>> items;
};

// Where an input slot's value comes from at each call.
struct TapeInput {
  enum Kind : std::uint8_t { ArgNumber, ArgValue, ArgTensor, ExternalValue, ExternalTensor } kind;
  std::uint32_t leaf = 0;     // Arg*: the position in the call's flattened arguments
  std::uint32_t slot = 0;     // the scalar or tensor slot it fills
  ValueNode* value = nullptr;  // ExternalValue (the tape holds a reference)
  TensorPtr tensor;            // ExternalTensor
  bool requires_grad = false;  // Arg/ExternalTensor: the traced tensor's flag
  Shape shape;                 // Arg/ExternalTensor: the traced tensor's shape and dtype
  DType dtype = DType::F32;
};

// A Value slot an outside node's data is set from after a replay (in-place state).
struct TapeStore {
  std::uint32_t input;  // index into inputs (an external or argument Value/Tensor)
  std::uint32_t slot;   // the scalar or tensor slot holding its new value
  bool tensor;
  bool in_place = false;  // written into the tensor's memory, as eager updates it (running statistics)
};

// What the call returns, slot by slot (the driver rebuilds the structure).
struct TapeOutput {
  enum Kind : std::uint8_t { Value, Tensor, Number, Input } kind;
  std::uint32_t slot = 0;         // Value, Number: scalar slot; Tensor: tensor slot; Input: input index
  std::uint8_t number_type = 0;   // Number: 0 float, 1 int, 2 bool (the Python type)
  bool leaf = false;              // Value: a leaf (no gradient: a constant or under no_grad)
};

class Tape;

// One replay's values: a scalar buffer from the tape's pool (returned when
// the last result reading it dies) and the tensor slots' nodes.
struct Replay {
  std::shared_ptr<Tape> tape;
  std::vector<double> s;
  std::vector<TensorPtr> t;  // flat: the input slots' nodes only
  std::vector<ValueNode*> value_nodes;  // per input: its Value's node (null for others)
  // A flat replay (Note [Flat replay]): tensor slots as arrays, and the node
  // a generic op recorded (per tensor instruction; null for elementwise ones).
  bool flat = false;
  bool raw = false;  // its elementwise instructions run on raw memory (tape_raw.cpp)
  std::vector<Array> a;
  std::vector<TensorPtr> nodes;
  // Per tensor slot, the small arrays its op and its gradient were computed
  // into, handed from call to call through the tape's pool.
  std::vector<Array> fwd_buf, bwd_buf;
  std::vector<Array> grads;  // the reverse sweep's, per tensor slot (all empty between sweeps)
  std::vector<void*> ptr;    // raw: the memory of each slot the raw program reads or writes
  // raw, in a sweep: per slot, where its gradient is (0 nowhere yet, 1 in its
  // buffer at bptr, 2 in grads), and its buffer's memory
  std::vector<char> gstate;
  std::vector<void*> bptr;
  ~Replay();
};
using ReplayPtr = std::shared_ptr<Replay>;

class Tape : public std::enable_shared_from_this<Tape> {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  ~Tape();  // releases the outside Values it read
  std::vector<Instr> code;
  std::vector<TensorInstr> tensors;
  std::vector<TapeInput> inputs;
  std::vector<TapeStore> stores;
  std::vector<TapeOutput> outputs;
  std::vector<double> scalar_init;  // each buffer starts as this: constants filled, the rest 0
  std::uint32_t tensor_slots = 0;
  bool uses_tensors = false;
  bool draws = false;               // has random draws (the driver saves the stream's state)
  std::string name = "compiled";    // the .op of its Value results

  // Fills a buffer from the inputs (`leaves`: the call's flattened arguments,
  // a Value's node or a number's value per position) and runs the forward
  // instructions. Returns -1, or the index of the first guard that failed
  // (then nothing outside the replay has changed).
  // The caller keeps the leaves' objects alive during forward (a plain
  // struct: a list of 10^5 Values is a flat array, freed without a loop).
  struct Leaf {
    double number = 0;
    ValueNode* value = nullptr;
    const TensorPtr* tensor = nullptr;
  };
  long forward(Replay& r, const std::vector<Leaf>& leaves);
  void plan_reads();  // at the end of the build: the compact copy of inputs forward reads
  // The Value result `output` (an index into outputs) as a node whose backward is this tape's
  // reverse sweep on r; leaves of the tape come back as plain leaves.
  ValueNode* value_result(const ReplayPtr& r, std::uint32_t output);

  // The reverse sweep from scalar slot `root`, seeded with `seed`: the
  // gradient of each Value input that reaches root (value_result's parents, in order).
  std::vector<double> backward(const Replay& r, std::uint32_t root, double seed);
  bool stores_into_init_ = false;  // a Store instruction: buffers are refilled from scalar_init

  struct Structure;  // what eager's sweep would see of the Value graph (tape_backward.cpp)

  // ---- flat Tensor replay (tape_flat.cpp, Note [Flat replay])
  struct FlatPlan;
  void plan_flat();  // at the end of the build: whether and how this tape replays flat
  bool flat() const { return flat_ != nullptr; }
  std::size_t raw_steps() const;  // instructions of the raw program (tape_raw.cpp)
  // The Tensor result `output` (an index into outputs) of replay r.
  TensorPtr tensor_result(const ReplayPtr& r, std::uint32_t output);
  // The reverse sweep of a flat replay from its result, seeded with g: one
  // gradient per tensor input that requires grad (the result's parents), fused or recorded.
  std::vector<Array> flat_backward(Replay& r, const Array& g) const;
  std::vector<TensorPtr> flat_backward_recorded(const Replay& r, const TensorPtr& g) const;
  void give_flat_buffers(Replay& r);

  // A buffer for a new replay (from the pool), and its return.
  std::vector<double> take_buffer();
  void give_buffer(std::vector<double>&& s);

 private:
  struct Schedule {
    std::vector<std::uint32_t> order;   // instruction indices, in eager's visiting order
    std::vector<Instr> code;            // those instructions, in that order (the sweep reads them in a row)
    std::vector<std::uint32_t> inputs;  // the Value inputs (indices into `inputs`) reached
    std::vector<std::uint32_t> input_slots;  // their scalar slots
    std::vector<std::uint32_t> zero;  // accumulators read before any share reaches them: 0.0 first
  };
  void mark_first_shares(Schedule& sc, std::uint32_t root) const;
  // What forward reads of each input, 12 bytes (a TapeInput is 128): a call
  // with 10^5 Value arguments (W3) streams 1.2 MB here, not 12.8 MB.
  struct InputRead {
    TapeInput::Kind kind;
    std::uint32_t leaf;
    std::uint32_t slot;
  };
  std::vector<InputRead> reads_;
  const Schedule& schedule(std::uint32_t root);  // made on first use, kept
  void run_tensor(Replay& r, const TensorInstr& ti) const;
  bool check_tensor(const Replay& r, std::uint32_t slot, const TensorInstr& expected) const;
  const Array& slot_data(const Replay& r, std::uint32_t slot) const { return r.flat ? r.a[slot] : r.t[slot]->data; }
  bool start_flat(Replay& r);  // whether this call replays flat (then its tensor inputs are set)
  void run_flat(Replay& r, std::uint32_t k) const;  // tensor instruction k, flat
  void end_flat(Replay& r) const;    // drops the arrays no backward reads
  void flat_shares(Replay& r, std::uint32_t k, const Array& g, const std::vector<Array>& grads,
                   std::vector<Array>& out) const;
  // the raw program (tape_raw.cpp): an instruction's forward, and its
  // parents' shares added into their gradients (false: g is not dense)
  void start_raw(Replay& r) const;  // the memory of the raw program's slots, its buffers made ready
  void run_raw(Replay& r, std::uint32_t k) const;
  void raw_backward(Replay& r, std::uint32_t k, std::vector<Array>& grads, bool anomaly) const;
  void start_raw_sweep(Replay& r) const;
  // a non-raw instruction is about to read or add into slot p's gradient: into grads[p] if in its buffer
  void grad_as_array(Replay& r, std::uint32_t p) const;
  std::shared_ptr<const FlatPlan> flat_;
  struct FlatBuffers {
    std::vector<Array> fwd, bwd, a, grads;  // a Replay's, all but the buffers empty
    std::vector<void*> ptr, bptr;
    std::vector<char> gstate;
  };
  std::vector<FlatBuffers> flat_pool_;  // under mutex_

  std::mutex mutex_;  // the pool and the schedules
  std::vector<std::vector<double>> pool_;
  std::vector<std::pair<std::uint32_t, std::unique_ptr<Schedule>>> schedules_;
  std::shared_ptr<Structure> structure_;
  std::vector<double> grad_;  // scratch of backward() (passes hold the Value pass lock)
};
using TapePtr = std::shared_ptr<Tape>;

// Whether a Tensor instruction of this op can be replayed (tape_tensor.cpp);
// the tracer marks a trace that logs any other unsupported (fn then runs eagerly).
bool replayable(Op op);
// A Tensor instruction's op rerun on nodes (tape_tensor.cpp), and its
// elementwise kernel on arrays (false: not an elementwise op).
TensorPtr rerun(const TensorNode& t, const std::vector<TensorPtr>& p);
bool rerun_elementwise(const TensorNode& t, const Array* const* p, Array& out);
// An op whose ids come from tensor slots (ti.id_sources) rerun on nodes.
TensorPtr rerun_with_ids(const TensorInstr& ti, const std::vector<TensorPtr>& p, const Replay& r);

}  // namespace tapegrad
