// One translator maps the core's exception types to Python's (Note [Errors]).
#include <pybind11/pybind11.h>

#include <new>

#include "bindings.h"
#include "errors.h"

namespace py = pybind11;

namespace tapegrad::bindings {

void register_exceptions(py::module_& /*m*/) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tapegrad::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const tapegrad::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const tapegrad::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const tapegrad::RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const tapegrad::MemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "tapegrad: out of memory");
    }
  });
}

}  // namespace tapegrad::bindings
