// The op table: every op of tapegrad, Value and Tensor, native and reference,
// one row each (docs/DESIGN.md, Note [Op table]). It is the single source of
//   - each op's identity (the enum Op) and its `.op` string;
//   - its arity and kind (the family its forward and backward live in);
//   - which saved values its backward reads;
//   - which of Value and Tensor have it, and the Python name it is bound as;
//   - the registry Python reads (_core.op_table()).
// The reference backend lists the same ops in the same order
// (tapegrad/reference/elementwise.py and tensor_ops.py); a test checks it.
//
// Columns: X(Name, "op string", arity, Kind, Saves, surfaces, "python name", "doc")
//   arity     number of parents; -1 for any number (concatenate, stack)
//   Kind      Leaf, Unary, Binary (elementwise, rules in rules.h and, for the
//             Tensor-only rows, rules_tensor.h), Function (a
//             tg.autograd.Function: forward and backward from outside the
//             core), Compare (no graph), MatMul, Reduce, Arg (int64
//             positions, no graph), Movement, Index, Join, Softmax, Loss,
//             Moments (var, std), NN (the layers of tg.nn.functional)
//   Saves     what the backward reads: None, Input (the only parent), Inputs,
//             Output, InputsOutput, Custom (documented at the op)
//   surfaces  V: Value has it, T: Tensor has it
//   python    the method (or operator) that makes it, "" if none of its own
//   doc       what it computes and its local gradient d/d(input), for docstrings and the registry
//
// Value ops come first: a Value node keeps its op in 5 bits (value.h); the
// Tensor-only rows follow, the newest last.
#pragma once

#include <cstdint>

#define TG_OPS(X) \
  X(Leaf,            "",                 0,  Leaf,     None,         VT, "", \
    "a leaf or constant: no parents") \
  X(Add,             "+",                2,  Binary,   None,         VT, "__add__", \
    "a + b; d/da = 1, d/db = 1") \
  X(Sub,             "-",                2,  Binary,   None,         VT, "__sub__", \
    "a - b; d/da = 1, d/db = -1") \
  X(Mul,             "*",                2,  Binary,   Inputs,       VT, "__mul__", \
    "a * b; d/da = b, d/db = a") \
  X(Div,             "/",                2,  Binary,   Inputs,       VT, "__truediv__", \
    "a / b; d/da = 1/b, d/db = -a/b^2") \
  X(Neg,             "neg",              1,  Unary,    None,         VT, "__neg__", \
    "-a; d/da = -1") \
  X(PowConst,        "**k",              1,  Unary,    Input,        VT, "__pow__", \
    "a ** k, k a number; d/da = k a^(k-1) (0 for k = 0)") \
  X(Pow,             "**",               2,  Binary,   InputsOutput, VT, "__pow__", \
    "a ** b; d/da = b a^(b-1), d/db = a^b log(a) (0 where a = 0 <= b)") \
  X(Abs,             "abs",              1,  Unary,    Input,        VT, "abs", \
    "|a|; d/da = sign(a), 0 at 0") \
  X(Relu,            "relu",             1,  Unary,    Output,       VT, "relu", \
    "max(a, 0); d/da = 1 if a > 0 else 0 (uses the output)") \
  X(Tanh,            "tanh",             1,  Unary,    Output,       VT, "tanh", \
    "tanh(a); d/da = 1 - tanh(a)^2 (uses the output)") \
  X(Sigmoid,         "sigmoid",          1,  Unary,    Output,       VT, "sigmoid", \
    "1 / (1 + e^-a); d/da = s (1 - s) (uses the output)") \
  X(Exp,             "exp",              1,  Unary,    Output,       VT, "exp", \
    "e^a; d/da = e^a (uses the output)") \
  X(Log,             "log",              1,  Unary,    Input,        VT, "log", \
    "ln(a) (log(0) = -inf); d/da = 1/a") \
  X(Sqrt,            "sqrt",             1,  Unary,    Output,       VT, "sqrt", \
    "sqrt(a) (sqrt(-1) = nan); d/da = 1 / (2 sqrt(a)) (uses the output)") \
  X(Sin,             "sin",              1,  Unary,    Input,        VT, "sin", \
    "sin(a); d/da = cos(a)") \
  X(Cos,             "cos",              1,  Unary,    Input,        VT, "cos", \
    "cos(a); d/da = -sin(a)") \
  X(Log1p,           "log1p",            1,  Unary,    Input,        VT, "log1p", \
    "ln(1 + a), exact for tiny a (log1p(-1) = -inf); d/da = 1 / (1 + a)") \
  X(Expm1,           "expm1",            1,  Unary,    Output,       VT, "expm1", \
    "e^a - 1, exact for tiny a; d/da = e^a = out + 1 (uses the output)") \
  X(Function,        "function",        -1, Function, Custom,       VT, "", \
    "a tg.autograd.Function: its own forward and backward; .op is the class name") \
  X(Lt,              "<",                2,  Compare,  None,         T,  "__lt__", \
    "a < b as 1.0/0.0; no gradient") \
  X(Le,              "<=",               2,  Compare,  None,         T,  "__le__", \
    "a <= b as 1.0/0.0; no gradient") \
  X(Gt,              ">",                2,  Compare,  None,         T,  "__gt__", \
    "a > b as 1.0/0.0; no gradient") \
  X(Ge,              ">=",               2,  Compare,  None,         T,  "__ge__", \
    "a >= b as 1.0/0.0; no gradient") \
  X(Eq,              "==",               2,  Compare,  None,         T,  "__eq__", \
    "a == b as 1.0/0.0; no gradient") \
  X(Ne,              "!=",               2,  Compare,  None,         T,  "__ne__", \
    "a != b as 1.0/0.0; no gradient") \
  X(MatMul,          "@",                2,  MatMul,   Inputs,       T,  "__matmul__", \
    "a @ b; d/da = g b^T, d/db = a^T g (batch dims summed back)") \
  X(Sum,             "sum",              1,  Reduce,   None,         T,  "sum", \
    "sum over dims; d/da_i = 1") \
  X(Mean,            "mean",             1,  Reduce,   None,         T,  "mean", \
    "mean over dims; d/da_i = 1/n") \
  X(Max,             "max",              1,  Reduce,   InputsOutput, T,  "max", \
    "max over dims; d/da_i = [a_i = max] / #ties") \
  X(Min,             "min",              1,  Reduce,   InputsOutput, T,  "min", \
    "min over dims; d/da_i = [a_i = min] / #ties") \
  X(Argmax,          "argmax",           1,  Arg,      None,         T,  "argmax", \
    "the int64 position of the largest value along dim (the first of ties); no gradient") \
  X(Argmin,          "argmin",           1,  Arg,      None,         T,  "argmin", \
    "the int64 position of the smallest value along dim (the first of ties); no gradient") \
  X(Reshape,         "reshape",          1,  Movement, None,         T,  "reshape", \
    "the same values in a new shape; g reshaped back") \
  X(Transpose,       "transpose",        1,  Movement, None,         T,  "transpose", \
    "two dims swapped (or all reversed, .T); g permuted back") \
  X(Permute,         "permute",          1,  Movement, None,         T,  "permute", \
    "dims reordered; g permuted back") \
  X(Expand,          "expand",           1,  Movement, None,         T,  "expand", \
    "broadcast to a larger shape; g summed over the copies") \
  X(Cast,            "astype",           1,  Movement, None,         T,  "", \
    "the values in another dtype; g cast back") \
  X(GetItem,         "getitem",          1,  Index,    None,         T,  "__getitem__", \
    "NumPy indexing; g scattered back (repeated indices add up)") \
  X(GetItemBackward, "getitem_backward", 1,  Index,    None,         T,  "", \
    "the scatter-add of getitem's backward; g gathered again") \
  X(Gather,          "gather",           1,  Index,    None,         T,  "gather", \
    "out[i][j] = a[index[i][j]][j] along dim (int64 index); g scattered back (getitem_backward)") \
  X(Embedding,       "embedding",        1,  Index,    None,         T,  "", \
    "the rows of a table picked by int64 ids (nn.functional.embedding); g added back into the rows (getitem_backward)") \
  X(Concatenate,     "concatenate",      -1, Join,     None,         T,  "concatenate", \
    "joined along a dim; each input gets its slice of g") \
  X(Stack,           "stack",            -1, Join,     None,         T,  "stack", \
    "joined along a new dim; each input gets its entry of g") \
  X(Where,           "where",            3,  Join,     Custom,       T,  "where", \
    "a where cond else b; d/da = [cond], d/db = [not cond]") \
  X(Softmax,         "softmax",          1,  Softmax,  Output,       T,  "softmax", \
    "e^a / sum e^a along dim; s * (g - sum(g s)) (uses the output)") \
  X(LogSoftmax,      "log_softmax",      1,  Softmax,  Output,       T,  "log_softmax", \
    "a - logsumexp(a) along dim; g - e^out sum(g) (uses the output)") \
  X(CrossEntropy,    "cross_entropy",    1,  Loss,     Custom,       T,  "cross_entropy", \
    "mean of -log softmax(a)[label]; (softmax(a) - onehot) / N") \
  X(MseLoss,         "mse_loss",         2,  Loss,     Custom,       T,  "mse_loss", \
    "mean of (a - b)^2; d/da = 2 (a - b) / n, d/db = -that") \
  X(Gelu,            "gelu",             1,  Unary,    Input,        T,  "gelu", \
    "a Phi(a), Phi the normal cdf; d/da = Phi(a) + a phi(a)") \
  X(GeluTanh,        "gelu_tanh",        1,  Unary,    Input,        T,  "gelu", \
    "a/2 (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3))); d/da = (1 + t)/2 + a/2 (1 - t^2) u'") \
  X(Erf,             "erf",              1,  Unary,    Input,        T,  "", \
    "erf(a); d/da = 2/sqrt(pi) e^(-a^2)") \
  X(Silu,            "silu",             1,  Unary,    Input,        T,  "silu", \
    "a sigmoid(a); d/da = s (1 + a (1 - s))") \
  X(Softplus,        "softplus",         1,  Unary,    Input,        T,  "softplus", \
    "log(1 + e^(beta a)) / beta, a where beta a > threshold; d/da = sigmoid(beta a), 1 there") \
  X(LeakyRelu,       "leaky_relu",       1,  Unary,    Input,        T,  "leaky_relu", \
    "a if a > 0 else slope a; d/da = 1 if a > 0 else slope") \
  X(Clamp,           "clamp",            1,  Unary,    Input,        T,  "clamp", \
    "min(max(a, lo), hi); d/da = 1 if lo <= a <= hi else 0") \
  X(Maximum,         "maximum",          2,  Binary,   Inputs,       T,  "maximum", \
    "the larger of a and b; d/da = [a > b] + [a = b]/2, d/db likewise") \
  X(Minimum,         "minimum",          2,  Binary,   Inputs,       T,  "minimum", \
    "the smaller of a and b; d/da = [a < b] + [a = b]/2, d/db likewise") \
  X(Var,             "var",              1,  Moments,  Custom,       T,  "var", \
    "sum of (a - mean)^2 / (n - correction) over dims; d/da_i = 2 (a_i - mean) / (n - correction)") \
  X(Std,             "std",              1,  Moments,  Custom,       T,  "std", \
    "sqrt(var) over dims; d/da_i = (a_i - mean) / ((n - correction) std), 0 where std = 0") \
  X(LogSumExp,       "logsumexp",        1,  Softmax,  InputsOutput, T,  "logsumexp", \
    "log sum e^a over dims, stable; d/da_i = e^(a_i - out) = softmax(a)_i") \
  X(Clone,           "clone",            1,  Movement, None,         T,  "clone", \
    "a copy of the values; g passes through") \
  X(LayerNorm,       "layer_norm",       -1, NN,       Custom,       T,  "layer_norm", \
    "xhat w + b, xhat = (a - mean) s, s = 1/sqrt(var + eps) over the trailing dims; " \
    "d/da = s (gw - mean(gw) - xhat mean(gw xhat)), d/dw = sum g xhat, d/db = sum g") \
  X(BatchNorm,       "batch_norm",       -1, NN,       Custom,       T,  "batch_norm", \
    "layer_norm's formula per channel (dim 1) over the other dims (training), or with the running " \
    "statistics (evaluation: d/da = s g w)") \
  X(Dropout,         "dropout",          1,  NN,       Custom,       T,  "dropout", \
    "a * noise, noise 0 (dropped, probability p) or 1/(1-p); d/da = noise") \
  X(Conv2d,          "conv2d",           -1, NN,       Custom,       T,  "conv2d", \
    "w (O,C,KH,KW) correlated with a (N,C,H,W), plus b: one GEMM w col(a); d/da = col2im(w^T g), " \
    "d/dw = g col(a)^T, d/db = sum g") \
  X(MaxPool2d,       "max_pool2d",       1,  NN,       Custom,       T,  "max_pool2d", \
    "the largest value of each window; g goes to its position (getitem_backward)") \
  X(AvgPool2d,       "avg_pool2d",       1,  NN,       None,         T,  "avg_pool2d", \
    "the mean of each window; each input gets g / (KH KW) from every window it is in") \
  X(Linear,          "linear",           -1, NN,       Custom,       T,  "linear", \
    "a w^T + b over the last dim of a (..., in), w (out, in): one GEMM into the bias; " \
    "d/da = g w, d/dw = g^T a, d/db = sum g (rows flattened)")

namespace tapegrad {

enum class Op : std::uint8_t {
#define TG_ENUM(Name, str, arity, kind, saves, surf, py, doc) Name,
  TG_OPS(TG_ENUM)
#undef TG_ENUM
};

enum class OpKind : std::uint8_t {
  Leaf, Unary, Binary, Function, Compare, MatMul, Reduce, Arg, Movement, Index, Join, Softmax, Loss, Moments, NN
};
enum class Saves : std::uint8_t { None, Input, Inputs, Output, InputsOutput, Custom };

struct OpInfo {
  Op op;
  const char* name;    // the `.op` string ("**k" is completed with the exponent: "**2")
  int arity;           // -1: any number of parents
  OpKind kind;
  Saves saves;
  bool value, tensor;  // which of Value and Tensor have the op
  const char* python;  // the method or operator that makes it ("" if none of its own)
  const char* doc;     // what it computes, and d/d(input)
};

namespace op_detail {
constexpr bool has_v(const char* s) { return s[0] == 'V'; }
constexpr bool has_t(const char* s) { return s[0] == 'T' || (s[0] != '\0' && s[1] == 'T'); }
}  // namespace op_detail

inline constexpr OpInfo kOps[] = {
#define TG_INFO(Name, str, arity, kind, saves, surf, py, doc) \
  {Op::Name, str, arity, OpKind::kind, Saves::saves, op_detail::has_v(#surf), op_detail::has_t(#surf), py, doc},
    TG_OPS(TG_INFO)
#undef TG_INFO
};

inline constexpr int kOpCount = static_cast<int>(sizeof(kOps) / sizeof(kOps[0]));

constexpr const OpInfo& op_info(Op op) { return kOps[static_cast<int>(op)]; }
constexpr const char* op_name(Op op) { return op_info(op).name; }
constexpr int op_arity(Op op) { return op_info(op).arity; }

// Every Value op has a smaller code than every Tensor-only op, so the Value
// node's 5-bit field holds any of them (the table projected on Value).
constexpr int value_op_limit() {
  int last = 0;
  for (int i = 0; i < kOpCount; ++i)
    if (kOps[i].value) last = i;
  return last + 1;
}
static_assert(value_op_limit() <= 32, "Value ops must come first in TG_OPS and fit in 5 bits");
static_assert([] {
  for (int i = 0; i < kOpCount; ++i)
    if (static_cast<int>(kOps[i].op) != i) return false;
  return true;
}(), "kOps is indexed by Op");

const char* kind_name(OpKind k);
const char* saves_name(Saves s);

}  // namespace tapegrad
