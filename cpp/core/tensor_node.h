// The tensor graph: a node holds its value (an Array), the op that made it
// (a row of op_table.h), its parents, the values its backward reads and the
// op's own arguments. The ops are grouped by family, each forward beside its
// backward rule: ops_elementwise.cpp, ops_reduce.cpp, ops_stats.cpp (var, std,
// logsumexp), ops_shape.cpp (movement and indexing), ops_join.cpp, ops_loss.cpp
// (softmax family and losses), ops_matmul.cpp. The sweep is tensor_backward.cpp's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "array.h"
#include "callbacks.h"
#include "indexing.h"
#include "op_table.h"

namespace tapegrad {

struct TensorNode;
using TensorPtr = std::shared_ptr<TensorNode>;

// The arguments of the neural-network ops (ops_norm.cpp, ops_conv.cpp).
struct NnArgs {
  bool has_weight = false, has_bias = false;  // which optional parents follow the input, in this order
  bool training = false;                      // batch_norm: normalized by the batch's own statistics
  double eps = 0;                             // layer_norm, batch_norm
  double momentum = 0;                        // batch_norm: how far the running statistics move
  std::int64_t norm_ndim = 0;                 // layer_norm: how many trailing dims are normalized
  std::int64_t kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0;  // conv2d (kernel from the weight), pooling
};

struct TensorNode : std::enable_shared_from_this<TensorNode> {
  Array data;
  bool requires_grad = false;
  TensorPtr grad;  // leaves only (Note [Gradient accumulation])
  Op op = Op::Leaf;
  std::vector<TensorPtr> parents;
  // What the backward reads, as the op table's Saves column says: the inputs
  // in parent order, then the output (Custom: named at the op). Released by a
  // backward without retain_graph.
  std::vector<Array> saved;
  // The op's arguments.
  std::vector<std::int64_t> dims;    // reduced dims, a permutation, or the one dim of softmax/concatenate/stack
  std::vector<std::int64_t> sizes;   // concatenate: each input's extent along dims[0]
  std::vector<std::int64_t> labels;  // cross_entropy: the class ids
  double k = 0, k2 = 0;              // the op's numbers: the exponent of "**k", leaky_relu's slope,
                                     // clamp's bounds, softplus's beta and threshold, var's correction
  bool keepdim = false;
  std::shared_ptr<const IndexPlan> plan;  // getitem and its backward
  std::shared_ptr<TensorFunction> function;  // op Function: its backward
  std::shared_ptr<const NnArgs> nn;          // the nn ops' arguments
  // register_hook's hooks, with the ids their handles remove them by
  std::vector<std::pair<int, std::shared_ptr<GradHook>>> hooks;
  bool retains_grad = false;   // a non-leaf that keeps its .grad (retain_grad())
  bool from_backward = false;  // made by a recorded backward pass (tg.viz marks it)
  bool freed = false;  // saved values released by a backward without retain_graph
  std::string label;
  std::uint32_t slot = 0;  // the backward sweep's (graph.h, Note [Backward pass])

  TensorNode() = default;
  TensorNode(const TensorNode&) = delete;
  TensorNode& operator=(const TensorNode&) = delete;
  ~TensorNode();  // iterative: never a recursive cascade down a long chain
  bool is_leaf() const { return op == Op::Leaf; }
};

// While a recorded backward pass runs on this thread, the nodes it records
// are marked from_backward (ops_elementwise.cpp).
bool& recording_backward_flag();

std::string op_string(const TensorNode& n);  // "+", "**2", "sum", ...
// A leaf; requires_grad on int64 data is a TypeError (kIntGrad).
TensorPtr make_leaf(Array data, bool requires_grad = false);
extern const char* const kIntGrad;
extern const char* const kIntNoGrad;  // .grad = g on an int64 tensor

// ---- forward ops: each records a node when grad mode is on and a parent
// requires grad, else returns a leaf holding the result.

// elementwise (ops_elementwise.cpp)
TensorPtr unary_op(Op op, const TensorPtr& a);  // a Unary op of the table that takes no numbers
TensorPtr pow_const(const TensorPtr& a, double k);
// a Unary op that takes numbers: "**k", leaky_relu (slope), clamp (lo, hi), softplus (beta, threshold)
TensorPtr unary_param(Op op, const TensorPtr& a, double k, double k2 = 0.0);
TensorPtr binary_op(Op op, const TensorPtr& a, const TensorPtr& b);  // a Binary op: broadcasts
TensorPtr compare(Op op, const TensorPtr& a, const TensorPtr& b);    // a Compare op: never recorded
inline TensorPtr add(const TensorPtr& a, const TensorPtr& b) { return binary_op(Op::Add, a, b); }
inline TensorPtr sub(const TensorPtr& a, const TensorPtr& b) { return binary_op(Op::Sub, a, b); }
inline TensorPtr mul(const TensorPtr& a, const TensorPtr& b) { return binary_op(Op::Mul, a, b); }
inline TensorPtr div(const TensorPtr& a, const TensorPtr& b) { return binary_op(Op::Div, a, b); }
inline TensorPtr pow(const TensorPtr& a, const TensorPtr& b) { return binary_op(Op::Pow, a, b); }
inline TensorPtr neg(const TensorPtr& a) { return unary_op(Op::Neg, a); }
TensorPtr scale(const TensorPtr& a, double c);  // a * c, c a constant in a's dtype

// matmul (ops_matmul.cpp)
TensorPtr matmul(const TensorPtr& a, const TensorPtr& b);

// reductions (ops_reduce.cpp); dims empty with all_dims: reduce everything
TensorPtr reduce_op(Op op, const TensorPtr& a, const std::vector<std::int64_t>& dims, bool all_dims, bool keepdim);
// argmax/argmin (op Argmax or Argmin): an int64 leaf, never recorded
TensorPtr arg_op(Op op, const TensorPtr& a, std::int64_t dim, bool all_dims, bool keepdim);
// var and std (op Var, Std) with a correction, and logsumexp (ops_stats.cpp)
TensorPtr moments_op(Op op, const TensorPtr& a, const std::vector<std::int64_t>& dims, bool all_dims, bool keepdim,
                     double correction);
TensorPtr logsumexp(const TensorPtr& a, const std::vector<std::int64_t>& dims, bool keepdim);

// movement and indexing (ops_shape.cpp)
TensorPtr reshape(const TensorPtr& a, const Shape& shape);
TensorPtr transpose(const TensorPtr& a, std::int64_t d0, std::int64_t d1);
TensorPtr permute(const TensorPtr& a, const std::vector<std::int64_t>& dims);
TensorPtr reverse_dims(const TensorPtr& a);  // .T: every dim reversed, op "transpose"
TensorPtr expand(const TensorPtr& a, const Shape& shape);
// a itself when already of that dtype; to int64 a leaf (truncated toward zero, never recorded)
TensorPtr cast(const TensorPtr& a, DType dtype);
TensorPtr clone(const TensorPtr& a);              // a copy (op "clone")
TensorPtr getitem(const TensorPtr& a, const std::vector<IndexItem>& items);
// For a replay (Note [Compile]): `perm` of op Transpose or Permute, already
// normalized; an index plan made for a's shape.
TensorPtr permuted(const TensorPtr& a, Op op, std::vector<std::int64_t> perm);
TensorPtr getitem(const TensorPtr& a, const std::shared_ptr<const IndexPlan>& plan);
TensorPtr index_with_plan(Op op, const TensorPtr& a, const std::shared_ptr<const IndexPlan>& plan);  // GetItem, Gather, Embedding
// [start, stop) along dim, all in range (split's parts, joins' backward): a getitem view
TensorPtr slice(const TensorPtr& a, std::int64_t dim, std::int64_t start, std::int64_t stop);
// a.gather(dim, index) and embedding(index, weight); index an int64 array
TensorPtr gather(const TensorPtr& a, std::int64_t dim, const Array& index);
TensorPtr embedding(const Array& index, const TensorPtr& weight);

// joining and selecting (ops_join.cpp)
TensorPtr concatenate(const std::vector<TensorPtr>& ts, std::int64_t dim);
TensorPtr stack(const std::vector<TensorPtr>& ts, std::int64_t dim);
TensorPtr where(const TensorPtr& cond, const TensorPtr& a, const TensorPtr& b);

// softmax family and losses (ops_loss.cpp)
TensorPtr softmax(const TensorPtr& a, std::int64_t dim);
TensorPtr log_softmax(const TensorPtr& a, std::int64_t dim);
// logits (N, C), labels N class ids in [0, C) (validated here):
// `labels` holds the class ids of an array of shape `label_shape`, which must be (N,).
TensorPtr cross_entropy(const TensorPtr& logits, const std::vector<std::int64_t>& labels, const Shape& label_shape);
TensorPtr mse_loss(const TensorPtr& pred, const TensorPtr& target);

// neural-network layers (ops_norm.cpp, ops_conv.cpp), NCHW; a null weight or
// bias is absent. The arguments are validated here (ValueError).
// layer_norm over the last norm_ndim dims; weight and bias of those dims' shape.
TensorPtr layer_norm(const TensorPtr& x, std::int64_t norm_ndim, const TensorPtr& weight, const TensorPtr& bias,
                     double eps);
// batch_norm over every dim but 1 (the channels, C); weight, bias and the
// running statistics of shape (C,). Training updates the running statistics
// (when given) in place: momentum * batch + (1 - momentum) * running, the
// batch variance unbiased; evaluation normalizes by them.
TensorPtr batch_norm(const TensorPtr& x, const TensorPtr& running_mean, const TensorPtr& running_var,
                     const TensorPtr& weight, const TensorPtr& bias, bool training, double momentum, double eps);
// x * noise: noise (x's shape) holds 0 where an element is dropped, 1 / (1 - p) elsewhere.
TensorPtr dropout(const TensorPtr& x, const Array& noise);
// x (N, C, H, W), weight (O, C, KH, KW), bias (O,) or null.
TensorPtr conv2d(const TensorPtr& x, const TensorPtr& weight, const TensorPtr& bias, std::int64_t sh, std::int64_t sw,
                 std::int64_t ph, std::int64_t pw);
// F.linear: x (..., in) w^T + bias, weight (out, in), bias (out,) or null (ops_matmul.cpp).
TensorPtr linear(const TensorPtr& x, const TensorPtr& weight, const TensorPtr& bias);
// op MaxPool2d or AvgPool2d over x (N, C, H, W), no padding.
TensorPtr pool2d(Op op, const TensorPtr& x, std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw);

// tg.autograd.Function: a node holding `data`, computed outside the core from
// `parents`, whose backward is `fn` (tensor_backward.cpp).
TensorPtr record_function(Array data, std::vector<TensorPtr> parents, std::shared_ptr<TensorFunction> fn);
// register_hook: the hook's id, for remove_hook (false if already removed).
int add_hook(TensorNode& n, std::shared_ptr<GradHook> hook);
bool remove_hook(TensorNode& n, int id);

// ---- backward (tensor_backward.cpp) -------------------------------------------

// One gradient per parent (an Array without storage where a parent takes
// none), from the values the node saved: the fused sweep.
std::vector<Array> backward_rule(const TensorNode& n, const Array& g);
// The same rule applied with recorded ops (Note [Recorded backward]): the
// results are graph nodes when grad mode is on; null where a parent takes none.
std::vector<TensorPtr> recorded_backward_rule(const TensorPtr& n, const TensorPtr& g);
// A rule's share as the sweep hands it to a parent whose data is `parent`:
// in its dtype, summed over the dims it was broadcast along.
Array share_for(Array g, const Array& parent);
TensorPtr share_for(TensorPtr g, const Array& parent);
// detect_anomaly's check of one rule's results (raises naming n's op), for a
// sweep that applies rules itself (a compiled tape's: Note [Flat replay]).
void anomaly_check(const TensorNode& n, const Array& g, const std::vector<Array>& out);
void anomaly_check(const TensorNode& n, const TensorPtr& g, const std::vector<TensorPtr>& out);

// What a backward sweep leaves for commit() (Note [Tensor backward pass] in
// tensor_backward.cpp): this pass's gradient of each leaf, and the nodes whose
// parents a backward without retain_graph releases.
struct BackwardPass {
  std::vector<std::pair<TensorPtr, Array>> leaf_grads;
  std::vector<std::pair<TensorPtr, TensorPtr>> recorded_leaf_grads;  // create_graph
  std::vector<TensorPtr> freed;
};

// backward(): the sweep. Needs no caller's lock unless it records
// (create_graph): it writes nothing the caller's threads read.
// `gradient` (null: ones for a one-element root) must have the root's shape;
// a recorded pass starts from it as a node, so the results depend on it too.
BackwardPass backward(const TensorPtr& root, const TensorPtr& gradient, bool retain_graph, bool create_graph = false);
// tg.grad: d root / d input for each input, without touching any .grad; the
// nodes to release go to `pass.freed`. With create_graph the results are
// recorded graph nodes.
std::vector<TensorPtr> gradients(const TensorPtr& root, const std::vector<TensorPtr>& inputs, const TensorPtr& gradient,
                                 bool retain_graph, bool create_graph, BackwardPass& pass);
// Then, with the caller's lock held: ADDS each leaf's gradient into its .grad
// and clears .parents of the released nodes.
void commit(BackwardPass&& pass);

// ---- attributes a user may assign (tensor_backward.cpp) --------------------------

// .requires_grad of a leaf (RuntimeError on a computed tensor).
void set_requires_grad(TensorNode& t, bool flag);
// .grad: null, or a gradient of t's shape, kept in t's dtype (ValueError
// naming both shapes otherwise).
void set_grad(TensorNode& t, TensorPtr grad);

}  // namespace tapegrad
