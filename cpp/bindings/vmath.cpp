// Test and benchmark hooks of the vector math kernels (Note [Vector math] in
// cpp/core/vmath.h): private functions of _core, used by tests/test_vmath.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cfloat>
#include <string>

#include "bindings.h"
#include "errors.h"
#include "signature.h"
#include "vmath.h"
#include "vmath_check.h"

namespace tapegrad::bindings {

namespace {

vmath::Fn fn_arg(const py::object& name) {
  vmath::Fn f;
  std::string s = py::str(name);
  if (!vmath::fn_from_name(s.c_str(), f)) throw ValueError("unknown vmath function '" + s + "'");
  return f;
}

py::dict report(const vmath::UlpReport& r) {
  py::dict d;
  d["max_ulp"] = r.max_ulp;
  d["worst_x"] = r.worst_x;
  d["worst_got"] = r.worst_got;
  d["worst_want"] = r.worst_want;
  d["count"] = r.count;
  d["wrong_class"] = r.wrong_class;
  d["wrong_class_x"] = r.wrong_class_x;
  d["shortcut_wrong"] = r.shortcut_wrong;
  d["shortcut_wrong_x"] = r.shortcut_wrong_x;
  return d;
}

// f over a 1-d float32 or float64 array (a new array of its dtype).
template <class T>
py::array_t<T> apply_to(vmath::Fn f, const py::object& x) {
  auto in = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(x);
  if (!in || in.ndim() != 1) throw ValueError("_vmath needs a 1-d array");
  py::array_t<T> out(in.shape(0));
  const T* src = in.data();
  T* dst = out.mutable_data();
  auto n = static_cast<std::size_t>(in.shape(0));
  {
    py::gil_scoped_release release;
    vmath::apply(f, src, dst, n);
  }
  return out;
}

}  // namespace

void bind_vmath(py::module_& m) {
  def_function(m, "_vmath", "fn, x", "fn ('exp', 'log', 'tanh', 'sigmoid', 'erf') of a 1-d float32 or float64 array.",
               [](const Args& a) -> py::object {
    vmath::Fn f = fn_arg(a[0]);
    py::dtype dt = py::array::ensure(a[1]).dtype();
    if (dt.is(py::dtype::of<float>())) return apply_to<float>(f, a[1]);
    if (dt.is(py::dtype::of<double>())) return apply_to<double>(f, a[1]);
    throw ValueError("_vmath needs a float32 or float64 array");
  });
  def_function(m, "_vmath_isa", "", "The instruction set the vector math kernels run with.",
               [](const Args&) { return std::string(vmath::isa()); });
  def_function(m, "_vmath_isas", "", "The instruction sets of the vector math kernels this CPU runs, widest first.",
               [](const Args&) {
    py::list names;
    for (const char* const* p = vmath::isa_available(); *p; ++p) names.append(*p);
    return names;
  });
  def_function(m, "_vmath_set_isa", "name", "Run the vector math kernels with one of _vmath_isas(); False for any other.",
               [](const Args& a) { return vmath::set_isa(std::string(py::str(a[0])).c_str()); });
  def_function(m, "_vmath_check_f32", "fn, lo, hi, odd_half=False, stride=1, threads=2, against=None",
               "Every stride-th float32 in [lo, hi] through fn, against the C library's float64 rounded (of `against`, default fn): a report.",
               [](const Args& a) {
    vmath::Fn f = fn_arg(a[0]);
    float lo = a[1].cast<float>(), hi = a[2].cast<float>();
    bool odd = a[3].cast<bool>();
    auto stride = a[4].cast<std::int64_t>();
    int threads = a[5].cast<int>();
    vmath::Fn ref = a[6].is_none() ? f : fn_arg(a[6]);
    vmath::UlpReport r;
    {
      py::gil_scoped_release release;
      r = vmath::check_f32(f, ref, lo, hi, odd, stride, threads);
    }
    return report(r);
  });
  def_function(m, "_vmath_check_f64", "fn, lo, hi, n, seed=0, threads=2, against=None",
               "n float64 inputs drawn in [lo, hi] through fn, against the C library in long double (of `against`, default fn): a report.",
               [](const Args& a) {
    vmath::Fn f = fn_arg(a[0]);
    double lo = a[1].cast<double>(), hi = a[2].cast<double>();
    auto n = a[3].cast<std::uint64_t>(), seed = a[4].cast<std::uint64_t>();
    int threads = a[5].cast<int>();
    vmath::Fn ref = a[6].is_none() ? f : fn_arg(a[6]);
    vmath::UlpReport r;
    {
      py::gil_scoped_release release;
      r = vmath::check_f64(f, ref, lo, hi, n, seed, threads);
    }
    py::dict d = report(r);
    d["reference_bits"] = LDBL_MANT_DIG;
    return d;
  });
}

}  // namespace tapegrad::bindings
