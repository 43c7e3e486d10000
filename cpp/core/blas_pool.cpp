// Note [One BLAS pool]
// A process that uses NumPy and tapegrad has two OpenBLAS libraries: NumPy's
// (64-bit ints, prefixed symbols, no exported API) and ours. Each keeps its
// own threads, and after a call those threads spin for about 0.1 s (2^28
// cycles, OPENBLAS_THREAD_TIMEOUT) waiting for more work. On two cores a
// tapegrad matmul right after a NumPy one (or the reverse) then shares the
// cores with the other library's spinners and takes several times longer.
//
// OpenBLAS >= 0.3.27 lets the caller run its parallel jobs instead
// (openblas_set_threads_callback_function). tapegrad gives both libraries the
// same callback, tapegrad_blas_threads, which runs the jobs on this pool: the
// caller takes job 0 and one worker per other job. So the process has one set
// of BLAS threads, and they spin only briefly (kSpin, tens of microseconds)
// before sleeping on a condition variable. NumPy's library is handed over from
// Python (tapegrad/_blas.py), when it is found and new enough.
//
// The jobs of one threaded GEMM wait for each other, so they must all run at
// once: a request takes the pool whole (run_mutex), and a second request waits
// for the first. The pool is never destroyed (a BLAS call may come from an
// atexit handler after our statics are gone); after fork() the child gets a
// fresh pool, since the parent's workers do not exist there.
#include "blas_pool.h"

#include "kernels.h"
#include "parallel.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_PAUSE() _mm_pause()
#else
#define TG_PAUSE() std::this_thread::yield()
#endif

#ifdef TAPEGRAD_BLAS
extern "C" {
// Weak: an OpenBLAS older than 0.3.27 lacks it, and then keeps its own threads.
__attribute__((weak)) void scipy_openblas_set_threads_callback_function(
    void (*)(int, tapegrad::BlasJob, int, std::size_t, void*, int));
}
#endif

namespace tapegrad {

namespace {

constexpr int kSpin = 1 << 14;  // pause loops before sleeping: ~20-100 us

// True on the pool's workers, and on a caller while its request runs: a
// kernel called from a job stays on its thread (the pool takes one request
// at a time, so a nested one would wait for itself).
thread_local bool in_pool = false;

class Pool {
 public:
  void run(BlasJob job, int numjobs, std::size_t elsize, void* data, int arg) {
    std::lock_guard<std::mutex> whole(run_mutex_);
    if (!enough_workers(numjobs - 1)) {
      // No thread to be had: OpenBLAS's jobs then run one after another, which
      // is what it does itself when it cannot start threads.
      for (int i = 0; i < numjobs; ++i) job(i, static_cast<char*>(data) + i * elsize, arg);
      return;
    }
    job_ = job;
    numjobs_ = numjobs;
    elsize_ = elsize;
    data_ = static_cast<char*>(data);
    arg_ = arg;
    remaining_.store(count_.load());  // every worker answers, so none lags into the next request
    generation_.fetch_add(1);  // seq_cst: publishes the fields above
    if (sleeping_workers_.load() > 0) {
      std::lock_guard<std::mutex> lock(m_);
      work_.notify_all();
    }
    job(0, data, arg);
    wait_done();
  }

  int workers() const { return count_.load(); }

  // work(ctx) on this thread, and on each worker that comes for it before this
  // thread's own call returns; then waits for those. work must take its share
  // itself (parallel.h claims ranges from a counter), so that a worker kept
  // off the cores by a busy machine is never waited for: its share is done by
  // whoever comes. Sleeping workers are woken only when `wake`: waking one
  // costs the caller a system call and the worker tens of microseconds, more
  // than a small kernel takes (a spinning worker joins at once).
  void run_shared(void (*work)(void*), void* ctx, int helpers, bool wake) {
    std::lock_guard<std::mutex> whole(run_mutex_);
    enough_workers(helpers);
    shared_work_.store(work, std::memory_order_relaxed);
    shared_ctx_.store(ctx, std::memory_order_relaxed);
    shared_done_.store(0, std::memory_order_relaxed);
    shared_.store(((shared_.load() >> 32) + 1) << 32);  // open, nobody joined; publishes the fields
    if (wake && sleeping_workers_.load() > 0) {
      std::lock_guard<std::mutex> lock(m_);
      work_.notify_all();
    }
    work(ctx);
    const std::uint64_t joined = shared_.fetch_or(kClosed) & kJoined;
    for (int i = 0; shared_done_.load() != joined; ++i) {
      if (i < kSpin) TG_PAUSE();
      else std::this_thread::yield();
    }
  }

  std::mutex run_mutex_;

 private:
  bool enough_workers(int needed) {
    while (count_.load() < needed) {
      try {
        // it starts from the current generation: the request about to be made is new to it
        std::thread([this, k = count_.load() + 1, g = generation_.load(), gs = shared_.load() >> 32] {
          serve(k, g, gs);
        }).detach();
      } catch (...) {
        return false;
      }
      count_.fetch_add(1);
    }
    return true;
  }

  [[noreturn]] void serve(int k, std::uint64_t seen, std::uint64_t seen_shared) {
    in_pool = true;
    for (;;) {
      wait_work(seen, seen_shared);
      const std::uint64_t g = generation_.load();
      if (g != seen) {  // a BLAS request: every worker answers it exactly once
        seen = g;
        if (k < numjobs_) job_(k, data_ + static_cast<std::size_t>(k) * elsize_, arg_);
        if (remaining_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
          std::lock_guard<std::mutex> lock(m_);
          done_.notify_all();
        }
        continue;
      }
      const std::uint64_t s = shared_.load();
      seen_shared = s >> 32;
      join_shared(s);
    }
  }

  // Until a request is newer than the ones seen: spinning briefly, then asleep.
  void wait_work(std::uint64_t seen, std::uint64_t seen_shared) {
    auto news = [&] { return generation_.load() != seen || shared_.load() >> 32 != seen_shared; };
    for (int i = 0; i < kSpin; ++i) {
      if (news()) return;
      TG_PAUSE();
    }
    std::unique_lock<std::mutex> lock(m_);
    sleeping_workers_.fetch_add(1);
    while (!news()) work_.wait(lock);
    sleeping_workers_.fetch_sub(1);
  }

  // A shared request (run_shared) in state s: join it if it is still open.
  void join_shared(std::uint64_t s) {
    const std::uint64_t g = s >> 32;
    while (!(s & kClosed) && s >> 32 == g) {
      if (shared_.compare_exchange_weak(s, s + 1)) {  // joined: the caller now waits for us
        shared_work_.load(std::memory_order_relaxed)(shared_ctx_.load(std::memory_order_relaxed));
        shared_done_.fetch_add(1);
        return;
      }
    }
  }

  void wait_done() {
    for (int i = 0; i < kSpin; ++i) {
      if (remaining_.load() == 0) return;
      TG_PAUSE();
    }
    std::unique_lock<std::mutex> lock(m_);
    caller_sleeping_.store(true);
    while (remaining_.load() != 0) done_.wait(lock);
    caller_sleeping_.store(false);
  }

  std::mutex m_;
  std::condition_variable work_, done_;
  std::atomic<int> count_{0};  // workers started (only under run_mutex_)
  // The current request; written before generation_ moves, read after.
  BlasJob job_ = nullptr;
  int numjobs_ = 0;
  std::size_t elsize_ = 0;
  char* data_ = nullptr;
  int arg_ = 0;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> remaining_{0};
  // The current shared request: its generation (high 32 bits), closed flag,
  // and how many workers joined it (low bits); its function and argument.
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 31, kJoined = kClosed - 1;
  std::atomic<std::uint64_t> shared_{0};
  std::atomic<void (*)(void*)> shared_work_{nullptr};
  std::atomic<void*> shared_ctx_{nullptr};
  std::atomic<std::uint64_t> shared_done_{0};
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
};

Pool* the_pool = nullptr;
std::once_flag pool_once;

void before_fork() { the_pool->run_mutex_.lock(); }
void after_fork_parent() { the_pool->run_mutex_.unlock(); }
// The child has no workers: it starts over with a fresh pool (the old one,
// its mutex held by the forking thread, is left as it is).
void after_fork_child() { the_pool = new Pool(); }

Pool& pool() {
  std::call_once(pool_once, [] {
    the_pool = new Pool();  // never deleted: Note [One BLAS pool]
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  });
  return *the_pool;
}

}  // namespace

extern "C" void tapegrad_blas_threads(int, BlasJob dojob, int numjobs, std::size_t elsize, void* jobdata, int data) {
  if (numjobs <= 0) return;
  if (in_pool) {
    // A product threaded from inside a pool job (never expected: tapegrad's
    // own OpenBLAS runs one thread, Note [Matmul parts] in matmul.cpp). The
    // pool is taken, and the jobs must run at once: they get threads of their own.
    std::vector<std::thread> extra;
    for (int i = 1; i < numjobs; ++i) {
      auto one = [=] { dojob(i, static_cast<char*>(jobdata) + i * elsize, data); };
      try {
        extra.emplace_back(one);
      } catch (...) {  // no thread to be had: as OpenBLAS itself does then
        one();
      }
    }
    dojob(0, jobdata, data);
    for (auto& t : extra) t.join();
    return;
  }
  pool().run(dojob, numjobs, elsize, jobdata, data);
}

bool blas_linked() {
#ifdef TAPEGRAD_BLAS
  return true;
#else
  return false;
#endif
}

bool share_own_blas() {
#ifdef TAPEGRAD_BLAS
  if (scipy_openblas_set_threads_callback_function == nullptr) return false;
  pool();
  scipy_openblas_set_threads_callback_function(tapegrad_blas_threads);
  return true;
#else
  return false;
#endif
}

int blas_pool_workers() { return pool().workers(); }

// ---- parallel.h ----------------------------------------------------------------

namespace {
std::atomic<std::int64_t> runs{0};
}  // namespace

std::int64_t parallel_runs() { return runs.load(std::memory_order_relaxed); }

namespace parallel_detail {

int jobs_for(std::int64_t n, std::int64_t grain) {
  if (n < 2 * grain || in_pool) return 1;
  const int threads = blas_threads();
  if (threads <= 1) return 1;
  return static_cast<int>(std::min<std::int64_t>({threads, n / grain, 8}));
}

void run(int jobs, void (*work)(void*), void* ctx, bool wake) {
  struct InPool {
    InPool() { in_pool = true; }
    ~InPool() { in_pool = false; }
  } scope;
  runs.fetch_add(1, std::memory_order_relaxed);
  pool().run_shared(work, ctx, jobs - 1, wake);
}

}  // namespace parallel_detail

}  // namespace tapegrad
