// Numerical kernels on Arrays: elementwise with broadcasting, reductions,
// matmul, softmax family, joining and selecting. No autograd here.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor.h"

namespace tapegrad {

enum class UnaryKind { Neg, Abs, Relu, Tanh, Sigmoid, Exp, Log, Sqrt, Sin, Cos, Sign, Positive, Square };
// TanhGrad, SigmoidGrad, ReluGrad: g (op) y with y the op's output, fused
// so that these backward rules run one loop instead of three.
// PowGradBase(a, b) = d(a^b)/da and PowGradExp(a, b) = d(a^b)/db, 0 where the
// textbook formula would make 0 * inf (b = 0; a = 0 <= b), as Value and PyTorch.
enum class BinaryKind { Add, Sub, Mul, Div, Pow, Lt, Le, Gt, Ge, Eq, Ne, TanhGrad, SigmoidGrad, ReluGrad, PowGradBase, PowGradExp };
enum class ReduceKind { Sum, Max, Min };

Array unary(UnaryKind k, const Array& a);
// Broadcasting; the result has the promoted dtype.
Array binary(BinaryKind k, const Array& a, const Array& b);
Array binary_scalar(BinaryKind k, const Array& a, double s);   // a (op) s, s in a's dtype
Array rbinary_scalar(BinaryKind k, double s, const Array& a);  // s (op) a
// dst += src (src broadcast to dst's shape), in place through dst's strides.
void add_into(const Array& dst, const Array& src);
// dst (contiguous) [flat[i]] += src[i], repeated positions add up.
void scatter_add(const Array& dst, const std::vector<std::int64_t>& flat, const Array& src);

Array reduce(ReduceKind k, const Array& a, const std::vector<std::int64_t>& dims, bool keepdim);
// Ties of max/min share the gradient: [a == m] / count, m broadcastable to a.
Array tie_share(const Array& a, const Array& m, const std::vector<std::int64_t>& dims);

Shape matmul_shape(const Shape& a, const Shape& b);  // ValueError naming both shapes
Array matmul(const Array& a, const Array& b);
int blas_threads();           // threads matmul may use (Note [BLAS threads] in matmul.cpp)
void set_blas_threads(int n);  // n >= 1

Array softmax(const Array& a, std::int64_t dim);
Array log_softmax(const Array& a, std::int64_t dim);
// Mean over rows of -log softmax(logits)[label]; also returns the softmax.
Array cross_entropy(const Array& logits, const std::vector<std::int64_t>& labels, Array& probs);

Array where(const Array& cond, const Array& a, const Array& b);
Array concatenate(const std::vector<Array>& parts, std::int64_t dim);

}  // namespace tapegrad
