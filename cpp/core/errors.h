// Exception types thrown by the core. The bindings translate each one to the
// Python exception of the same meaning (Note [Errors] in docs/DESIGN.md).
#pragma once

#include <stdexcept>
#include <string>

namespace tapegrad {

struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };    // -> TypeError
struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };   // -> ValueError
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };   // -> IndexError
struct RuntimeError : std::runtime_error { using std::runtime_error::runtime_error; }; // -> RuntimeError
struct MemoryError : std::runtime_error { using std::runtime_error::runtime_error; };  // -> MemoryError
// std::bad_alloc (an allocation the system refused) maps to MemoryError too.

}  // namespace tapegrad
