// One entry of the tracer's log (trace.h, trace.cpp, tape_build.cpp).
#pragma once

#include <cstdint>
#include <memory>

#include "trace.h"

namespace tapegrad {

struct Tracer::Event {
  enum Kind : std::uint8_t {
    ValueConst,        // a Value leaf made in fn: a constant (k, its data)
    NumberConst,       // a number constant (k)
    ValueOp,           // a Value op (code) of a, b (PowConst: b is the exponent's number)
    NumberOp,          // arithmetic on tracked numbers (code) of a, b
    ValueCopy,         // a Value leaf holding number a
    ValueInput,        // an argument Value (leaf = its position) or one from outside (leaf = kNoSlot)
    NumberInput,       // an argument number (leaf)
    TensorInput,       // an argument Tensor, or one from outside
    TensorOp,          // a Tensor node made by an op (tensor); batch_norm: a, b its running statistics
    TensorConst,       // a Tensor leaf made in fn (tensor: its data)
    TensorFromNumber,  // a 0-d Tensor leaf holding number a (tensor gives the dtype)
    TensorDetach,      // a leaf sharing tensor a's data
    TensorDraw,        // a leaf drawn from a random stream (source)
    Item,              // the only element of tensor a, as a number
    Guard,             // code (a Tc guard) on a, b
    GuardTensor,       // tensor a must equal `tensor` (a copy of what was read)
    StoreValue,        // Value a's data := scalar b
    StoreTensor,       // Tensor a's data := tensor b
  };
  explicit Event(Kind k) : kind(k) {}

  Kind kind;
  std::uint8_t code = 0;
  std::uint8_t flags = 0;  // Instr::kNoGrad: made under no_grad
  Ref a = kNoSlot, b = kNoSlot;
  std::uint32_t leaf = kNoSlot;  // inputs: the position in the flattened arguments
  double k = 0;
  ValueNode* value = nullptr;  // the Value made or read (the tracer holds a reference)
  TensorPtr tensor;
  TensorPtr made_as;  // TensorConst: a copy of its values when made, if fn changed them in place later
  std::shared_ptr<TensorSource> source;  // TensorDraw: the stream; a dropout TensorOp: its noise
  // Ids read from Tensors (getitem's items at these positions, or labels: kNoSlot), and getitem's items.
  std::vector<std::pair<std::uint32_t, Ref>> id_sources;
  std::shared_ptr<const std::vector<IndexItem>> items;

  bool is_scalar() const {
    switch (kind) {
      case ValueConst: case NumberConst: case ValueOp: case NumberOp: case ValueCopy:
      case ValueInput: case NumberInput: case Item: return true;
      default: return false;
    }
  }
  bool is_tensor() const {
    switch (kind) {
      case TensorInput: case TensorOp: case TensorConst: case TensorFromNumber: case TensorDetach:
      case TensorDraw: return true;
      default: return false;
    }
  }
  bool is_value() const { return kind == ValueConst || kind == ValueOp || kind == ValueCopy || kind == ValueInput; }
};

}  // namespace tapegrad
