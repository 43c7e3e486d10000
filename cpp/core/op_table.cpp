// Names for the op table's columns (op_table.h), for the registry Python reads.
#include "op_table.h"

namespace tapegrad {

const char* kind_name(OpKind k) {
  switch (k) {
    case OpKind::Leaf: return "leaf";
    case OpKind::Unary: return "unary";
    case OpKind::Binary: return "binary";
    case OpKind::Function: return "function";
    case OpKind::Compare: return "compare";
    case OpKind::MatMul: return "matmul";
    case OpKind::Reduce: return "reduce";
    case OpKind::Arg: return "arg";
    case OpKind::Movement: return "movement";
    case OpKind::Index: return "index";
    case OpKind::Join: return "join";
    case OpKind::Softmax: return "softmax";
    case OpKind::Loss: return "loss";
    case OpKind::NN: return "nn";
    case OpKind::Moments: return "moments";
  }
  return "?";
}

const char* saves_name(Saves s) {
  switch (s) {
    case Saves::None: return "none";
    case Saves::Input: return "input";
    case Saves::Inputs: return "inputs";
    case Saves::Output: return "output";
    case Saves::InputsOutput: return "inputs+output";
    case Saves::Custom: return "custom";
  }
  return "?";
}

}  // namespace tapegrad
