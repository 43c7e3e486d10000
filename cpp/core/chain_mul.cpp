// Which path chain_mul takes for subnormal products (Note [Subnormal products]
// in chain_mul.h): the integer one where the CPU is Intel's, whose hardware
// takes a microcode assist on them; the hardware's product everywhere else.
#include "chain_mul.h"

#include <atomic>

namespace tapegrad::rules {

namespace {

bool intel_cpu() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_is("intel");
#elif defined(_M_X64) || defined(_M_IX86)
  return true;  // not asked: the integer path, which is never slow
#else
  return false;
#endif
}

// Relaxed: a sweep reads it, a test sets it between sweeps; both paths give the same bits.
std::atomic<bool>& soft() noexcept {
  static std::atomic<bool> flag{intel_cpu()};
  return flag;
}

}  // namespace

bool soft_subnormal_products() noexcept { return soft().load(std::memory_order_relaxed); }
void set_soft_subnormal_products(bool on) noexcept { soft().store(on, std::memory_order_relaxed); }

}  // namespace tapegrad::rules
