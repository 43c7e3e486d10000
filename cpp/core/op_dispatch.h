// From an Op known only at run time to its rule struct (rules.h) at compile
// time: `with_unary_rule(op, f)` calls f(rules::Name{}) for the unary
// elementwise op Name, and likewise for binary and comparison ops. The cases
// come from the op table, so a new row is dispatched without another list.
// The Value engine uses with_value_unary_rule and with_value_binary_rule,
// which leave out the Tensor-only rows.
#pragma once

#include <stdexcept>

#include "op_table.h"
#include "rules.h"
#include "rules_tensor.h"

// One case per row of the given kind, none for the others.
#define TG_NO_CASE(Name)
#define TG_RULE_CASE(Name) \
  case Op::Name:           \
    return f(rules::Name{});

#define TG_UNARY_Leaf TG_NO_CASE
#define TG_UNARY_Unary TG_RULE_CASE
#define TG_UNARY_Binary TG_NO_CASE
#define TG_UNARY_Compare TG_NO_CASE
#define TG_BINARY_Leaf TG_NO_CASE
#define TG_BINARY_Unary TG_NO_CASE
#define TG_BINARY_Binary TG_RULE_CASE
#define TG_BINARY_Compare TG_NO_CASE
#define TG_COMPARE_Leaf TG_NO_CASE
#define TG_COMPARE_Unary TG_NO_CASE
#define TG_COMPARE_Binary TG_NO_CASE
#define TG_COMPARE_Compare TG_RULE_CASE
#define TG_UNARY_Function TG_NO_CASE
#define TG_BINARY_Function TG_NO_CASE
#define TG_COMPARE_Function TG_NO_CASE
#define TG_UNARY_MatMul TG_NO_CASE
#define TG_UNARY_Reduce TG_NO_CASE
#define TG_UNARY_Movement TG_NO_CASE
#define TG_UNARY_Index TG_NO_CASE
#define TG_UNARY_Join TG_NO_CASE
#define TG_UNARY_Softmax TG_NO_CASE
#define TG_UNARY_Loss TG_NO_CASE
#define TG_UNARY_NN TG_NO_CASE
#define TG_UNARY_Arg TG_NO_CASE
#define TG_BINARY_MatMul TG_NO_CASE
#define TG_BINARY_Reduce TG_NO_CASE
#define TG_BINARY_Movement TG_NO_CASE
#define TG_BINARY_Index TG_NO_CASE
#define TG_BINARY_Join TG_NO_CASE
#define TG_BINARY_Softmax TG_NO_CASE
#define TG_BINARY_Loss TG_NO_CASE
#define TG_BINARY_NN TG_NO_CASE
#define TG_BINARY_Arg TG_NO_CASE
#define TG_COMPARE_MatMul TG_NO_CASE
#define TG_COMPARE_Reduce TG_NO_CASE
#define TG_COMPARE_Movement TG_NO_CASE
#define TG_COMPARE_Index TG_NO_CASE
#define TG_COMPARE_Join TG_NO_CASE
#define TG_COMPARE_Softmax TG_NO_CASE
#define TG_COMPARE_Loss TG_NO_CASE
#define TG_COMPARE_NN TG_NO_CASE
#define TG_COMPARE_Arg TG_NO_CASE
#define TG_UNARY_Moments TG_NO_CASE
#define TG_BINARY_Moments TG_NO_CASE
#define TG_COMPARE_Moments TG_NO_CASE

// Value's dispatch sees only the rows Value has (surfaces V, VT): the Value
// engine never instantiates a Tensor-only rule, nor pays for its case.
#define TG_ON_VALUE_V(cases) cases
#define TG_ON_VALUE_VT(cases) cases
#define TG_ON_VALUE_T(cases)

// The dispatch sits on hot paths (a Value sweep takes it once per node):
// always inlined, so that the switch and the rule fold into the caller.
#if defined(__GNUC__) || defined(__clang__)
#define TG_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define TG_ALWAYS_INLINE inline
#endif

namespace tapegrad {

template <class F>
TG_ALWAYS_INLINE decltype(auto) with_unary_rule(Op op, F&& f) {
  switch (op) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_UNARY_##kind(Name)
    TG_OPS(TG_X)
#undef TG_X
    default: break;
  }
  throw std::logic_error("with_unary_rule: not a unary elementwise op");
}

template <class F>
TG_ALWAYS_INLINE decltype(auto) with_binary_rule(Op op, F&& f) {
  switch (op) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_BINARY_##kind(Name)
    TG_OPS(TG_X)
#undef TG_X
    default: break;
  }
  throw std::logic_error("with_binary_rule: not a binary elementwise op");
}

template <class F>
TG_ALWAYS_INLINE decltype(auto) with_compare_rule(Op op, F&& f) {
  switch (op) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_COMPARE_##kind(Name)
    TG_OPS(TG_X)
#undef TG_X
    default: break;
  }
  throw std::logic_error("with_compare_rule: not a comparison");
}

// The same, for the ops Value has: the Value engine's dispatch.
template <class F>
TG_ALWAYS_INLINE decltype(auto) with_value_unary_rule(Op op, F&& f) {
  switch (op) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_ON_VALUE_##surf(TG_UNARY_##kind(Name))
    TG_OPS(TG_X)
#undef TG_X
    default: break;
  }
  throw std::logic_error("with_value_unary_rule: not a unary elementwise op of Value");
}

template <class F>
TG_ALWAYS_INLINE decltype(auto) with_value_binary_rule(Op op, F&& f) {
  switch (op) {
#define TG_X(Name, str, arity, kind, saves, surf, py, doc) TG_ON_VALUE_##surf(TG_BINARY_##kind(Name))
    TG_OPS(TG_X)
#undef TG_X
    default: break;
  }
  throw std::logic_error("with_value_binary_rule: not a binary elementwise op of Value");
}

}  // namespace tapegrad
