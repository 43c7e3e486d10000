// Tensor memory: the dtypes, the sizes checked before anything is allocated,
// and the allocation itself (storage.cpp, Note [Buffer cache]). The core
// never knows where memory came from: a buffer is a shared_ptr whose deleter
// knows (ours, NumPy's, a DLPack producer's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "errors.h"
#include "small_vec.h"

namespace tapegrad {

// Note [Dtypes]: float32 (the default), float64, and int64 for indices and
// labels (never requiring grad).
enum class DType : std::uint8_t { F32, F64, I64 };
inline std::size_t itemsize(DType d) { return d == DType::F32 ? 4 : 8; }
inline bool is_float(DType d) { return d != DType::I64; }
// PyTorch's promotion: int64 with a float gives that float; float32 with float64 gives float64.
inline DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::I64) return b;
  if (b == DType::I64) return a;
  return DType::F64;
}
// The dtype an op that computes in floating point (/, exp, mean, matmul, ...)
// gives for an operand of dtype d: int64 computes in float32.
inline DType float_type(DType d) { return d == DType::I64 ? DType::F32 : d; }
const char* dtype_name(DType d);

using Shape = SmallVec;  // shapes and strides rarely exceed 6 dims: no heap allocation

std::string shape_str(const Shape& s);  // Python tuple spelling: (2, 3), (4,), ()
Shape contiguous_strides(const Shape& s);
// Number of elements; ValueError for negative sizes, MemoryError if the byte
// count overflows or cannot be held in memory (checked before allocating).
std::int64_t checked_numel(const Shape& s, DType d);
// The MemoryError for a tensor of shape s that memory cannot hold.
MemoryError too_big(const Shape& s, DType d);
// ValueError for negative sizes, or when a partial product of the nonzero dims
// times the itemsize overflows int64 (strides would), even with zero elements.
void check_shape(const Shape& s, DType d);

// Memory for `numel` elements (at least one), zeroed if asked.
std::shared_ptr<void> allocate(std::int64_t numel, DType dtype, bool zero);

// The cache of freed large buffers (storage.cpp, Note [Buffer cache]).
struct CacheInfo {
  std::size_t held;    // bytes it holds
  std::size_t limit;   // bytes it may hold
  std::size_t blocks;  // buffers it holds
};
CacheInfo cache_info();
void set_cache_limit(std::size_t bytes);  // frees what is over the new limit
std::size_t empty_cache();                // frees every buffer it holds; the bytes freed

}  // namespace tapegrad
