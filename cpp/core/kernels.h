// Numerical kernels on Arrays: elementwise with broadcasting (loops over the
// rules of rules.h), reductions, matmul, the softmax family, joining and
// selecting. No autograd here.
#pragma once

#include <cstdint>
#include <vector>

#include "array.h"
#include "op_table.h"

namespace tapegrad {

// ---- elementwise (kernels_elementwise.cpp) ------------------------------------
// Forward of a Unary op (k, k2: the op's numbers, as the exponent of "**k" or
// clamp's bounds), and of a Binary or Compare op with broadcasting; the
// result has the promoted dtype.
Array unary(Op op, const Array& a, double k = 0.0, double k2 = 0.0);
Array binary(Op op, const Array& a, const Array& b);
Array binary_scalar(Op op, const Array& a, double s);   // a (op) s, s in a's dtype
Array rbinary_scalar(Op op, double s, const Array& a);  // s (op) a
// Backward, fused: g * d(s) for a Unary op with saved value s; g * d/da
// (which = 0) or g * d/db (which = 1) for a Binary op.
Array unary_grad(Op op, const Array& g, const Array& s, double k, double k2 = 0.0);
Array binary_grad(Op op, int which, const Array& g, const Array& a, const Array& b, const Array& out);
// gelu, gelu_tanh and silu over vmath (kernels_activation.cpp, Note [Vector
// activations]): false, out untouched, for other ops, int64 operands, and
// (backward) g and s of different dtypes or shapes.
bool vector_activation(Op op, const Array& a, Array& out);
bool vector_activation_grad(Op op, const Array& g, const Array& s, Array& out);
bool vector_op(Op op);  // one of those ops
// The loops of unary, binary, unary_grad and binary_grad for operands that
// are contiguous, of one float dtype and one shape, n elements (too few to
// split over threads), on raw memory: the same operations on each element, so
// the same bits, without an Array (a compiled tape's flat replay, Note [Flat
// replay]). False, nothing written, for what they do not cover: int64, the
// vector activations, a binary rule's pass-through (g or -g itself).
// The same loops as function pointers (null where not covered), for a caller
// that picks them once and calls them many times.
using UnaryRawFn = void (*)(const void* x, void* out, std::int64_t n, double k, double k2);
using BinaryRawFn = void (*)(const void* x, const void* y, void* out, std::int64_t n);
using UnaryGradRawFn = void (*)(const void* g, const void* s, void* out, std::int64_t n, double k, double k2);
using BinaryGradRawFn = void (*)(const void* g, const void* a, const void* b, const void* o, void* out, std::int64_t n);
UnaryRawFn unary_raw_fn(Op op, DType dt);
BinaryRawFn binary_raw_fn(Op op, DType dt);
UnaryGradRawFn unary_grad_raw_fn(Op op, DType dt);
BinaryGradRawFn binary_grad_raw_fn(Op op, int which, DType dt);
bool unary_raw(Op op, DType dt, const void* x, void* out, std::int64_t n, double k, double k2);
bool binary_raw(Op op, DType dt, const void* x, const void* y, void* out, std::int64_t n);
bool unary_grad_raw(Op op, DType dt, const void* g, const void* s, void* out, std::int64_t n, double k, double k2);
bool binary_grad_raw(Op op, int which, DType dt, const void* g, const void* a, const void* b, const void* o, void* out,
                     std::int64_t n);
int binary_pass(Op op, int which);  // a Binary rule's share for operand `which`: g (1), -g (-1), or computed (0)

inline Array add(const Array& a, const Array& b) { return binary(Op::Add, a, b); }
inline Array sub(const Array& a, const Array& b) { return binary(Op::Sub, a, b); }
inline Array mul(const Array& a, const Array& b) { return binary(Op::Mul, a, b); }
inline Array div(const Array& a, const Array& b) { return binary(Op::Div, a, b); }
inline Array neg(const Array& a) { return unary(Op::Neg, a); }
inline Array scale(const Array& a, double c) { return binary_scalar(Op::Mul, a, c); }

// dst = src or dst += src (src broadcast to dst's shape), in place through dst's strides.
void copy_into(const Array& dst, const Array& src);
void add_into(const Array& dst, const Array& src);
Array where(const Array& cond, const Array& a, const Array& b);  // cond nonzero: a, else b
Array concatenate(const std::vector<Array>& parts, std::int64_t dim);

// ---- int64 (kernels_int.cpp, Note [Dtypes]) -----------------------------------------
// The Unary (Binary, Compare) op on int64 operands: int64 for + - * neg abs
// relu and the comparisons, else the float32 op on the converted values.
Array int_unary(Op op, const Array& a, double k = 0.0, double k2 = 0.0);
Array int_binary(Op op, const Array& a, const Array& b);
// argmax (max) or argmin along dim, or over every element (all_dims): int64
// positions, the first one among ties (a NaN wins). ValueError when empty.
Array arg_reduce(bool max, const Array& a, std::int64_t dim, bool all_dims, bool keepdim);

// ---- reductions and the softmax family (kernels_reduce.cpp) -----------------------
enum class ReduceKind { Sum, Max, Min };
Array reduce(ReduceKind k, const Array& a, const std::vector<std::int64_t>& dims, bool keepdim);
// Ties of max/min share the gradient: [a == m] / count, m broadcastable to a.
Array tie_share(const Array& a, const Array& m, const std::vector<std::int64_t>& dims);
Array softmax(const Array& a, std::int64_t dim);
Array log_softmax(const Array& a, std::int64_t dim);
// The fused backward of softmax (log: log_softmax) along dim, y its output:
// bitwise the composed rule's result; false (out untouched) unless dim is the
// last and g has y's shape and dtype.
bool softmax_backward(const Array& g, const Array& y, std::int64_t dim, bool log, Array& out);
// Mean over rows of -log softmax(logits)[label]; also returns the softmax.
Array cross_entropy(const Array& logits, const std::vector<std::int64_t>& labels, Array& probs);

// ---- var, std, logsumexp (kernels_stats.cpp) ----------------------------------------
// Each reduces over `dims` (normalized) and returns the keepdim-shaped result.
// moments: the variance with the given correction, divided by max(0, n -
// correction), or its square root (std_dev); `mean` receives each row's mean
// (float64, keepdim-shaped), which the backward reads.
Array moments(const Array& a, const std::vector<std::int64_t>& dims, double correction, bool std_dev, Array& mean);
// d/da of var or std for the upstream g and result out (both keepdim-shaped).
Array moments_grad(const Array& g, const Array& a, const Array& mean, const Array& out,
                   const std::vector<std::int64_t>& dims, double correction, bool std_dev);
// log sum e^a, shifted by the max (not by an infinite one: PyTorch's rule)
Array logsumexp(const Array& a, const std::vector<std::int64_t>& dims);
Array logsumexp_grad(const Array& g, const Array& a, const Array& out, const std::vector<std::int64_t>& dims);

// ---- matmul (matmul.cpp) -------------------------------------------------------------
Shape matmul_shape(const Shape& a, const Shape& b);  // ValueError naming both shapes
Array matmul(const Array& a, const Array& b);
// x (rows, in) w^T + bias, w (out, in), bias (out,) or null, all of one float dtype: one GEMM
// into the bias (Note [linear as one GEMM])
Array linear(const Array& x, const Array& w, const Array* bias);
int blas_threads();           // threads matmul may use (Note [BLAS threads] in matmul.cpp)
void set_blas_threads(int n);  // n >= 1

}  // namespace tapegrad
