// Kernels of the neural-network layers on Arrays (no autograd here): the
// normalizations (layer_norm, batch_norm), convolution's im2col and col2im,
// and pooling. ops_nn.cpp and ops_conv.cpp record them as nodes.
//
// Note [Normalization numerics]
// Both normalizations compute, for each group of n values x (a row of
// layer_norm, a channel of batch_norm), in this order:
//   mean = (sum of x) / n and var = (sum of (x - mean)^2) / n, accumulated in
//   double (8 lanes, element j into lane j % 8 of its run, the lanes added
//   pairwise at the end), both in double;
//   m = mean and s = 1 / sqrt(var + eps) rounded once to the dtype;
//   y = ((x - m) * s) * w + b in the dtype (w, b where given).
// Backward, with xhat = (x - m) * s and dxhat = g * w (or g) in the dtype:
//   a = (sum of dxhat) / n and c = (sum of dxhat * xhat) / n in double,
//   rounded once; dx = s * ((dxhat - a) - xhat * c);
//   dw = sum of g * xhat and db = sum of g over the other dims, in double.
// In evaluation mode batch_norm's m and s come from the running statistics
// and dx = s * dxhat. The reference computes the same formulas with NumPy
// (tensor_ops_layers.py), whose sums run in another order: a few ulps apart.
#pragma once

#include <cstdint>
#include <vector>

#include "array.h"

namespace tapegrad {

// ---- layer_norm: x viewed as (rows, cols), each row normalized -------------------
// mean and rstd: (rows,) in x's dtype. w, b: (cols,) or null.
Array layer_norm_forward(const Array& x, const Array* w, const Array* b, std::int64_t rows, std::int64_t cols,
                         double eps, Array& mean, Array& rstd);
// The gradients asked for (null pointers are skipped): dx like x, dw and db (cols,).
void layer_norm_backward(const Array& g, const Array& x, const Array* w, const Array& mean, const Array& rstd,
                         std::int64_t rows, std::int64_t cols, Array* dx, Array* dw, Array* db);

// ---- batch_norm: x viewed as (N, C, L), each channel normalized ------------------
// The batch statistics per channel in double: mean and the sum of squared deviations.
void channel_moments(const Array& x, std::vector<double>& mean, std::vector<double>& sq_dev);
// y with per-channel m and s (C,) in x's dtype; w, b (C,) or null.
Array batch_norm_forward(const Array& x, const Array* w, const Array* b, const Array& mean, const Array& rstd);
// training: the batch statistics' own gradient included, else dx = s * dxhat.
void batch_norm_backward(const Array& g, const Array& x, const Array* w, const Array& mean, const Array& rstd,
                         bool training, Array* dx, Array* dw, Array* db);

// ---- conv2d and pooling geometry (NCHW) ---------------------------------------------
struct ConvGeom {
  std::int64_t N = 0, C = 0, H = 0, W = 0;  // input
  std::int64_t KH = 0, KW = 0, SH = 1, SW = 1, PH = 0, PW = 0;
  std::int64_t OH = 0, OW = 0;  // output
  std::int64_t rows() const { return C * KH * KW; }  // of the column matrix: (c, i, j)
  std::int64_t cols() const { return N * OH * OW; }  // of the column matrix: (n, oh, ow)
};
// OH and OW from the rest; false if the kernel does not fit the padded input.
bool conv_output_size(ConvGeom& g);

// col (C*KH*KW, N*OH*OW): col[(c, i, j), (n, oh, ow)] = x[n, c, oh*SH + i - PH, ow*SW + j - PW], 0 in the padding.
Array im2col(const Array& x, const ConvGeom& g);
// The adjoint: each column entry added back to the input position it came from.
Array col2im(const Array& col, const ConvGeom& g, DType dtype);
// The flat position in x (contiguous) of each column entry; x.numel() for the padding.
std::vector<std::int64_t> im2col_positions(const ConvGeom& g);

// max_pool2d (no padding): the values and, for each, its flat position in x
// (the first maximum of its window in row-major order; a NaN wins, the last one).
Array max_pool(const Array& x, const ConvGeom& g, std::vector<std::int64_t>& where);
// avg_pool2d (no padding): the window sums times 1 / (KH*KW); the backward
// adds g * (1 / (KH*KW)) into each window.
Array avg_pool(const Array& x, const ConvGeom& g);
Array avg_pool_backward(const Array& g, const ConvGeom& geom, DType dtype);
// Each window's flat positions in x: shape (N, C, OH, OW, KH*KW) row-major.
std::vector<std::int64_t> window_positions(const ConvGeom& g);

}  // namespace tapegrad
