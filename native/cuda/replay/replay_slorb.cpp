// See replay_slorb.h. The loops follow slorb.cu's kernels: one thread per (token, group) for the
// group sums; for the row dots, blocks of kSlorbWarps warps striding over the rows, 32 lanes per
// row, a xor butterfly, lane 0 adding into the partial.
#include "replay_slorb.h"

#include <cmath>
#include <string>
#include <vector>

#include "../kernels/slorb_index.h"

namespace sk::cuda {

namespace {

// __shfl_xor_sync(full, v, o) gives lane l the value of lane l ^ o, for all lanes at once.
void butterfly_model(float* v) {
  for (int step = 0; step < kSlorbButterflySteps; ++step) {
    const int o = slorb_butterfly_offset(step);
    float next[32];
    for (int l = 0; l < 32; ++l) next[l] = v[l] + v[l ^ o];
    for (int l = 0; l < 32; ++l) v[l] = next[l];
  }
}

// slorb.cu's add_kernel: part[t][r] += rowScale[r] · Σ_i s[r][i]·g[t][i], s [rows][G], g [N][G].
Status replay_row_dots(const void* s, DType s_dtype, const void* rs, DType rs_dtype, const void* g, DType g_dtype, int64_t rows,
                       int64_t G, int64_t N, float* part, int64_t max_blocks) {
  std::vector<int> visits(size_t(rows), 0);
  const auto ls = [&](int64_t e) { return load_as_f32(s, s_dtype, size_t(e)); };
  const auto lg = [&](int64_t e) { return load_as_f32(g, g_dtype, size_t(e)); };
  const int64_t grid = slorb_add_grid(rows, max_blocks);
  for (int64_t b0 = 0; b0 < grid; ++b0)
    for (int64_t block = b0; block * kSlorbWarps < rows; block += grid)
      for (int warp = 0; warp < kSlorbWarps; ++warp) {
        const int64_t r = slorb_add_row(block, warp);
        if (r >= rows) continue;
        ++visits[size_t(r)];
        const float scale = rs ? load_as_f32(rs, rs_dtype, size_t(r)) : 1.f;
        for (int64_t t = 0; t < N; ++t) {
          float lanes[32];
          for (int lane = 0; lane < 32; ++lane) lanes[lane] = slorb_lane_partial(ls, lg, r, t, G, lane);
          butterfly_model(lanes);
          part[size_t(slorb_part_index(t, r, rows))] += scale * lanes[0];
        }
      }
  for (int64_t r = 0; r < rows; ++r)
    if (visits[size_t(r)] != 1)
      return Status::Error(ErrorCode::internal, "slorb_add replay: row " + std::to_string(r) + " visited " +
                                                    std::to_string(visits[size_t(r)]) + " times");
  return Status::Ok();
}

}  // namespace

Status replay_slorb_term(const SlorbReplay& t, int64_t M, int64_t K, const void* x, DType x_dtype, int64_t N, float* part,
                         int64_t max_blocks) {
  if (t.group == 0 || M == 0 || N == 0 || K == 0) return Status::Ok();
  if (t.group < 0 || K % t.group != 0) return Status::Error(ErrorCode::argument, "slorb replay: the group size must divide K");
  if ((t.scales_dtype == DType::i8) != (t.row_scales != nullptr))
    return Status::Error(ErrorCode::argument, "slorb replay: row scales are given exactly when S is int8");
  const int64_t G = K / t.group;
  std::vector<float> g(size_t(N * G), 0.f);
  if (t.proj) {  // launch_slorb_project: a zeroed g, then the row dots with P as the rows and x as the vectors
    SK_RETURN_IF_ERROR(replay_row_dots(t.proj, t.proj_dtype, nullptr, DType::f32, x, x_dtype, G, K, N, g.data(), max_blocks));
  } else {
    const auto lx = [&](int64_t e) { return load_as_f32(x, x_dtype, size_t(e)); };
    for (int64_t idx = 0; idx < N * G; ++idx) {  // one thread per (token, group)
      int64_t tok, i;
      slorb_gsum_cell(idx, G, &tok, &i);
      if (tok < 0 || tok >= N || i < 0 || i >= G)
        return Status::Error(ErrorCode::internal, "slorb_group_sums replay: cell " + std::to_string(idx) + " out of range");
      g[size_t(idx)] = slorb_group_sum(lx, tok, i, K, t.group);
    }
  }
  // slorb.cu's as_x: g in the activations' dtype (group_sums_kernel, or round_kernel after the projection)
  for (float& v : g) v = round_to_dtype(v, x_dtype);
  return replay_row_dots(t.scales, t.scales_dtype, t.row_scales, t.row_scales_dtype, g.data(), DType::f32, M, G, N, part, max_blocks);
}

}  // namespace sk::cuda
