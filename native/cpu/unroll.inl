// unroll<R>(f): f(std::integral_constant<int, 0>{}) .. f(std::integral_constant<int, R - 1>{}), in
// order, for per-row loops over small arrays (accumulators, scales): with the row index a
// constant before GCC's scalar replacement runs, the arrays live in registers. A plain loop, even
// fully unrolled later, left them on the stack with a store after every update (the 2:4 int4 x8
// GEMV, docs/kernels.md, fifteenth session). Pass lambdas marked SK_UNROLLED. Include inside the
// kernel's SK_TARGET_BEGIN_* region and namespace, so the lambdas and this share its target.
#define SK_UNROLLED __attribute__((always_inline))

template <class F, int... I>
SK_UNROLLED inline void unroll_seq(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int R, class F>
SK_UNROLLED inline void unroll(F&& f) {
  unroll_seq(f, std::make_integer_sequence<int, R>{});
}
