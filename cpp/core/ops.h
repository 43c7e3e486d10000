// The scalar (Value) ops, one row each, in the order and with the op strings
// of docs/DESIGN.md Note [Op strings]. The forward and local-gradient rule of
// each op sit side by side in value_rules.h.
#pragma once

#include <cstdint>

namespace tapegrad {

enum class Op : std::uint8_t {
  Leaf,      // ""        a leaf or constant: no parents
  Add,       // "+"       a + b
  Sub,       // "-"       a - b
  Mul,       // "*"       a * b
  Div,       // "/"       a / b
  Neg,       // "neg"     -a
  PowConst,  // "**k"     a ** k, k a number (kept on the node), e.g. "**2"
  Pow,       // "**"      a ** b, both Values
  Abs,       // "abs"
  Relu,      // "relu"
  Tanh,      // "tanh"
  Sigmoid,   // "sigmoid"
  Exp,       // "exp"
  Log,       // "log"
  Sqrt,      // "sqrt"
  Sin,       // "sin"
  Cos,       // "cos"
};

inline constexpr int kOpCount = static_cast<int>(Op::Cos) + 1;

// Number of parents an op records (0 for leaves).
constexpr int op_arity(Op op) {
  switch (op) {
    case Op::Leaf: return 0;
    case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Pow: return 2;
    default: return 1;
  }
}

// The op string shown as `.op` ("**k" is completed with the exponent by
// value_op_string in value.h).
constexpr const char* op_name(Op op) {
  switch (op) {
    case Op::Leaf: return "";
    case Op::Add: return "+";
    case Op::Sub: return "-";
    case Op::Mul: return "*";
    case Op::Div: return "/";
    case Op::Neg: return "neg";
    case Op::PowConst: return "**k";
    case Op::Pow: return "**";
    case Op::Abs: return "abs";
    case Op::Relu: return "relu";
    case Op::Tanh: return "tanh";
    case Op::Sigmoid: return "sigmoid";
    case Op::Exp: return "exp";
    case Op::Log: return "log";
    case Op::Sqrt: return "sqrt";
    case Op::Sin: return "sin";
    case Op::Cos: return "cos";
  }
  return "?";
}

}  // namespace tapegrad
