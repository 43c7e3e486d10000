// Whether operations record a graph: off inside `with tg.no_grad():`.
// Thread-local, like PyTorch's grad mode, so that one thread's no_grad()
// never changes what another thread records.
#pragma once

namespace tapegrad {

inline bool& grad_enabled_flag() {
  thread_local bool enabled = true;
  return enabled;
}

inline bool is_grad_enabled() { return grad_enabled_flag(); }
inline void set_grad_enabled(bool on) { grad_enabled_flag() = on; }

// Grad mode off for a scope when `off` (else nothing changes), restored on exit.
struct NoGradScope {
  bool off, previous = true;
  explicit NoGradScope(bool off_) : off(off_) {
    if (!off) return;
    previous = is_grad_enabled();
    set_grad_enabled(false);
  }
  ~NoGradScope() {
    if (off) set_grad_enabled(previous);
  }
  NoGradScope(const NoGradScope&) = delete;
  NoGradScope& operator=(const NoGradScope&) = delete;
};

// Anomaly detection (tg.autograd.detect_anomaly): backward passes check every
// gradient a rule hands on and raise naming the op whose backward produced
// the first NaN. Thread-local too.
inline bool& anomaly_flag() {
  thread_local bool enabled = false;
  return enabled;
}

inline bool is_anomaly_enabled() { return anomaly_flag(); }
inline void set_anomaly_enabled(bool on) { anomaly_flag() = on; }

}  // namespace tapegrad
