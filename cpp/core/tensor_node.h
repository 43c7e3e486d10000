// The tensor graph: a node holds its value (an Array), the op that made it,
// its parents and exactly what its backward rule needs (Note [Op strings]).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor.h"

namespace tapegrad {

// One row per op, in the order of docs/DESIGN.md's table.
enum class TOp : std::uint8_t {
  Leaf, Add, Sub, Mul, Div, Neg, PowConst, Pow, Abs, Relu, Tanh, Sigmoid, Exp, Log, Sqrt, Sin, Cos,
  MatMul, Sum, Mean, Max, Min, Reshape, Transpose, Permute, Expand, GetItem, Softmax, LogSoftmax,
  Concatenate, Stack, Where, CrossEntropy, MseLoss,
};

struct TensorNode;
using TensorPtr = std::shared_ptr<TensorNode>;

struct TensorNode : std::enable_shared_from_this<TensorNode> {
  Array data;
  bool requires_grad = false;
  TensorPtr grad;  // leaves only (Note [Gradient accumulation])
  TOp op = TOp::Leaf;
  std::vector<TensorPtr> parents;
  // What backward needs, released after a backward without retain_graph.
  std::vector<Array> saved;
  std::vector<std::int64_t> ints;  // dims, permutation, labels, ...
  double k = 0;                    // exponent of **k
  bool keepdim = false;
  std::shared_ptr<IndexPlan> plan;
  bool freed = false;  // saved buffers released by a backward without retain_graph
  std::string label;
  std::uint32_t slot = 0;  // the backward sweep's (graph.h, Note [Backward pass])

  TensorNode() = default;
  TensorNode(const TensorNode&) = delete;
  TensorNode& operator=(const TensorNode&) = delete;
  ~TensorNode();  // iterative: never a recursive cascade down a long chain
  bool is_leaf() const { return op == TOp::Leaf; }
};

std::string op_string(const TensorNode& n);
TensorPtr make_leaf(Array data, bool requires_grad = false);

// Forward ops: record a node when grad mode is on and a parent requires grad.
TensorPtr add(const TensorPtr& a, const TensorPtr& b);
TensorPtr sub(const TensorPtr& a, const TensorPtr& b);
TensorPtr mul(const TensorPtr& a, const TensorPtr& b);
TensorPtr div(const TensorPtr& a, const TensorPtr& b);
TensorPtr pow(const TensorPtr& a, const TensorPtr& b);
TensorPtr pow_const(const TensorPtr& a, double k);
TensorPtr neg(const TensorPtr& a);
TensorPtr unary_op(TOp op, const TensorPtr& a);  // Abs .. Cos
TensorPtr compare(int kind, const TensorPtr& a, const TensorPtr& b);  // BinaryKind of a comparison; no grad
TensorPtr matmul(const TensorPtr& a, const TensorPtr& b);
// dims empty with all_dims: reduce everything.
TensorPtr reduce_op(TOp op, const TensorPtr& a, const std::vector<std::int64_t>& dims, bool all_dims, bool keepdim);
TensorPtr reshape(const TensorPtr& a, const Shape& shape);
TensorPtr transpose(const TensorPtr& a, std::int64_t d0, std::int64_t d1);
TensorPtr permute(const TensorPtr& a, const std::vector<std::int64_t>& dims);
TensorPtr expand(const TensorPtr& a, const Shape& shape);
TensorPtr getitem(const TensorPtr& a, const std::vector<IndexItem>& items);
TensorPtr softmax(const TensorPtr& a, std::int64_t dim);
TensorPtr log_softmax(const TensorPtr& a, std::int64_t dim);
TensorPtr concatenate(const std::vector<TensorPtr>& ts, std::int64_t dim);
TensorPtr stack(const std::vector<TensorPtr>& ts, std::int64_t dim);
TensorPtr where(const TensorPtr& cond, const TensorPtr& a, const TensorPtr& b);
TensorPtr cross_entropy(const TensorPtr& logits, const std::vector<std::int64_t>& labels);
TensorPtr mse_loss(const TensorPtr& pred, const TensorPtr& target);

// One gradient per parent (an Array without storage where a parent takes none).
std::vector<Array> backward_rule(const TensorNode& n, const Array& g);

// What a backward sweep leaves for commit() (Note [Tensor backward pass] in
// autograd.cpp): this pass's gradient of each leaf, and the nodes whose
// parents a backward without retain_graph releases.
struct BackwardPass {
  std::vector<std::pair<TensorPtr, Array>> leaf_grads;
  std::vector<TensorPtr> freed;
};

// backward(): the sweep. Needs no GIL: it writes nothing Python reads.
BackwardPass backward(const TensorPtr& root, const Array* gradient, bool retain_graph);
// tg.grad: d root / d input for each input, without touching any .grad; the
// nodes to release go to `pass.freed`.
std::vector<Array> gradients(const TensorPtr& root, const std::vector<TensorPtr>& inputs, const Array* gradient,
                             bool retain_graph, BackwardPass& pass);
// Then, with the GIL held: ADDS each leaf's gradient into its .grad and
// clears .parents of the released nodes.
void commit(BackwardPass&& pass);

}  // namespace tapegrad
