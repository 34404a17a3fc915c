// The curated mutation list for `npm run mutate` (scripts/mutate.mjs). Each entry is one small,
// realistic bug: in `file`, the text `from` (which must occur exactly once; test/mutations.test.ts
// checks that in CI) becomes `to`. `tests` are the vitest files that must catch it (`grep` narrows
// them to matching test names), `why` says what the bug would do to a user. An entry with
// `equivalent` is a mutation no test can catch because the program's behaviour does not change;
// the runner still runs it (and says so if it is killed after all) but leaves it out of the score.
//
// This list is code: when a refactor moves or rewrites a target, move the entry with it.

const FORMATS = ['test/formats.test.ts'];
const IO = ['test/safetensors.test.ts'];
// The reader's checks: the header, entry and sparse-entry tests (the whole file takes ~50 s).
const IO_READ = 'header|ERR_FORMAT|inconsistent|fuzz';
const KERNELS = ['test/kernels.test.ts', 'test/spmm.test.ts'];
const SOLVERS = ['test/solvers.test.ts'];
const CUDA = ['test/cuda-model.test.ts'];
const CUDA_Q4 = ['test/cuda-q4-model.test.ts'];
const MODEL = ['test/model.test.ts', 'ctest:model_test'];
const QUANT = ['test/quant.test.ts'];
const QUANT_X8 = ['test/quant-x8-gemm.test.ts'];
const QUANT_X8_GEMV = ['test/quant-x8-gemv.test.ts'];
const QUANT_X8_AVX2 = ['test/quant-x8-avx2.test.ts'];
const SLORB = ['test/slorb.test.ts', 'test/slorb-kernels.test.ts'];
const ADAPTERS = ['test/adapters.test.ts'];
const FUZZ = ['test/fuzz.test.ts'];
const QUANT_IO = ['test/quant.test.ts', 'test/untrusted.test.ts'];
const STRUCTURED = ['test/structured.test.ts'];
const OWL = ['test/model-prune-beyond.test.ts'];
const BEYOND = ['test/solvers-beyond.test.ts'];
const SAVE = ['test/model-save.test.ts'];
const TOKENS = ['test/tokens.test.ts'];
const PRUNE = ['test/model-prune.test.ts'];
const MODEL_ACT = ['test/model-activations.test.ts'];

/** @type {import('./mutate.mjs').Mutation[]} */
export default [
  // ---- formats: validation of external parts, packing ----
  {
    id: 'validate-csr-col-eq-cols', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'ci[i] < 0 || ci[i] >= a.cols', to: 'ci[i] < 0 || ci[i] > a.cols', tests: FORMATS,
    why: 'a CSR column index equal to cols is accepted; toDense() drops the value silently',
  },
  {
    id: 'validate-csr-col-negative', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'ci[i] < 0 || ci[i] >= a.cols', to: 'ci[i] >= a.cols', tests: FORMATS,
    why: 'a negative column index is accepted: kernels read before x',
  },
  {
    id: 'validate-csr-duplicate-cols', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'ci[i] <= ci[i - 1]', to: 'ci[i] < ci[i - 1]', tests: FORMATS,
    why: 'a column stored twice in a row is accepted (the documented order is strictly increasing)',
  },
  {
    id: 'validate-bitmap-popcount', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'if (cnt != rp[r + 1] - rp[r])', to: 'if (cnt > rp[r + 1] - rp[r])', tests: FORMATS,
    why: 'rowPtr may promise more values than the mask has bits: values shift between rows',
  },
  {
    id: 'validate-mask-tail-word', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'masks[r * wpr + wpr - 1] & tail', to: 'masks[r * wpr] & tail', tests: FORMATS,
    why: 'bits past cols in the last mask word are accepted when a row has several words',
  },
  {
    id: 'validate-nm-padding-col', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'c >= a.cols && cnt <= a.n', to: 'c > a.cols && cnt <= a.n', tests: FORMATS,
    why: 'a nonzero value in the first N:M padding column is accepted (and never multiplied)',
  },
  {
    id: 'validate-tcsl-col-eq-cols', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'c0 + c >= a.cols', to: 'c0 + c > a.cols', tests: FORMATS,
    why: 'a tiled-csl word at column == cols is accepted: kernels read x one row too far',
  },
  {
    id: 'validate-tcsl-row-eq-rows', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'r0 + r >= a.rows', to: 'r0 + r > a.rows', tests: FORMATS,
    why: 'a tiled-csl word at row == rows is accepted: kernels write one output row too far',
  },
  {
    id: 'validate-tcsl-padding-count', area: 'formats', file: 'native/formats/validate.cpp',
    from: '++repeats >= kTileWordAlign', to: '++repeats > kTileWordAlign', tests: FORMATS,
    why: 'four padding words (a whole 16-byte load of them) are accepted, against the documented at most 3',
  },
  {
    id: 'pack-nm-tie-lower-column', area: 'formats', file: 'native/formats/pack.cpp',
    from: 'if (mag > best_mag) { best_mag = mag; best = j; }', to: 'if (mag >= best_mag) { best_mag = mag; best = j; }', tests: FORMATS,
    why: 'magnitude ties keep the higher column instead of the documented lower one',
  },
  {
    id: 'pack-nm-fill-lowest-free', area: 'formats', file: 'native/formats/pack.cpp',
    from: 'for (int j = 0; j < m && count < n; ++j)', to: 'for (int j = m - 1; j >= 0 && count < n; --j)', tests: FORMATS,
    why: 'short groups mark their highest free columns (padding ones included), against the documented lowest',
  },

  // ---- io: safetensors reader, JSON, writer ----
  {
    id: 'st-header-past-end', area: 'io', file: 'native/io/safetensors.cpp',
    from: 'if (n > file_size - 8)', to: 'if (n > file_size)', tests: IO, grep: IO_READ,
    why: 'a header length up to 8 bytes too long is accepted: the parser reads past the end of the file',
  },
  {
    id: 'st-span-too-long', area: 'io', file: 'native/io/safetensors.cpp',
    from: 'if (e->end - e->begin != want)', to: 'if (e->end - e->begin < want)', tests: IO, grep: IO_READ,
    why: 'an entry whose data_offsets span more bytes than dtype x shape is accepted',
  },
  {
    id: 'st-overlap', area: 'io', file: 'native/io/safetensors.cpp',
    from: 'if (e.begin < pos)', to: 'if (e.begin + 1 < pos)', tests: IO, grep: IO_READ,
    why: 'two tensors sharing a byte are accepted (writing one changes the other)',
  },
  {
    id: 'json-duplicate-keys', area: 'io', file: 'native/io/json.cpp',
    from: 'if (depth > 1 && v->find(key))', to: 'if (depth > 2 && v->find(key))', tests: IO, grep: IO_READ,
    why: 'a tensor entry with a duplicate key (two data_offsets) is accepted: which one wins is up to the parser',
  },
  {
    id: 'writer-rename', area: 'io', file: 'native/io/safetensors_writer.cpp',
    from: 'if (std::rename(from.c_str(), to.c_str()) != 0)', to: 'if (std::rename(from.c_str(), to.c_str()) != 0 && false)', tests: [...IO, 'test/cli.test.ts', 'ctest:io_test'],
    why: 'a failed rename is reported as success: the caller believes a file exists that does not',
  },

  // ---- core: dtype conversion, thread pool ----
  {
    id: 'f16-subnormal-tie', area: 'core', file: 'native/core/dtype.h',
    from: 'if (rem > half || (rem == half && (q & 1u))) q++;', to: 'if (rem >= half) q++;', tests: ['test/tensor.test.ts'],
    why: 'float16 subnormal ties round away from zero instead of to even',
  },
  {
    id: 'bf16-tie', area: 'core', file: 'native/core/dtype.h',
    from: 'b += 0x7fffu + ((b >> 16) & 1u);', to: 'b += 0x8000u;', tests: ['test/tensor.test.ts'],
    why: 'bfloat16 ties round away from zero instead of to even (a bias in every converted weight)',
  },
  {
    id: 'pool-last-chunk', area: 'core', file: 'native/core/thread_pool.cpp',
    from: 'chunks = (n + step - 1) / step;', to: 'chunks = n / step;', tests: ['test/tensor.test.ts', ...KERNELS],
    why: 'parallel_range drops the last partial chunk: the last rows of every parallel job are never computed',
  },
  {
    id: 'pool-wake-sleepers', area: 'core', file: 'native/core/thread_pool.cpp',
    from: 'if (wake) cv_.notify_all();', to: '', tests: ['ctest:core_test'],
    why: 'a job started after the workers stopped spinning never wakes them: from then on the caller runs every task alone',
  },

  // ---- cpu kernels ----
  {
    id: 'x8-gemm-pass-step', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'for (int64_t q0 = 0; q0 < nv4; q0 += pv) {', to: 'for (int64_t q0 = 0; q0 < nv4; q0 += 2 * pv) {', tests: ['test/quant-x8-gemm.test.ts'],
    why: 'the int8-activation GEMM skips every other pass of 2 vectors from N = 13: those outputs keep the row sums of nothing',
  },
  {
    id: 'gather-band-end', area: 'cpu', file: 'native/cpu/spmm_gather.cpp',
    from: 'const int64_t e = std::min(r1, b + step);', to: 'const int64_t e = std::min(r1, b + step - 1);', tests: KERNELS,
    why: 'the format-generic gather kernel skips the last row of every 8-row band',
  },
  {
    id: 'csr-gemv-scalar-tail', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'for (; p < e; ++p) tail += D::to_f32(vals[p]) * x.data[ci[p]];', to: 'for (; p + 1 < e; ++p) tail += D::to_f32(vals[p]) * x.data[ci[p]];', tests: KERNELS,
    why: 'the CSR GEMV drops the last stored value of rows whose count is not a multiple of the vector width',
  },
  {
    id: 'csr-gemv-one-vector', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'if (p + W <= e) {', to: 'if (p + W < e) {', tests: KERNELS,
    equivalent: 'with exactly W values left the scalar tail adds them instead: the same sum, in another order (well inside the fp32 tolerance)',
    why: 'boundary of the one-vector step',
  },
  {
    id: 'gemv-apart-store', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'out.store(r + i * rs, j0 + j, res[i][j]);', to: 'out.store(r + i, j0 + j, res[i][j]);', tests: KERNELS,
    why: 'the N <= 4 passes whose rows are a quarter of the task apart store their sums into adjacent rows',
  },
  {
    id: 'gemv-apart-tail', area: 'cpu', file: 'native/cpu/spmm.h',
    from: 'for (int64_t r = r0 + R * q; r < r1; ++r) {', to: 'for (int64_t r = r0 + R * q + 1; r < r1; ++r) {', tests: [...KERNELS, 'test/bf16-decode.test.ts'],
    why: 'the first row left over after the quarter-apart passes is never computed (the fp32 and the bf16 GEMVs)',
  },
  {
    id: 'cursor-pair-advance', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'rw.p = p + __builtin_popcountll(uint64_t(b0) | uint64_t(b1) << CW);', to: 'rw.p = p + __builtin_popcountll(uint64_t(b0));', tests: KERNELS,
    why: "the AVX-512 fp32 bitmap GEMV's cursor advances by the first chunk of each pair only: every later pair reads the values of the one before",
  },
  {
    id: 'cursor-pair-second', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'VT::template sparse_chunk<D, Safe>(VT::template sparse_chunk<D, Safe>(p, b0, end, o0), b1, end, o1);', to: 'VT::template sparse_chunk<D, Safe>(p, b0, end, o0); VT::template sparse_chunk<D, Safe>(p, b1, end, o1);', tests: KERNELS,
    why: "the second chunk of a pair reads its values from the first chunk's start",
  },
  {
    id: 'dense-tail-count', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'else VT::template dense_tail<D>(rw.p + c * CW, int(cols - c * CW), o);', to: 'else VT::template dense_tail<D>(rw.p + c * CW, int(cols - c * CW) - 1, o);', tests: KERNELS,
    why: 'the dense decode drops the last column when K is not a multiple of the chunk width',
  },
  {
    id: 'visit-tcsl-padding', area: 'cpu', file: 'native/formats/visit.inl',
    from: 'if (i > offs[t] && words[i] == prev) continue;', to: 'if (false && words[i] == prev) continue;', tests: KERNELS,
    why: 'tiled-csl padding words (repeats of the last word) are added again: those values count up to 4 times',
  },
  {
    id: 'visit-tcsl-first-word', area: 'cpu', file: 'native/formats/visit.inl',
    from: 'if (i > offs[t] && words[i] == prev) continue;', to: 'if (words[i] == prev) continue;', tests: KERNELS,
    equivalent: 'prev starts at 0, and a first word equal to 0 is a +0 value at tile position (0, 0): skipping it adds nothing',
    why: 'first word of a tile compared with a stale prev',
  },

  {
    id: 'bf16-rounding-truncates', area: 'cpu', file: 'native/cpu/spmm.cpp',
    from: 'stage([load](size_t i) { return f32_to_bf16(load(i)); });',
    to: 'stage([load](size_t i) { return uint16_t(f32_to_bits(load(i)) >> 16); });',
    tests: ['test/bf16-activations.test.ts'],
    why: "activations: 'bfloat16' truncates fp32 activations instead of rounding them to nearest even (spmm's b [K, N])",
  },
  {
    id: 'spmm-bias-task-rows', area: 'cpu', file: 'native/cpu/spmm.cpp',
    from: 'for (int64_t r = r0; r < r1; ++r) bias[r] = ',
    to: 'for (int64_t r = r0 + 1; r < r1; ++r) bias[r] = ',
    tests: ['test/kernels.test.ts', 'test/slorb-kernels.test.ts'],
    why: "each task's first row keeps no converted bias: the copy is filled per task, for the task's own rows",
  },
  {
    id: 'spmm-bias-f32-only-passthrough', area: 'cpu', file: 'native/cpu/spmm.cpp',
    from: 'if (args.bias && args.bias_dtype != DType::f32) {',
    to: 'if (args.bias && args.bias_dtype == DType::f16) {',
    tests: ['test/kernels.test.ts'],
    why: 'a bfloat16 bias is read in place as if it were float32',
  },
  {
    id: 'bf16-rounding-not-routed', area: 'cpu', file: 'native/cpu/spmm.cpp',
    from: 'if (rounding == ActivationRounding::bf16 && dtype_is_float(x_dtype)) x_dtype = DType::bf16;',
    to: 'if (rounding == ActivationRounding::bf16 && x_dtype == DType::bf16) x_dtype = DType::bf16;',
    tests: ['test/bf16-activations.test.ts'],
    why: "activations: 'bfloat16' is accepted but fp32 activations never reach the vdpbf16ps kernels",
  },
  {
    id: 'bf16-stage-transpose', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'const int64_t rows = imin(16, pairs - kb * 16);', to: 'const int64_t rows = imin(15, pairs - kb * 16);',
    tests: ['test/bf16-activations.test.ts', 'test/kernels.test.ts'],
    why: "the AVX-512 staging of linear's x into k_pairs drops every 16th pair of columns (N > 4 bf16 products)",
  },
  {
    id: 'bf16-octs-lane-sum', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'Octs ? (t[0] + t[1]) + (t[2] + t[3]) : t[0]', to: 'Octs ? (t[0] + t[1]) + t[2] : t[0]',
    tests: ['test/kernels.test.ts'],
    why: 'the N <= 16 bf16 GEMM drops the partial sums of k = 6, 7 mod 8 (one of the four lanes per column of N)',
  },
  {
    id: 'bf16-octs-expand-lane', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '_mm512_shuffle_i32x4(w[i], w[i], u * 0x55)', to: '_mm512_shuffle_i32x4(w[i], w[i], u * 0x54)',
    tests: ['test/kernels.test.ts'],
    why: 'bitmap / N:M bf16 at 4 < N <= 16 multiply k = 24..31 of every chunk by the weights of k = 16..23',
  },
  {
    id: 'bf16-octs-expand-cursor', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'micro_octs_expand_rows<Src, true>(rr, s, cur + rb,', to: 'micro_octs_expand_rows<Src, true>(rr, s, cur,',
    tests: ['test/kernels.test.ts'],
    why: 'bitmap / N:M bf16 at 4 < N <= 16 decode the first rows of the task again for every later row block',
  },
  {
    id: 'bf16-csr-cols-pair-b', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '34, 2, 33, 1, 32, 0);', to: '34, 2, 1, 1, 32, 0);',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'the CSR bf16 kernel at N <= 16 multiplies the second value of each pair by the first column for token 1',
  },
  {
    id: 'bf16-csr-cols-odd-last', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '  if (cnt & 1) {\n    // The last value alone', to: '  if (cnt & 3) {\n    // The last value alone',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'the CSR bf16 kernel at N <= 16 adds a CSR row\'s last pair twice when it keeps 4k + 2 values',
  },
  {
    id: 'bf16-csr-cols-stage', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'for (int64_t c = 0; c < cnt; ++c) _mm256_storeu_si256(', to: 'for (int64_t c = 0; c + 1 < cnt; ++c) _mm256_storeu_si256(',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'the k_major_bf16 staging skips the last column of every 16: the CSR bf16 kernel multiplies zeros for columns 15 mod 16',
  },
  {
    id: 'bf16-csr-cols-interleave', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '_mm512_set_epi16(47, 15, 46, 14,', to: '_mm512_set_epi16(46, 15, 46, 14,',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: "the CSR bf16 kernel's pair interleave takes token 14's x for token 15's second value (N = 16 only)",
  },
  {
    id: 'bf16-csr-cols-odd-zext', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'const __m512i xs = _mm512_cvtepu16_epi32(x_column<LD>(', to: 'const __m512i xs = _mm512_castsi256_si512(x_column<LD>(',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'the odd last value of a CSR row multiplies two tokens\' x packed in one lane instead of one token\'s x and a zero',
  },
  {
    id: 'bf16-csr-cols-portable-stage', area: 'cpu', file: 'native/cpu/spmm.cpp',
    from: 'return k * ld + j; });\n    else', to: 'return k * ld + j + 1; });\n    else',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: "spmm's x [K, N] staged for the CSR bf16 kernel one token off: every output column shifted",
  },
  {
    id: 'bf16-csr-cols-narrow-stage', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '_mm_storeu_si128(reinterpret_cast<__m128i*>(buf + (k + c) * 8)', to: '_mm_storeu_si128(reinterpret_cast<__m128i*>(buf + (k + c) * 8 + 1)',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'the 16-byte-column staging (N <= 8) shifts every column one token: the CSR bf16 kernel multiplies the wrong x',
  },
  {
    id: 'bf16-csr-cols-narrow-ld', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'cols_row<int32_t, LD, LD>(', to: 'cols_row<int32_t, 16, LD>(',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'the CSR bf16 kernel at N <= 8 reads x columns 32 bytes apart in a panel of 16-byte columns',
  },
  {
    id: 'bf16-pairs-cols-offset', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '_mm512_mullo_epi16(lane16(), _mm512_set1_epi16(short(ld2 / 2)))', to: '_mm512_mullo_epi16(lane16(), _mm512_set1_epi16(short(ld2)))',
    tests: ['test/bf16-activations.test.ts'],
    why: 'the bitmap / N:M pairs kernel at N <= 16 reads x columns at twice their offsets: wrong columns multiplied',
  },
  {
    id: 'bf16-pairs-cols-odd', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'cols_row<uint16_t, 1, 16>(off, wv, cnt, xb,', to: 'cols_row<uint16_t, 1, 16>(off, wv, cnt & ~int64_t(1), xb,',
    tests: ['test/bf16-activations.test.ts'],
    why: 'the bitmap / N:M pairs kernel at N <= 16 drops the odd last kept value of every row segment',
  },
  {
    id: 'bf16-tile16-round', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '_mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))', to: '_mm512_add_epi32(odd, _mm512_set1_epi32(0x8000))',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: 'bf16 outputs of the CSR bf16 kernel round ties up instead of to even (not the bits of the fp32 result rounded)',
  },
  {
    id: 'bf16-tile16-bias', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '_mm512_loadu_ps(out.bias + r0 + i)', to: '_mm512_loadu_ps(out.bias + r0)',
    tests: ['test/bf16-csr-cols.test.ts'],
    why: "linear's bias lands on the wrong rows past the first 16 of each task (CSR bf16, N <= 16)",
  },
  {
    id: 'bf16-octs-stage', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'd + 24 * ld), _mm512_extracti32x4_epi32(v, 3)', to: 'd + 24 * ld), _mm512_extracti32x4_epi32(v, 2)',
    tests: ['test/bf16-activations.test.ts', 'test/kernels.test.ts'],
    why: "the AVX-512 staging of linear's x into k_octs copies columns 16-23 of every 32 in place of 24-31",
  },
  {
    id: 'bf16-octs-stage-generic', area: 'cpu', file: 'native/cpu/spmm.cpp',
    from: 'return (k >> 3) * 8 * ld + 8 * j + (k & 7);', to: 'return (k >> 3) * 8 * ld + 8 * j + (k & 3);',
    tests: ['test/kernels.test.ts'],
    why: "the portable staging of spmm's b [K, N] into k_octs puts k = 4..7 of every eight on k = 0..3",
  },
  {
    id: 'bf16-gemm-tile-zero', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'for (int64_t i = 0; i < rows * ldc; ++i) c[i] = 0.f;', to: 'for (int64_t i = 0; i < rows * ld; ++i) c[i] = 0.f;',
    tests: ['test/kernels.test.ts'],
    why: 'with several K blocks the octs C tile (4 floats per column of N) starts three quarters uninitialised',
  },
  {
    id: 'bf16-narrow-load-count', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'else if (Narrow && __builtin_expect(cnt <= 16, 1))', to: 'else if (Narrow && __builtin_expect(cnt <= 17, 1))',
    tests: ['test/bf16-decode.test.ts'],
    why: 'the N <= 4 bf16 bitmap decode loads 32 bytes for a chunk keeping 17 values: its last value is lost',
  },
  {
    id: 'bf16-pair-second-count', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'load<Safe>(rw.p + n0, n - n0)', to: 'load<Safe>(rw.p + n0, n0)',
    tests: ['test/bf16-decode.test.ts', 'test/kernels.test.ts'],
    why: "the GEMVs' second chunk of a pair is loaded as if it kept the first's count: a masked row end or a narrow 32-byte load drops its last values",
  },
  {
    id: 'bf16-pair-advance', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: '    rw.p += n;\n', to: '    rw.p += n0;\n',
    tests: ['test/bf16-decode.test.ts', 'test/kernels.test.ts'],
    why: "a bitmap row's cursor advances by the first chunk's count only: every later pair reads the second chunk's values again",
  },
  {
    id: 'bf16-pair-second-mask', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'w1 = expand_w16(load<Safe>(rw.p + n0, n - n0), __mmask32(bits >> 32));', to: 'w1 = expand_w16(load<Safe>(rw.p + n0, n - n0), __mmask32(bits));',
    tests: ['test/bf16-decode.test.ts', 'test/kernels.test.ts'],
    why: "the second chunk of a pair is expanded under the first chunk's mask: its values land in the wrong columns",
  },
  {
    id: 'bf16-gemv-quarter-stride', area: 'cpu', file: 'native/cpu/spmm.h',
    from: 'std::true_type{}, r0, q, q);', to: 'std::true_type{}, r0, 1, q);',
    tests: ['test/bf16-decode.test.ts', ...KERNELS],
    why: 'the N <= 4 GEMVs read their streams as adjacent rows: rows are computed twice and others never',
  },
  {
    id: 'gemv-pass-count', area: 'cpu', file: 'native/cpu/spmm.h',
    from: 'std::true_type{}, r0, q, q);', to: 'std::true_type{}, r0, q, 1);',
    tests: ['test/bf16-decode.test.ts', ...KERNELS],
    why: 'the N <= 4 GEMVs run only the first of their passes: most rows are never written',
  },
  {
    id: 'bf16-gemv-pass-advance', area: 'cpu', file: 'native/cpu/spmm_avx512_bf16.cpp',
    from: 'for (int64_t p = 0; p < passes; ++p, ++r) {', to: 'for (int64_t p = 0; p < passes; ++p) {',
    tests: ['test/bf16-decode.test.ts', ...KERNELS],
    why: "the bf16 GEMV's passes all run the first pass's rows",
  },
  {
    id: 'fused-gemv-pass-advance', area: 'cpu', file: 'native/cpu/spmm_kernels.inl',
    from: 'for (int64_t p = 0; p < passes; ++p, ++r) {', to: 'for (int64_t p = 0; p < passes; ++p) {',
    tests: KERNELS,
    why: "the fused fp32-activation GEMVs' passes all run the first pass's rows",
  },
  // ---- solvers ----
  {
    id: 'wanda-approx-score-no-norm', area: 'solvers', file: 'native/solvers/wanda.cpp',
    from: 'const float s = std::fabs(v[c]) * nf[c];', to: 'const float s = std::fabs(v[c]);', tests: SOLVERS,
    why: 'Wanda ranks by |w| alone (degenerates to magnitude) on its fast path',
  },
  {
    id: 'wanda-exact-score-no-norm', area: 'solvers', file: 'native/solvers/wanda.cpp',
    from: 'return score_key(std::fabs(double(v)) * norm[size_t(c)]);', to: 'return score_key(std::fabs(double(v)));', tests: SOLVERS,
    why: 'the float64 scores that settle near-ties ignore ‖X‖',
  },
  {
    id: 'wanda-alpha-no-norm', area: 'solvers', file: 'native/solvers/wanda.cpp',
    from: 'score[size_t(r * cols + c)] = std::fabs(double(v[size_t(c)])) * norm[size_t(c)];', to: 'score[size_t(r * cols + c)] = std::fabs(double(v[size_t(c)]));', tests: SOLVERS,
    why: 'alphaSearch ranks by |w| alone',
  },
  {
    id: 'wanda-float16-no-norm', area: 'solvers', file: 'native/solvers/wanda.cpp',
    from: 'normf[size_t(j)] = float(norm[size_t(j)]);', to: 'normf[size_t(j)] = w.dtype == DType::f16 ? 1.f : float(norm[size_t(j)]);',
    tests: SOLVERS, grep: 'wanda.*float16',
    why: 'Wanda degenerates to magnitude for float16 weights only (the audit\'s survivor: only f32 and bf16 were compared)',
  },
  {
    id: 'wanda-alpha-16bit-no-norm', area: 'solvers', file: 'native/solvers/wanda.cpp',
    from: 'score[size_t(r * cols + c)] = std::fabs(double(v[size_t(c)])) * norm[size_t(c)];',
    to: 'score[size_t(r * cols + c)] = std::fabs(double(v[size_t(c)])) * (w.dtype == DType::f32 ? norm[size_t(c)] : 1.0);',
    tests: SOLVERS, grep: 'alphaSearch (float16|bfloat16)',
    why: 'alphaSearch without ‖X‖ for 16-bit weights (the audit\'s survivor: alphaSearch was compared in float32 only)',
  },
  {
    id: 'wanda-alpha-threshold', area: 'solvers', file: 'native/solvers/wanda.cpp',
    from: 'pruned[i] = score[i] <= thres[i / size_t(cols)];', to: 'pruned[i] = score[i] < thres[i / size_t(cols)];', tests: SOLVERS,
    why: 'alphaSearch keeps the weight at its own threshold (the published code prunes it)',
  },
  {
    id: 'sparsegpt-no-damping', area: 'solvers', file: 'native/solvers/sparsegpt.cpp',
    from: 'row[p] = float(d + damp);', to: 'row[p] = float(d);', tests: SOLVERS,
    why: 'the damping term is never added to H: worse-conditioned updates, different weights',
  },
  {
    id: 'sparsegpt-no-damping-bfloat16', area: 'solvers', file: 'native/solvers/sparsegpt.cpp',
    from: 'row[p] = float(d + damp);', to: 'row[p] = float(d);', tests: SOLVERS, grep: 'bfloat16: matches the float64',
    why: 'the same missing damping, caught by the bfloat16 comparison alone (its tolerance once absorbed it)',
  },
  {
    id: 'sparsegpt-block-skip-column', area: 'solvers', file: 'native/solvers/sparsegpt.cpp',
    from: 'kernels.rank1_rows(cnt - i - 1, urow + i + 1, ei, wi + G);', to: 'kernels.rank1_rows(cnt - i - 2, urow + i + 1, ei, wi + G);', tests: SOLVERS,
    why: 'the in-block update skips the block\'s last column: it never receives the earlier columns\' error compensation',
  },
  {
    id: 'sparsegpt-lazy-batch-k', area: 'solvers', file: 'native/solvers/sparsegpt.cpp',
    from: 'g.k = cnt;', to: 'g.k = cnt - 1;', tests: SOLVERS,
    why: 'the lazy batch update of later columns forgets the block\'s last column\'s error',
  },
  {
    id: 'sparsegpt-hessian-scale', area: 'solvers', file: 'native/solvers/sparsegpt.cpp',
    from: 'const double f = 2.0 / stats.tokens(), damp', to: 'const double f = 1.0 / stats.tokens(), damp', tests: SOLVERS,
    why: 'H = XᵀX/n instead of 2XᵀX/n: the same weights but the reported loss is off by 2x',
  },
  {
    id: 'magnitude-global-count', area: 'solvers', file: 'native/solvers/magnitude.cpp',
    from: 'int64_t(std::floor(double(total) * p.sparsity))', to: 'int64_t(std::ceil(double(total) * p.sparsity))', tests: SOLVERS,
    why: 'global magnitude prunes one weight more than ⌊count·s⌋ when count·s is not an integer',
  },
  {
    id: 'calibration-sumsq', area: 'solvers', file: 'native/solvers/calibration.cpp',
    from: 'for (int64_t j = b; j < e; ++j) sumsq_[j] += double(row[j]) * double(row[j]);', to: 'for (int64_t j = b; j < e; ++j) sumsq_[j] += std::fabs(double(row[j]));', tests: ['test/calibration.test.ts', ...SOLVERS],
    why: 'Wanda\'s ‖X_j‖ is built from Σ|x| instead of Σx²',
  },

  // ---- CUDA index math (__host__ __device__ helpers) and the CPU warp model / replay ----
  {
    id: 'tcsl-word-index-permuted', area: 'cuda', file: 'native/cuda/kernels/tiled_csl_index.h',
    from: 'return round * kTcslRoundWords + (j * kBlockThreads + tid) * 4;', to: 'return round * kTcslRoundWords + (tid * kTcslVecsPerThread + j) * 4;', tests: CUDA,
    why: 'which thread loads which words: the packer orders each tile so that this assignment scatters without bank conflicts, which the replay asserts (it was listed as equivalent before the bank order)',
  },
  {
    id: 'bmp-subtile-col0', area: 'cuda', file: 'native/cuda/kernels/bitmap_index.h',
    from: 'return (s >> 2) * 16 + ((s >> 1) & 1) * 8;', to: 'return (s >> 2) * 16 + (s & 1) * 8;', tests: CUDA,
    why: 'two 8x8 bitmap subtiles land on the same columns: half the warp tile is never read',
  },
  {
    id: 'bmp-lane-pair-hi', area: 'cuda', file: 'native/cuda/kernels/bitmap_index.h',
    from: 'vals[off + int(bits & 1u)]', to: 'vals[off + 1]', tests: CUDA,
    why: 'a lane whose low half is empty reads its high value one slot too far',
  },
  {
    id: 'sp24-meta-shift', area: 'cuda', file: 'native/cuda/kernels/sp24_index.h',
    from: 'return 16 * (row16 >> 3) + 4 * group;', to: 'return 16 * (row16 & 1) + 4 * group;', tests: CUDA,
    why: 'mma.sp metadata of rows 8..15 goes to the wrong half-word',
  },
  {
    id: 'acc-row', area: 'cuda', file: 'native/cuda/kernels/mma_layout.h',
    from: 'return (lane >> 2) + 8 * (i >> 1);', to: 'return (lane >> 2) + 8 * (i & 1);', tests: CUDA,
    why: 'accumulator fragments are written to the wrong output rows',
  },
  {
    id: 'b-chunk-valid-full', area: 'cuda', file: 'native/cuda/kernels/mma_layout.h',
    from: 'return K - k >= 8 ? 8 : int(K - k);', to: 'return K - k > 8 ? 8 : int(K - k);', tests: CUDA,
    equivalent: 'at K - k == 8 the else branch returns int(K - k) = 8 too',
    why: 'boundary of a full 8-element chunk',
  },
  {
    id: 'b-chunk-valid-k', area: 'cuda', file: 'native/cuda/kernels/mma_layout.h',
    from: 'if (n >= N || k >= K) return 0;', to: 'if (n >= N || k > K) return 0;', tests: CUDA,
    equivalent: 'at k == K the next line returns int(K - k) = 0 as well',
    why: 'boundary of the K edge',
  },
  {
    id: 'split-k-last', area: 'cuda', file: 'native/cuda/kernels/mma_layout.h',
    from: 'return stages * (z + 1) / splits;', to: 'return stages * z / splits + stages / splits;', tests: CUDA,
    why: 'split-K drops stages when the stage count is not a multiple of the split count',
  },
  {
    id: 'q4-reg-row', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: 'return (lane >> 2) + 8 * (r & 1);', to: 'return (lane >> 2) + 8 * (r >> 1);', tests: CUDA_Q4,
    why: 'the int4 A fragments take rows g / g + 8 from the wrong registers',
  },
  {
    id: 'q4d-reg-col', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: 'return 2 * (lane & 3) + 8 * (r >> 1) + h;', to: 'return 2 * (lane & 3) + 8 * (r & 1) + h;', tests: CUDA_Q4,
    why: 'the dense int4 fragment puts columns 8..15 of a k16 step in the registers of rows g + 8',
  },
  {
    id: 'q4-zero-pair-row', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: '(((zero_word >> (16 * (r & 1))) & 0xfu) * 0x00010001u)', to: '(((zero_word >> (16 * (r >> 1))) & 0xfu) * 0x00010001u)', tests: CUDA_Q4,
    why: 'asymmetric int4: rows g + 8 subtract the zero point of row g (and half the columns the other way round)',
  },
  {
    id: 'q4-scale-row', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: 'uint16_t(scale_word >> (16 * row_hi))', to: 'uint16_t(scale_word >> (16 * (1 - row_hi)))', tests: CUDA_Q4,
    why: 'accumulator rows g and g + 8 are scaled by each other\'s group scale',
  },
  {
    id: 'q4-meta-step', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: 'SK_HD inline int q4s_meta_step(int lane) { return (lane & 3) >> 1; }', to: 'SK_HD inline int q4s_meta_step(int lane) { return lane & 1; }', tests: CUDA_Q4,
    why: 'the 2:4 int4 metadata words land in the thread pair of the other sparsity selector',
  },
  {
    id: 'q4-group-shift', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: 'group >= 128 ? 2 : group >= 64 ? 1 : 0;', to: 'group >= 128 ? 2 : 0;', tests: CUDA_Q4,
    why: 'with 64-column groups every k32 step reads the scale of the wrong group',
  },
  {
    id: 'q4-magic-bf16', area: 'cuda', file: 'native/cuda/kernels/q4_index.h',
    from: 'return bf16 ? 0x43004300u : 0x64006400u;', to: 'return bf16 ? 0x43804380u : 0x64006400u;', tests: [...CUDA_Q4, 'ctest:cuda_model_test'],
    why: 'bf16 magic number 256 instead of 128: a nibble OR-ed into its mantissa counts double',
  },
  {
    id: 'ldsm-a-col', area: 'cuda', file: 'native/cuda/kernels/mma_layout.h',
    from: 'return uint32_t((lane >> 4) * 8);', to: 'return uint32_t(((lane >> 3) & 1) * 8);', tests: CUDA,
    why: 'ldmatrix.x4 row addresses for A repeat the first k-half',
  },
  {
    id: 'warp-model-mma-k', area: 'cuda', file: 'native/cuda/replay/warp_model.cpp',
    from: 'for (int k = 0; k < KD; ++k) s += A[r][k] * B[k][col];', to: 'for (int k = 0; k < KD - 1; ++k) s += A[r][k] * B[k][col];', tests: CUDA,
    why: 'the model of mma (m16n8k16 / k32) drops the last k: the replay no longer models the hardware',
  },

  // ---- lib/ (TypeScript API and CLI) ----
  {
    id: 'lowrank-tcsl-zero-word', area: 'lib', file: 'lib/lowrank-merge.ts',
    from: '(k, v) => (v === 0 ? v : add(v, rc[2 * k]!, rc[2 * k + 1]!))', to: '(k, v) => add(v, rc[2 * k]!, rc[2 * k + 1]!)',
    tests: ['test/adapters.test.ts'],
    why: 'a LoRA merge into tiled-csl fills the zero padding words the bank-ordered packer adds: pruned positions become nonzero',
  },
  {
    id: 'quant-values-bytes', area: 'formats', file: 'native/formats/validate.cpp',
    from: 'return expect_bytes(a, Part::values, uint64_t(quant_code_bytes(int64_t(count), a.quant.bits)), 1);',
    to: 'return expect_bytes(a, Part::values, uint64_t(count), 1);',
    tests: ['test/quant.test.ts'],
    why: 'quantized bitmap / nm values are checked as one byte per code: a 4-bit part of the wrong size is accepted or a right one refused',
  },
  {
    id: 'lib-out-overlap-end', area: 'lib', file: 'lib/ops.ts',
    from: 'a.byteOffset < b.byteOffset + b.byteLength &&', to: 'a.byteOffset <= b.byteOffset + b.byteLength &&', tests: ['test/output-reuse.test.ts'],
    why: 'an options.out starting right after x is refused as sharing its memory',
  },
  {
    id: 'lib-out-overlap-start', area: 'lib', file: 'lib/ops.ts',
    from: 'b.byteOffset < a.byteOffset + a.byteLength;', to: 'b.byteOffset < a.byteOffset + a.byteLength - 4;', tests: ['test/output-reuse.test.ts'],
    why: 'an options.out whose last element is the first of x is accepted: the kernel overwrites x while it reads it',
  },
  {
    id: 'lib-out-slorb-reads', area: 'lib', file: 'lib/ops.ts',
    from: "all.push(['the SLoRB scales', t.scales.toTypedArray()],", to: "all.push(", tests: ['test/output-reuse.test.ts'],
    why: "an options.out that is the weight's SLoRB scales is accepted: the term reads S while the output overwrites it",
  },
  {
    id: 'lib-out-shape', area: 'lib', file: 'lib/ops.ts',
    from: 'given.shape.length !== shape.length || given.shape.some((d, i) => d !== shape[i])', to: 'numel(given.shape) !== numel(shape)', tests: ['test/output-reuse.test.ts'],
    why: 'an options.out of another shape with as many elements is accepted (a [1, 2, M] out for a [2, M] result)',
  },
  {
    id: 'lib-sparsity-one', area: 'lib', file: 'lib/prune-checks.ts',
    from: '!(s >= 0 && s < 1)', to: '!(s >= 0 && s <= 1)', tests: SOLVERS,
    why: 'sparsity 1 (prune everything) is accepted',
  },
  {
    id: 'lib-shape-negative', area: 'lib', file: 'lib/shape.ts',
    from: "typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0", to: "typeof d !== 'number' || !Number.isSafeInteger(d)", tests: ['test/tensor.test.ts', 'test/errors.test.ts'],
    why: 'a negative dimension is accepted',
  },
  {
    id: 'lib-writer-abort', area: 'lib', file: 'lib/safetensors-writer.ts',
    from: 'if (this.#handle && !this.#busy) native.stWriterAbort(this.#handle);', to: '', tests: [...IO, 'test/cli.test.ts'],
    why: 'an aborted write leaves its temp file behind',
  },
  {
    id: 'lib-pipeline-abort', area: 'lib', file: 'lib/cli/pipeline.ts',
    from: '    w.abort();\n', to: '', tests: ['test/cli.test.ts'], grep: 'failed write',
    why: 'a CLI command that fails halfway leaves a temp file next to the destination',
  },
  {
    id: 'lib-nm-compliance', area: 'lib', file: 'lib/cost-model.ts',
    from: 'if (g4 > 2) fits24 = false;', to: 'if (g4 > 3) fits24 = false;', tests: ['test/cli.test.ts'],
    why: 'inspect reports 2:4 compliance for groups that keep 3 of 4',
  },
  {
    id: 'lib-parts-dtype', area: 'lib', file: 'lib/sparse-matrix.ts',
    from: 'if (v.dtype !== want) throw', to: 'if (v.dtype !== want && false) throw', tests: FORMATS,
    why: 'fromParts accepts float16 values for a float32 matrix (the native side reads garbage sizes)',
  },
  {
    id: 'lib-disk-version', area: 'lib', file: 'lib/safetensors-format.ts',
    from: 'if (r.version > SPARSE_DISK_VERSION)', to: 'if (r.version > SPARSE_DISK_VERSION + 1)', tests: IO, grep: IO_READ,
    why: 'a file written with a newer on-disk layout is read as if it were version 1',
  },

  // ---- model: the Llama forward (native/model/transformer.cpp and its binding, lib/model/) ----
  // The PyTorch-logits tests (test/model.test.ts) catch most forward bugs; native/test/model_test.cpp
  // checks each piece against float64 on its own.
  {
    id: 'model-prune-slorb-refusal', area: 'model', file: 'lib/model/prune-model.ts',
    from: "refuseSlorbTerms(model.blocks.filter((b) => chosen.has(b.index)), 'pruning');", to: "refuseSlorbTerms([], 'pruning');", tests: ['test/model-prune.test.ts'],
    why: "model.prune repacks a linear that carries a SLoRB term and silently drops the term",
  },
  {
    id: 'model-shrink-slorb-refusal', area: 'model', file: 'lib/model/shrink.ts',
    from: "refuseSlorbTerms(model.blocks, 'shrinking');", to: "refuseSlorbTerms([], 'shrinking');", tests: ['test/structured.test.ts'],
    why: "shrink rebuilds a linear that carries a SLoRB term from its dense values and drops the term",
  },
  {
    id: 'model-slice-slorb-refusal', area: 'model', file: 'lib/model/slice.ts',
    from: "refuseSlorbTerms(model.blocks, 'slicing');", to: "refuseSlorbTerms([], 'slicing');", tests: ['test/structured.test.ts'],
    why: "sliceHidden rotates a linear that carries a SLoRB term and drops the term",
  },
  {
    id: 'model-load-slorb-nonlinear', area: 'model', file: 'lib/model/llama.ts',
    from: 'if (v instanceof SparseMatrix && v.slorb) throw', to: 'if (false && v instanceof SparseMatrix && v.slorb) throw', tests: ['test/model.test.ts'],
    why: "a checkpoint's packed embedding or norm with a SLoRB term loads with the term silently dropped",
  },
  {
    id: 'model-slorb-refusal-scope', area: 'model', file: 'lib/model/block.ts',
    from: 'if (slot.weight instanceof SparseMatrix && slot.weight.slorb)', to: 'if (slot.weight instanceof SparseMatrix && slot.weight.slorb && slot.name.includes("q_proj"))', tests: ['test/model-prune.test.ts', 'test/structured.test.ts'],
    why: "the SLoRB refusal looks at some linears only (the tests put the term on up_proj)",
  },
  {
    id: 'model-rmsnorm-mean', area: 'model', file: 'native/model/transformer.cpp',
    from: 'const float mean = dot(xr, xr, cols) / float(cols);', to: 'const float mean = dot(xr, xr, cols) / float(cols - 1);', tests: MODEL,
    why: 'RMSNorm divides the sum of squares by cols - 1 (a variance habit): every hidden state is scaled wrong',
  },
  {
    id: 'model-rmsnorm-eps', area: 'model', file: 'native/model/transformer.cpp',
    from: 'const float inv = 1.0f / std::sqrt(mean + eps);', to: 'const float inv = 1.0f / std::sqrt(mean);', tests: MODEL,
    why: 'RMSNorm without its epsilon: an all-zero row (a zero embedding, a padding token) becomes NaN instead of 0',
  },
  {
    id: 'model-rope-sign', area: 'model', file: 'native/model/transformer.cpp',
    from: 'v[i] = a * cs[size_t(i)] - c * sn[size_t(i)];', to: 'v[i] = a * cs[size_t(i)] + c * sn[size_t(i)];', tests: MODEL,
    why: 'rotate_half with the wrong sign: queries and keys rotate the other way in their first half',
  },
  {
    id: 'model-rope-position', area: 'model', file: 'native/model/transformer.cpp',
    from: 'const float pos = float(positions[r]);', to: 'const float pos = float(r);', tests: MODEL,
    why: 'RoPE uses the row index instead of the position: cached decode steps and batched sequences past the first are rotated as the wrong position',
  },
  {
    id: 'model-gqa-group', area: 'model', file: 'native/model/transformer.cpp',
    from: 'const int64_t g = h / group;', to: 'const int64_t g = h % s.kv_heads;', tests: MODEL,
    why: 'GQA maps query head h to kv head h mod kv_heads (interleaved) instead of h / group (transformers\' repeat_kv blocks)',
  },
  {
    id: 'model-gqa-group-prefill', area: 'model', file: 'native/model/transformer.cpp',
    from: 'const int64_t kv = h / group;', to: 'const int64_t kv = h % s.kv_heads;', tests: MODEL,
    why: 'the prefill (blocked GEMM) path maps query head h to kv head h mod kv_heads instead of h / group',
  },
  {
    id: 'model-attention-past', area: 'model', file: 'native/model/transformer.cpp',
    from: 'const int64_t keys = s.past + t + 1;', to: 'const int64_t keys = t + 1;', tests: MODEL,
    why: 'attention over the cache ignores the cached positions: decoding only attends to the new tokens',
  },
  {
    id: 'model-swiglu-sign', area: 'model', file: 'native/model/transformer.cpp',
    from: 'gate[i] = g / (1.0f + std::exp(-g)) * up[i];', to: 'gate[i] = g / (1.0f + std::exp(g)) * up[i];', tests: MODEL,
    why: 'SiLU computed as x·σ(-x): the MLP activation is wrong',
  },
  {
    id: 'model-embed-bound', area: 'model', file: 'native/model/transformer.cpp',
    from: 'if (ids[r] < 0 || ids[r] >= vocab)', to: 'if (ids[r] < 0 || ids[r] > vocab)', tests: MODEL,
    why: 'the native embedding lookup accepts id == vocab and reads one row past the table',
  },
  {
    id: 'model-nll-max', area: 'model', file: 'native/model/transformer.cpp',
    from: 'part[size_t(r)] = double(mx) + std::log(s) - double(l[targets[r]]);', to: 'part[size_t(r)] = std::log(s) - double(l[targets[r]]);', tests: MODEL,
    why: 'log-sum-exp forgets to add back the max it subtracted: every perplexity is wrong',
  },
  {
    id: 'model-binding-array-bytes', area: 'model', file: 'native/addon/model_binding.cpp',
    from: 'if (double(b.bytes) < count * double(elem))', to: 'if (double(b.bytes) < count)', tests: ['test/model.test.ts'],
    why: 'the model binding checks element counts against bytes: a Float32Array a quarter too small is accepted and written past its end',
  },
  {
    id: 'model-block-attn-scale', area: 'model', file: 'lib/model/block.ts',
    from: 'headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim),', to: 'headDim: c.headDim, scale: 1 / c.headDim,', tests: ['test/model.test.ts'],
    why: 'attention scores scaled by 1/d instead of 1/√d',
  },
  {
    id: 'model-block-cache-offset', area: 'model', file: 'lib/model/block.ts',
    from: 'dst = (b * capacity + ctx.past) * kvDim', to: 'dst = (b * ctx.tokens + ctx.past) * kvDim', tests: ['test/model.test.ts'],
    why: 'new keys/values of sequence b are written at b·tokens instead of b·capacity: batched decoding mixes up sequences',
  },
  {
    id: 'model-positions-batch', area: 'model', file: 'lib/model/llama.ts',
    from: 'positions[i] = past + (i % tokens);', to: 'positions[i] = past + i;', tests: ['test/model.test.ts'],
    why: 'positions run on across the batch: every sequence after the first is rotated as if it continued the previous one',
  },
  {
    id: 'model-ppl-last-target', area: 'model', file: 'lib/model/llama.ts',
    from: 'targets[b * seqLen + t] = t + 1 < seqLen ? chunk[b * seqLen + t + 1]! : -1;', to: 'targets[b * seqLen + t] = t + 1 < seqLen ? chunk[b * seqLen + t + 1]! : chunk[b * seqLen]!;', tests: ['test/model.test.ts'],
    why: 'perplexity scores the last token of each window against an unrelated target instead of ignoring it',
  },
  {
    id: 'model-token-bound', area: 'model', file: 'lib/model/llama.ts',
    from: "if (!(out[i]! >= 0 && out[i]! < vocab)) throw", to: "if (!(out[i]! >= 0 && out[i]! <= vocab)) throw", tests: ['test/model.test.ts'],
    why: 'a token id equal to the vocabulary size passes the API check (the error then comes from the binding without naming the argument)',
  },
  {
    id: 'model-config-head-dim-odd', area: 'model', file: 'lib/model/config.ts',
    from: 'if (!Number.isInteger(headDim) || headDim % 2 !== 0)', to: 'if (!Number.isInteger(headDim))', tests: ['test/model.test.ts'],
    why: 'an odd head dimension is accepted: RoPE rotates pairs and would leave the last component unrotated',
  },
  {
    id: 'model-config-rope-factors', area: 'model', file: 'lib/model/config.ts',
    from: 'if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor)', to: 'if (ropeScaling.highFreqFactor < ropeScaling.lowFreqFactor)', tests: ['test/model.test.ts'],
    why: 'llama3 rope_scaling with high_freq_factor == low_freq_factor is accepted: the blend divides by zero (NaN frequencies)',
  },
  {
    id: 'model-rope-llama3-blend', area: 'model', file: 'lib/model/config.ts',
    from: 'inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;', to: 'inv[i] = smooth * (f / s.factor) + (1 - smooth) * f;', tests: ['test/model.test.ts'],
    why: 'the llama3 frequency blend weights the two ends the wrong way round',
  },

  // ---- quant: quantized storage, validation and its file metadata (not the kernel bodies) ----
  {
    id: 'quant-zero-point-max', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'if (zeros[i] > quant_max_code(bits))', to: 'if (zeros[i] >= quant_max_code(bits))', tests: QUANT,
    why: 'a zero point of 2^bits - 1 (legal: a group of all-negative weights) is refused',
  },
  {
    id: 'quant-scale-negative', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'if (h & 0x8000u) return bad(', to: 'if (false) return bad(', tests: QUANT,
    why: 'a negative fp16 scale is accepted: every weight of the group flips sign',
  },
  {
    id: 'quant-high-nibble', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'stored % 2 == 1 && (a.as<uint8_t>(Part::values)[stored / 2] >> 4) != 0', to: 'stored % 2 == 1 && (a.as<uint8_t>(Part::values)[stored / 2] >> 5) != 0', tests: QUANT,
    why: 'only the top three bits of the unused high nibble are checked: the same matrix has two byte encodings',
  },
  {
    id: 'quant-scales-bytes', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'SK_RETURN_IF_ERROR(expect(Part::scales, groups * 2));', to: 'SK_RETURN_IF_ERROR(expect(Part::scales, groups));', tests: QUANT,
    why: 'the scales part is sized as one byte per group instead of an fp16 each',
  },
  {
    id: 'quant-zeros-bytes', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'if (a.quant.asym) return expect(Part::zeros, groups);', to: 'if (a.quant.asym) return Status::Ok();', tests: QUANT,
    why: 'an asymmetric matrix\'s zeros part is not size-checked: a short one is read past its end',
  },
  {
    id: 'quant-sym-scale', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'scale = std::max(-lo, hi) / float(quant_sym_zero(bits) - 1);', to: 'scale = std::max(-lo, hi) / float(quant_sym_zero(bits));', tests: QUANT,
    why: 'the symmetric grid is one step too fine: the largest weight of a group clips',
  },
  {
    id: 'quant-asym-zero-clamp', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'z = std::min(std::max(z, 0), quant_max_code(bits));', to: 'z = std::min(z, quant_max_code(bits));', tests: QUANT,
    equivalent: 'every caller passes lo <= 0 (the group range starts at 0, quant.h: lo <= 0 <= hi), so -lo / scale >= 0 and the lower clamp never acts',
    why: 'an asymmetric zero point not clamped at 0',
  },
  {
    id: 'quant-asym-scale', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'scale = (hi - lo) / float(quant_max_code(bits));', to: 'scale = (hi - lo) / float(quant_max_code(bits) - 1);', tests: QUANT,
    why: 'the asymmetric grid spans one code too few: every group loses a level of precision',
  },
  {
    id: 'quant-dequant-group-row', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'const int64_t g = r * gpr + c / a.quant.group;\n      const int z = zeros ? zeros[g] : sym_zero;', to: 'const int64_t g = c / a.quant.group;\n      const int z = zeros ? zeros[g] : sym_zero;', tests: QUANT,
    why: 'toDense of a quantized matrix uses row 0\'s scales for every row',
  },
  {
    id: 'quant-spec-group-divides', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'if (cols % q.group != 0)', to: 'if (cols < q.group)', tests: QUANT,
    why: 'a group size that does not divide the columns is accepted natively: the last group is partial and scales are misindexed',
  },
  {
    id: 'quant-nm-stored-count', area: 'quant', file: 'native/formats/quant.cpp',
    from: 'mul_checked(uint64_t(a.rows), uint64_t(a.cols / a.m * a.n), &count)', to: 'mul_checked(uint64_t(a.rows), uint64_t(a.cols / a.m), &count)', tests: QUANT,
    why: 'a quantized nm matrix is sized as one code per group instead of n: its values part is refused',
  },
  {
    id: 'quant-lib-grid-size', area: 'quant', file: 'lib/quant.ts',
    from: 'if (t.size !== groups)', to: 'if (t.size < groups)', tests: ['test/quant.test.ts', ...SOLVERS],
    why: 'a solver grid with more scales than groups is accepted (the extra ones are silently ignored)',
  },
  {
    id: 'quant-disk-bits', area: 'quant', file: 'lib/safetensors-format.ts',
    from: 'q.bits !== bits || typeof q.symmetric', to: 'typeof q.symmetric', tests: QUANT_IO,
    why: 'a file saying dtype int4 with "quant": { "bits": 8 } is read with the metadata\'s 8 bits',
  },
  {
    id: 'quant-disk-float-quant', area: 'quant', file: 'lib/safetensors-format.ts',
    from: '} else if (r.quant !== undefined) {', to: '} else if (false) {', tests: QUANT_IO,
    why: 'a float matrix carrying "quant" metadata is accepted (and the quantization silently dropped)',
  },

  // ---- adapters: SLoRB (lib/slorb.ts, native/solvers/slorb.cpp), low-rank merges, training primitives ----
  {
    id: 'slorb-init-kept', area: 'adapters', file: 'lib/slorb.ts',
    from: 'if (!keep[r * cols + j]) acc += v;', to: 'acc += v;', tests: SLORB,
    why: 'slorb.init averages the kept weights too, not only what pruning removed',
  },
  {
    id: 'slorb-projection-group', area: 'adapters', file: 'lib/slorb.ts',
    from: 'p.fill(1, g * cols + g * k, g * cols + (g + 1) * k);', to: 'p.fill(1, g * cols + g * k, g * cols + (g + 1) * k - 1);', tests: SLORB,
    why: 'the group-sum projection P leaves out the last input of every group',
  },
  {
    id: 'slorb-projection-finite', area: 'adapters', file: 'lib/slorb.ts',
    from: 'checkFinite(term.projection, `${what}.projection`);', to: '', tests: SLORB,
    why: 'a projection holding NaN/Inf is accepted: every output of the layer becomes NaN',
  },
  {
    id: 'slorb-native-group-sum', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'for (int64_t j = 0; j < a.group_size; j++) s += xt[size_t(i * a.group_size + j)];', to: 'for (int64_t j = 0; j + 1 < a.group_size; j++) s += xt[size_t(i * a.group_size + j)];', tests: SLORB,
    why: 'the native group sum P·x drops the last input of every group',
  },
  {
    id: 'slorb-group-sums-tail-vector', area: 'adapters', file: 'native/solvers/slorb_avx512.cpp',
    from: 'for (int64_t j = 1; j < per; j++) v = _mm512_add_ps(v, load16<T>(x, o + 16 * j, __mmask16(0xffff)));', to: 'for (int64_t j = 1; j + 1 < per; j++) v = _mm512_add_ps(v, load16<T>(x, o + 16 * j, __mmask16(0xffff)));', tests: SLORB,
    why: 'the AVX-512 group sums P·x drop the last 16 inputs of every group of 32 or more',
  },
  {
    id: 'slorb-group-sums-token', area: 'adapters', file: 'native/solvers/slorb_avx512.cpp',
    from: 'const int64_t o = offset + i * group_size;', to: 'const int64_t o = i * group_size;', tests: SLORB,
    why: "the AVX-512 group sums read the first token's inputs for every token: at N > 1 every token but the first gets the wrong term",
  },
  {
    id: 'slorb-native-out-copy', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'const bool convert = a.out != static_cast<void*>(a.base) || a.out_dtype != DType::f32;', to: 'const bool convert = a.out_dtype == DType::f32;', tests: SLORB,
    why: 'the condition of the final conversion inverted: in the panels (N = 8..32 on AVX-512) and the blocked GEMM (N > 32, N >= 4 elsewhere), 16-bit outputs of a layer with an SLoRB term are never written',
  },
  {
    id: 'slorb-int8-row-scale', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'if (a.row_scales) decode(a.row_scales, a.row_scales_dtype, r0, R, rs);', to: 'if (false) decode(a.row_scales, a.row_scales_dtype, r0, R, rs);', tests: SLORB,
    why: "int8 S's row scales are dropped by the AVX-512 row-dots and panels paths: the term is off by the scale",
  },
  {
    id: 'slorb-row-scales-range', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'decode(a.row_scales, a.row_scales_dtype, r0, R, rs)', to: 'decode(a.row_scales, a.row_scales_dtype, 0, R, rs)', tests: SLORB,
    why: "every row range takes the first rows' int8 row scales: rows past a task's first slice get another row's scale",
  },
  {
    id: 'slorb-dots-token-stride', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'else for (int64_t r = 0; r < R; r++) b[r] += rs[r] * dt[r * rstep];', to: 'else for (int64_t r = 0; r < R; r++) b[r] += rs[r] * dt[r];', tests: SLORB,
    why: 'the row-major dots (2..7 tokens on AVX-512) read along the wrong axis when the output is [N, rows]: tokens get each other\'s terms',
  },
  {
    id: 'slorb-dots-tail', area: 'adapters', file: 'native/solvers/slorb_avx512.cpp',
    from: 'if (i < G) step(i, __mmask16((1u << (G - i)) - 1));', to: 'if (i < G) step(i, __mmask16(0));', tests: SLORB,
    why: 'the row dots skip the last G mod 16 groups (G not a multiple of 16)',
  },
  {
    id: 'slorb-dots-odd-row', area: 'adapters', file: 'native/solvers/slorb_avx512.cpp',
    from: 'if (r < r1) tokens<T, 1>', to: 'if (false) tokens<T, 1>', tests: SLORB,
    why: 'the row dots (2 rows per block) leave the last row of an odd slice without its term',
  },
  {
    id: 'slorb-panels-transpose', area: 'adapters', file: 'native/solvers/slorb_transpose.inl',
    from: 'r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);', to: 'r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);', tests: SLORB,
    why: "the panels' 16x16 transpose repeats the low 128-bit lanes: tokens 8..15 get the dots of tokens 0..7",
  },
  {
    id: 'slorb-panels-odd-groups', area: 'adapters', file: 'native/solvers/slorb_avx512.cpp',
    from: '_mm512_permutex2var_ps(acc[b][0], odd, acc[b][1])', to: '_mm512_permutex2var_ps(acc[b][0], even, acc[b][1])', tests: SLORB,
    why: "the panels (N = 8..32) add each row's even-group lanes twice and drop the odd groups of S·(P·x)",
  },
  {
    id: 'slorb-g-rounding', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'for (float& v : g_) v = round_to_dtype(v, a.x_dtype);', to: 'for (float& v : g_) v = round_to_dtype(v, DType::f32);', tests: SLORB,
    why: 'g = P·x is not rounded to the 16-bit activations\' dtype: the CPU term differs from the reference layer (and from the GPU)',
  },
  {
    id: 'slorb-replay-g-rounding', area: 'adapters', file: 'native/cuda/replay/replay_slorb.cpp',
    from: 'for (float& v : g) v = round_to_dtype(v, x_dtype);', to: 'for (float& v : g) v = round_to_dtype(v, DType::f32);', tests: ['test/slorb-gpu-replay.test.ts'],
    why: "the GPU sequence's replay leaves g in float32: slorb.cu's rounding to the activations' dtype is no longer mirrored",
  },
  {
    id: 'slorb-bf16-panels-x-dtype', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'panels_bf16_ = panels && a.x_dtype == DType::bf16 &&', to: 'panels_bf16_ = panels && a.x_dtype != DType::f32 &&', tests: SLORB,
    why: 'the bf16 panels run for f16 activations too: their f16-rounded g is rounded again to bf16',
  },
  {
    id: 'slorb-bf16-panels-pair-half', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: '<< (16 * (i % 2));', to: '<< 0;', tests: SLORB,
    why: "the bf16 panels' g pairs hold both groups in the low half (ORed): the odd groups' g is lost and the even ones are garbled",
  },
  {
    id: 'slorb-bf16-panels-i8-order', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: '_mm512_storeu_si512(d + q, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));', to: '_mm512_storeu_si512(d + q, (__m512i)_mm512_cvtne2ps_pbh(lo, hi));', tests: SLORB,
    why: "int8 S decoded to bf16 with the two 16-scale halves swapped: scales meet the wrong groups' g",
  },
  {
    id: 'slorb-bf16-panels-chunk', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'for (int64_t o0 = 0; o0 < O; o0 += kChunkOcts) {', to: 'for (int64_t o0 = 0; o0 < kChunkOcts && o0 < O; o0 += kChunkOcts) {', tests: SLORB,
    why: 'the bf16 panels stop int8 S after its first 32 octs (G > 256 loses the rest of its term)',
  },
  {
    id: 'slorb-bf16-panels-row-tail', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'const __mmask8 rm = __mmask8((1u << rows) - 1);', to: 'const __mmask8 rm = __mmask8(0xf);', tests: SLORB,
    why: "a slice's last block of fewer than 4 rows stores 4 rows' dots: it overwrites the next token's dots (and the row scales past them)",
  },
  {
    id: 'slorb-bf16-panels-token-block', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'const uint32_t* g = gO + tb / 16 * O * 64;', to: 'const uint32_t* g = gO;', tests: SLORB,
    why: 'the bf16 panels use the first 16 tokens\' g for every token block: tokens 16..31 get the wrong term',
  },
  {
    id: 'slorb-bf16-panels-pair-sums', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: '_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))', to: '_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))', tests: SLORB,
    why: "the octs panels' final adds take each even partial sum twice and drop the odd ones: half of every oct's pairs are lost",
  },
  {
    id: 'slorb-bf16-panels-last-oct', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'if (full < O) step(full,', to: 'if (false && full < O) step(full,', tests: SLORB,
    why: 'bf16 S drops its last, partial oct: with G not a multiple of 8 the last groups of S·(P·x) are lost',
  },
  {
    id: 'slorb-bf16-panels-vectors', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'switch (n - tb >= 16 ? 4 : (n - tb + 3) / 4) {', to: 'switch (n - tb >= 16 ? 4 : (n - tb) / 4) {', tests: SLORB,
    why: 'a token block whose count is not a multiple of 4 runs one vector of tokens too few: its last tokens get no term (N = 9 keeps token 8\'s stale dots)',
  },
  {
    id: 'slorb-bf16-panels-token-guard', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'if (t + 3 < n) _mm_mask_storeu_ps', to: 'if (t + 3 <= n) _mm_mask_storeu_ps', tests: SLORB,
    why: 'with N one short of a multiple of 4 (27) the panels store token N: its zero dots overwrite the row scales that follow the dots',
  },
  {
    id: 'slorb-gemv-bf16-tail', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'const __mmask32 m = left >= 32 ? ~__mmask32(0) : __mmask32((1u << left) - 1);', to: 'const __mmask32 m = ~__mmask32(0);', tests: SLORB,
    why: "the one-token bf16 dots read whole 32-group steps: with G not a multiple of 32 a row's last step takes the next row's scales",
  },
  {
    id: 'slorb-gemv-bf16-sum', area: 'adapters', file: 'native/solvers/slorb_avx512_bf16.cpp',
    from: 'for (int j = 1; j < 16; j++) sum = _mm512_add_ps(sum, acc[j]);', to: 'for (int j = 1; j < 8; j++) sum = _mm512_add_ps(sum, acc[j]);', tests: SLORB,
    why: "the one-token bf16 dots add 8 of each row's 16 partial sums after the transpose: half of every S·g is lost",
  },
  {
    id: 'slorb-gemv-bf16-gate', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'a.n == 1 && a.x_dtype == DType::bf16 && a.scales_dtype == DType::bf16 && cpu_features().avx512bf16',
    to: 'a.n == 1 && a.x_dtype == DType::bf16 && (a.scales_dtype == DType::bf16 || a.scales_dtype == DType::f16) && cpu_features().avx512bf16',
    tests: SLORB, why: 'f16 S goes to the one-token bf16 dots and its halves are read as bf16',
  },
  {
    id: 'slorb-panels-pair-layout', area: 'adapters', file: 'native/solvers/slorb.cpp',
    from: 'gP_[size_t(t / 16 * block + i / 2 * 32 + t % 16 * 2 + i % 2)]', to: 'gP_[size_t(t / 16 * block + i / 2 * 32 + t % 16 * 2)]', tests: SLORB,
    why: "the panels' g (pairs of groups per token) keeps only each pair's second group: S's even groups meet the odd group sums",
  },
  {
    id: 'slorb-gpu-group-sum', area: 'adapters', file: 'native/cuda/kernels/slorb_index.h',
    from: 'for (int64_t j = 0; j < k; ++j) s += load(base + j);', to: 'for (int64_t j = 0; j + 1 < k; ++j) s += load(base + j);',
    tests: ['test/slorb-gpu-replay.test.ts'],
    why: "slorb_group_sums (GPU) leaves each group's last input out of P·x",
  },
  {
    id: 'slorb-gpu-add-row', area: 'adapters', file: 'native/cuda/kernels/slorb_index.h',
    from: 'for (int64_t i = lane; i < G; i += 32) acc += s(r * G + i) * g(t * G + i);', to: 'for (int64_t i = lane; i < G; i += 32) acc += s(r * G + i) * g(i);',
    tests: ['test/slorb-gpu-replay.test.ts'],
    why: "slorb_add (GPU) multiplies every token's row by the first token's group sums",
  },
  {
    id: 'slorb-quantize-stored-scale', area: 'adapters', file: 'lib/slorb.ts',
    from: 'const rs = rsT.toFloat32Array();', to: 'const rs = amax.map((a) => a / 127);', tests: SLORB,
    why: 'slorb.quantize picks the int8 codes for the unrounded row scale, not the float16 one stored',
  },
  {
    id: 'slorb-disk-version', area: 'adapters', file: 'lib/safetensors-format.ts',
    from: 'if (r.version < 2 || typeof sl !== \'object\'', to: 'if (typeof sl !== \'object\'', tests: [...SLORB, 'test/untrusted.test.ts'],
    why: 'a version-1 description carrying an SLoRB term is accepted (a version-1 reader would drop the term silently)',
  },
  {
    id: 'slorb-disk-view', area: 'adapters', file: 'lib/safetensors.ts',
    from: 'scales: this.getTensor(names.scales).clone(),', to: 'scales: this.getTensor(names.scales),', tests: SLORB,
    why: 'a loaded SLoRB term is a view of the mapped file: the layer changes when the file bytes do after get() (found by npm run fuzz)',
  },
  {
    id: 'merge-dense-pruned', area: 'adapters', file: 'lib/lowrank-merge.ts',
    from: '(k, v) => (v === 0 ? 0 : add(v, Math.floor(k / cols), k % cols))', to: '(k, v) => add(v, Math.floor(k / cols), k % cols)', tests: ADAPTERS,
    why: 'a merge into a dense-format SparseMatrix fills its pruned (zero) positions',
  },
  {
    id: 'merge-csr-row-of', area: 'adapters', file: 'lib/lowrank-merge.ts',
    from: 'rowOf.fill(r, rowPtr[r]!, rowPtr[r + 1]!);', to: 'rowOf.fill(r, rowPtr[r]!, rowPtr[r + 1]! - 1);', tests: ADAPTERS,
    why: 'CSR merge: the last value of each row gets the update of row 0',
  },
  {
    id: 'merge-tcsl-swizzle', area: 'adapters', file: 'lib/lowrank-merge.ts',
    from: 'rc[2 * k + 1] = 64 * tx + ((pos & 63) ^ ((lr & 7) << 3));', to: 'rc[2 * k + 1] = 64 * tx + (pos & 63);', tests: ADAPTERS,
    why: 'tiled-csl merge forgets the column swizzle: updates land on the wrong columns',
  },
  {
    id: 'merge-f16-range', area: 'adapters', file: 'lib/lowrank-merge.ts',
    from: "(dtype === 'float16' && Math.abs(f32[k]!) > F16_MAX)", to: 'false', tests: ADAPTERS,
    why: 'a merged value beyond float16 range becomes Inf silently instead of ERR_NUMERIC',
  },
  {
    id: 'merge-mask-zeroes', area: 'adapters', file: 'lib/lowrank-merge.ts',
    from: ': keep ? 0 : v;', to: ': v;', tests: ADAPTERS,
    why: 'a dense merge with an explicit mask keeps the old values at pruned positions instead of zeroing them',
  },
  {
    id: 'training-decay-ramp-clamp', area: 'adapters', file: 'lib/training.ts',
    from: 'lambdaMax * Math.min(1, step / tInc)', to: 'lambdaMax * (step / tInc)', tests: ADAPTERS,
    why: 'the AST decay keeps growing past increaseSteps instead of staying at lambdaMax',
  },
  {
    id: 'training-decay-kept', area: 'adapters', file: 'lib/training.ts',
    from: 'out[i] = keep[i] ? 0 : lam * data[i]!;', to: 'out[i] = lam * data[i]!;', tests: ADAPTERS,
    why: 'masked decay pulls the kept weights towards zero too',
  },
  {
    id: 'training-refresh-nm-tie', area: 'adapters', file: 'lib/training.ts',
    from: 'idx.sort((a, b) => sc[b]! - sc[a]! || a - b);', to: 'idx.sort((a, b) => sc[b]! - sc[a]! || b - a);', tests: ADAPTERS,
    why: 'n:m mask refresh: ties keep the higher column (the nm packer keeps the lower one, so the mask and the packed weight disagree)',
  },
  {
    id: 'training-refresh-drop-count', area: 'adapters', file: 'lib/training.ts',
    from: 'const drop = Math.floor(p.sparsity * cols);', to: 'const drop = Math.round(p.sparsity * cols);', tests: ADAPTERS,
    why: 'unstructured mask refresh drops round(s·cols) per row instead of floor(s·cols)',
  },
  {
    id: 'training-importance-grad-a', area: 'adapters', file: 'lib/training.ts',
    from: 'g += gB.data[bi + t]! * a + b * gAt[aj + t]!;', to: 'g += gB.data[bi + t]! * a;', tests: ADAPTERS,
    why: 'LoRAPrune importance leaves out the B·∇A term of the estimated gradient',
  },
  {
    id: 'training-importance-scale', area: 'adapters', file: 'lib/training.ts',
    from: 'const v = Math.abs((data[i * cols + j]! + scale * ba) * g);', to: 'const v = Math.abs((data[i * cols + j]! + ba) * g);', tests: ADAPTERS,
    why: 'LoRAPrune importance ignores the adapter scale s in W + s·B·A',
  },
  {
    id: 'training-importance-row-group', area: 'adapters', file: 'lib/training.ts',
    from: "else if (agg.kind === 'rowGroup') sums[Math.floor(i / size)] += v;", to: "else if (agg.kind === 'rowGroup') sums[i % (rows / size)] += v;", tests: ADAPTERS,
    why: 'row groups are taken interleaved (i mod groups) instead of consecutive rows (one attention head)',
  },

  // ---- sizes: checked size arithmetic (native/core/sizes.h, lib/shape.ts) ----
  {
    id: 'sizes-elements-limit', area: 'sizes', file: 'native/core/sizes.h',
    from: 'e > uint64_t(kMaxElements)) return false;', to: 'e >= uint64_t(kMaxElements)) return false;', tests: ['ctest:core_test'],
    why: 'a matrix of exactly 2^40 elements (the documented limit) is refused',
  },
  {
    id: 'sizes-negative-dim', area: 'sizes', file: 'native/core/sizes.h',
    from: 'if (rows < 0 || cols < 0 || rows > kMaxDim', to: 'if (rows > kMaxDim', tests: ['ctest:core_test'],
    why: 'a negative dimension passes when the other is 0 (the product is 0): a [-1, 0] matrix is accepted',
  },
  {
    id: 'sizes-bytes-second-multiply', area: 'sizes', file: 'native/core/sizes.h',
    from: 'return mul_checked(rows, per_row, &n) && mul_checked(n, element_bytes, out);', to: 'return mul_checked(rows, per_row, &n) && (*out = n * element_bytes, true);', tests: ['ctest:core_test'],
    why: 'rows x per_row is checked but the multiplication by the element size wraps around',
  },
  {
    id: 'shape-numel-limit', area: 'sizes', file: 'lib/shape.ts',
    from: 'if (d > MAX_ELEMENTS / n)', to: 'if (d >= MAX_ELEMENTS / n)', tests: ['test/untrusted.test.ts', 'test/errors.test.ts'],
    why: 'a tensor of exactly 2^40 elements (the documented limit) is refused as ERR_SHAPE',
  },
  {
    id: 'shape-zero-dim', area: 'sizes', file: 'lib/shape.ts',
    from: '  if (shape.includes(0)) return 0;\n', to: '', tests: ['test/untrusted.test.ts', 'test/errors.test.ts'],
    why: 'an empty shape with a huge other dimension ([2^41, 0]) is refused instead of having 0 elements',
  },
  {
    id: 'shape-matrix-cols-dim', area: 'sizes', file: 'lib/shape.ts',
    from: 'if (shape[0] > MAX_DIM || shape[1] > MAX_DIM)', to: 'if (shape[0] > MAX_DIM)', tests: ['test/untrusted.test.ts', 'test/errors.test.ts'],
    why: 'a weight with more than 2^31-1 columns is accepted: its int32 column indices would wrap',
  },

  // ---- fuzz: the fuzzer's generator (scripts/fuzz), whose cases CI runs under ASan ----
  {
    id: 'fuzz-assemble-prefix', area: 'fuzz', file: 'scripts/fuzz/mutate.ts',
    from: 'len.writeBigUInt64LE(BigInt(h.length));', to: 'len.writeBigUInt64LE(BigInt(h.length + 1));', tests: FUZZ,
    why: 'a rewritten header gets a length prefix one byte off: every header-level lie is refused as bad JSON and never reaches the layer it aims at',
  },
  {
    id: 'fuzz-lying-parts-target', area: 'fuzz', file: 'scripts/fuzz/mutate.ts',
    from: "Object.entries(header).filter(([k]) => k.startsWith('w.'))", to: "Object.entries(header).filter(([k]) => k !== '__metadata__')", tests: FUZZ,
    why: 'lying-parts corrupts any tensor (the bias, a plain one) instead of the matrix parts whose validation it is meant to test',
  },
  {
    id: 'fuzz-header-length-offset', area: 'fuzz', file: 'scripts/fuzz/mutate.ts',
    from: 'out.writeBigUInt64LE(v < 0n ? 0n : v, 0);', to: 'out.writeBigUInt64LE(v < 0n ? 0n : v, 8);', tests: FUZZ,
    why: 'header-length writes its boundary value over the start of the JSON instead of the prefix',
  },
  {
    id: 'fuzz-case-seed', area: 'fuzz', file: 'scripts/fuzz/rng.ts',
    from: 'Math.imul(i + 1, 0x165667b1)', to: 'Math.imul(1, 0x165667b1)', tests: FUZZ,
    why: 'every case of a strategy gets the same seed: a run of 400 cases tests one file 400 times',
  },
  // ---- structured: scores, plans and surgery (lib/model/structure.ts, structured-plan.ts, shrink.ts) ----
  {
    id: 'structured-plan-ratio-one', area: 'structured', file: 'lib/model/structured-plan.ts',
    from: 'v < 0 || v >= 1) throw new PlanError(field', to: 'v < 0 || v > 1) throw new PlanError(field', tests: STRUCTURED,
    why: 'a ratio of 1 is accepted: every head or channel of a block is removed and the block computes nothing',
  },
  {
    id: 'structured-plan-count-max', area: 'structured', file: 'lib/model/structured-plan.ts',
    from: 'if (v > max) throw new PlanError(field', to: 'if (v > max + 1) throw new PlanError(field', tests: STRUCTURED,
    why: 'a target shape one larger than the model (e.g. 33 heads of 32) is accepted instead of a typed error',
  },
  {
    id: 'structured-flap-attention-square', area: 'structured', file: 'lib/model/structure.ts',
    from: 'attention: oVar.map((v, j) => (v * oCol[j]!) ** 2)', to: 'attention: oVar.map((v, j) => v * oCol[j]!)', tests: STRUCTURED,
    why: "FLAP's attention score loses its square (as FLAP's code computes it): heads and channels rank against each other differently",
  },
  {
    id: 'structured-standardize-sample', area: 'structured', file: 'lib/model/structure.ts',
    from: 'const std = Math.sqrt(ss / Math.max(1, n - 1));', to: 'const std = Math.sqrt(ss / Math.max(1, n));', tests: STRUCTURED,
    why: "FLAP's standardization uses the population std instead of the sample std: global rankings shift between layers of different widths",
  },
  {
    id: 'structured-compensation-kept', area: 'structured', file: 'lib/model/shrink.ts',
    from: 'for (let j = 0; j < cols; j++) if (!kept[j]) s += W[r * cols + j]! * mean[j]!;', to: 'for (let j = 0; j < cols; j++) if (kept[j]) s += W[r * cols + j]! * mean[j]!;', tests: STRUCTURED,
    why: "FLAP's bias compensation sums the kept channels' mean contribution instead of the removed ones': the shrunk model's outputs shift",
  },
  {
    id: 'structured-kv-rows', area: 'structured', file: 'lib/model/shrink.ts',
    from: 'kvKeep = expand(p.attention, hd)', to: 'kvKeep = expand(p.attention, r * hd)', tests: STRUCTURED,
    why: 'with GQA, k/v rows are removed at the query heads\' stride: the wrong kv heads are kept (or the slice runs past the weight)',
  },
  {
    id: 'owl-spread', area: 'structured', file: 'lib/model/owl.ts',
    from: '((r - lo) / (hi - lo)) * lambda * 2', to: '((r - lo) / (hi - lo)) * lambda', tests: OWL,
    why: "OWL's per-block sparsities spread ±λ/2 around the target instead of ±λ",
  },
  {
    id: 'owl-threshold', area: 'structured', file: 'lib/model/owl.ts',
    from: 'this.#threshold = (M * this.#sum) / Math.max(1, this.#count);', to: 'this.#threshold = this.#sum / Math.max(1, this.#count);', tests: OWL,
    why: 'the outlier threshold forgets M: every weight above the mean counts as an outlier',
  },

  // ---- solvers beyond SparseGPT (native/solvers/ria.cpp, dsnot.cpp, alps.cpp) ----
  {
    id: 'ria-relative-colsum', area: 'solvers', file: 'native/solvers/ria.cpp',
    from: 'a / colsum[size_t(c)] + a / rowsum[size_t(r)]', to: 'a / rowsum[size_t(r)] + a / rowsum[size_t(r)]', tests: BEYOND,
    why: "RIA's relative importance drops the column term: it degenerates to a row-normalized magnitude",
  },
  {
    id: 'ria-activation-power', area: 'solvers', file: 'native/solvers/ria.cpp',
    from: 'std::pow(std::sqrt(sumsq[size_t(j)]), opt.a)', to: 'std::sqrt(sumsq[size_t(j)])', tests: BEYOND,
    why: "RIA ignores its exponent a: the activation norm enters to the power 1 instead of 0.5",
  },
  {
    id: 'dsnot-grow-end', area: 'solvers', file: 'native/solvers/dsnot.cpp',
    from: 'const int64_t gi = err > 0 ? grow[size_t(ghi--)] : grow[size_t(glo++)];', to: 'const int64_t gi = err > 0 ? grow[size_t(glo++)] : grow[size_t(ghi--)];', tests: BEYOND,
    why: 'DSnoT grows from the wrong end of its candidate list: swaps add to the reconstruction error instead of offsetting it',
  },
  {
    id: 'alps-rho-growth', area: 'solvers', file: 'native/solvers/alps.cpp',
    from: 'rho *= 1.3;', to: 'rho *= 1.03;', tests: BEYOND,
    why: "ALPS's penalty grows 1.03x instead of 1.3x when the support changes a lot: it needs many more iterations or stops unconverged",
  },
  // ---- quantized kernels (native/cpu/qspmm_*): index math and zero points ----
  {
    id: 'qspmm-lut-dense-tail', area: 'cpu', file: 'native/cpu/qspmm_avx512_lut.cpp',
    from: 'for (int64_t c = nb * 128; c < cols; c += 32) {  // the tail', to: 'for (int64_t c = nb * 128; c + 32 < cols; c += 32) {  // the tail', tests: QUANT,
    why: "the dense int4 GEMV skips the last 32 columns past its 128-column blocks: their products are missing from every row",
  },
  {
    id: 'qspmm-lut-dense-tail-high-nibble', area: 'cpu', file: 'native/cpu/qspmm_avx512_lut.cpp',
    from: '_mm512_load_ps(xs + c + 16)', to: '_mm512_load_ps(xs + c)', tests: QUANT,
    why: "in the dense int4 tail the high nibbles (odd columns 16..31 of the chunk) multiply the first 16 activations",
  },
  {
    id: 'qspmm-lut-sym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx512_lut.cpp',
    from: 'const float z = zeros ? float(zeros[gi]) : 8.f;', to: 'const float z = zeros ? float(zeros[gi]) : 7.f;', tests: QUANT,
    why: 'symmetric int4 codes are centred on 7 instead of 8 in the table-lookup kernels: every weight is off by one scale step',
  },
  {
    id: 'qspmm-lut-b256-select', area: 'cpu', file: 'native/cpu/qspmm_avx512_lut.cpp',
    from: 'if (a.n == 2 && a.m == 4 && a.cols % 256 == 0)', to: 'if (a.n == 2 && a.m == 4 && a.cols % 128 == 0)', tests: QUANT,
    why: 'the 256-column 2:4 kernel is chosen for widths that are only a multiple of 128: it reads half a block past each row',
  },
  {
    id: 'qspmm-portable-sym-zero', area: 'cpu', file: 'native/cpu/qspmm_portable.cpp',
    from: 'const float z = float(zeros ? zeros[gi] : quant_sym_zero(q.bits));', to: 'const float z = float(zeros ? zeros[gi] : quant_sym_zero(4));', tests: QUANT,
    why: 'the portable kernel centres symmetric int8 codes on the int4 zero (8 instead of 128)',
  },
  {
    id: 'qspmm-x8-dense-sym-start', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(ls, 3))', to: '_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(ls, 2))', tests: QUANT,
    why: "the dense int4 int8-activation GEMV starts its symmetric accumulators at -4·Σ xq instead of -8·Σ xq: every weight is off by four scale steps",
  },
  {
    id: 'qspmm-x8-row-scales-run', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'const bool fresh = (c & ((int64_t(16) << gs) - 1)) == 0;', to: 'const bool fresh = (c & ((int64_t(8) << gs) - 1)) == 0;', tests: QUANT,
    why: "the x8 kernels' cached run of 16 group scales is reloaded every 8 groups while the lanes still index it from the run's start: groups 8-15 of each run take the wrong scales",
  },
  {
    id: 'qspmm-x8-dense-prepare-stage', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'return kernel<kPairs>(qgemv_dense4_x8,', to: 'return kernel(qgemv_dense4_x8,', tests: QUANT,
    why: "the dense int4 x8 GEMV's prepare rounds x without staging its even / odd column pairs and lane sums: the kernel reads stale or zero pairs",
  },
  {
    id: 'qspmm-x8-lane-groups-shift', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm_cvtsi32_si128(group_shift(G))', to: '_mm_cvtsi32_si128(group_shift(G) + 1)', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the dense and 2:4 int4 x8 GEMVs give a block's lanes half their group numbers: from G = 32 to 64 columns in a block take the wrong group's scale",
  },
  {
    id: 'qspmm-x8-nm24-zero-bytes', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_mullo_epi32(lidx, _mm512_set1_epi32(0x01010101))', to: '_mm512_mullo_epi32(lidx, _mm512_set1_epi32(0x00000001))', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the asymmetric 2:4 int4 x8 GEMV picks only a lane's first byte's zero point from its group: the other three take group 0's",
  },
  {
    id: 'qspmm-x8-nm24-scale-run-store', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'if (rs.next(w.scales, xq.scale, r, c, w.G, w.gpr, lidx) && OneGroup)', to: 'if (rs.next(w.scales, xq.scale, r, c, w.G, w.gpr, lidx) && OneGroup && c == 0)', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the 2:4 int4 x8 GEMV (G >= 128) keeps the first 16 groups' scales in memory for the whole row: every block past them takes a stale scale",
  },
  {
    id: 'qspmm-x8-nm24-one-group-index', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'const int64_t gi = (c >> gs) & 15;', to: 'const int64_t gi = (c >> gs) & 7;', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the 2:4 int4 x8 GEMV (G >= 128) picks the block's scale within a run of 8 groups instead of 16: groups 8..15 of each run take 0..7's",
  },
  {
    id: 'qspmm-x8-nm24-one-group-gate', area: 'cpu', file: 'native/formats/quant.h',
    from: 'a.quant.bits == 4 && a.quant.group >= 128;', to: 'a.quant.bits == 4 && a.quant.group >= 64;', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "2:4 int4 at G = 64 gets code sums and the x8 GEMV's one-group path: a 128-column block's second group takes the first's scale",
  },
  {
    id: 'qspmm-x8-nm24-sum-correction', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_mul_ps(cs, _mm512_set1_ps(128.f))', to: '_mm512_mul_ps(cs, _mm512_set1_ps(127.f))', tests: QUANT,
    why: "the 2:4 int4 x8 GEMV (G >= 128) takes 127 instead of 128 times each group's code sum off the row: x + 128's bias is left in",
  },
  {
    id: 'qspmm-x8-nm24-sum-runs', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'code_sums16(w.code_sums + at, run.m)', to: 'code_sums16(w.code_sums + at - g, run.m)', tests: QUANT,
    why: "the 2:4 int4 x8 GEMV's row correction reads the first 16 groups' code sums for every run of 16: rows past 16 groups are off",
  },
  {
    id: 'qspmm-x8-nm24-sym16-scale', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_mul_ps(rs.v[int(i)], _mm512_set1_ps(1.f / 16))', to: '_mm512_mul_ps(rs.v[int(i)], _mm512_set1_ps(1.f / 8))', tests: QUANT,
    why: "the symmetric 2:4 int4 x8 GEMV scales its 16·(code − 8) products by 1/8: every block counts twice",
  },
  {
    id: 'qspmm-x8-nm24-x-unsigned', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'x0 = _mm512_xor_si512(x0, sign), x1 = _mm512_xor_si512(x1, sign);', to: 'x0 = _mm512_xor_si512(x0, sign);', tests: QUANT,
    why: "the 2:4 int4 x8 GEMV (G >= 128) biases only x's first 64 columns of a block by 128: kept columns in the second half read xq as unsigned",
  },
  {
    id: 'qspmm-x8-nm24-signed-codes', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_sllv_epi16(cb, t.shl)', to: '_mm512_sllv_epi16(cb, t.shift)', tests: QUANT,
    why: "the symmetric 2:4 int4 x8 GEMV shifts the codes' second copy instead of the first: first kept values take the second's codes",
  },
  {
    id: 'qspmm-x8-nm24-asym-zero-group', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'w.zeros[(r + i) * w.gpr + (c >> gs)]', to: 'w.zeros[(r + i) * w.gpr + (c >> 7)]', tests: QUANT,
    why: "the asymmetric 2:4 int4 x8 GEMV at G = 256 takes a block's zero point from group c / 128: the second half of the row reads past its groups",
  },
  {
    id: 'qspmm-x8-group-run-mask', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '__mmask16((1u << (gpr - g)) - 1); }', to: '__mmask16((1u << (gpr - g - 1)) - 1); }', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the x8 GEMVs' last run of 16 groups drops its last group when a row's groups are not a multiple of 16: its scale (and code sum) reads as 0",
  },
  {
    id: 'qspmm-x8-bitmap-sums-correction', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_mul_ps(cs, _mm512_set1_ps(2048.f))', to: '_mm512_mul_ps(cs, _mm512_set1_ps(2040.f))', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the symmetric bitmap int4 x8 GEMV (G >= 128) takes 127.5 instead of 128 times each group's code sum off the row: x + 128's bias is left in",
  },
  {
    id: 'qspmm-x8-bitmap-sums-runs', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'for (g = 0; g < gpr; g += 16) {', to: 'for (g = 0; g < gpr && g < 16; g += 16) {', tests: QUANT_X8_GEMV,
    why: "the symmetric bitmap int4 x8 GEMV corrects only a row's first 16 groups: rows of more than 16 groups keep the rest's x + 128 bias",
  },
  {
    id: 'qspmm-x8-bitmap-sums-sym16-scale', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'Sums ? _mm512_mul_ps(v, _mm512_set1_ps(1.f / 16)) : v', to: 'Sums ? _mm512_mul_ps(v, _mm512_set1_ps(1.f / 8)) : v', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: 'the symmetric bitmap int4 x8 GEMV scales its 16·(code − 8) group sums by 1/8: every group counts twice',
  },
  {
    id: 'qspmm-x8-bitmap-sums-x-unsigned', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'if constexpr (Sums) xv = _mm512_xor_si512(xv, _mm512_set1_epi8(char(0x80)));', to: 'if constexpr (Sums) xv = _mm512_xor_si512(xv, _mm512_set1_epi8(char(0x00)));', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: 'the symmetric bitmap int4 x8 GEMV leaves x signed while vpdpbusd reads it as unsigned: negative x count as x + 256',
  },
  {
    id: 'qspmm-x8-bitmap-sums-expand-zero', area: 'cpu', file: 'native/cpu/avx512_expand.inl',
    from: 'inline __m512i expand_b64(__m512i v, __mmask64 k) {\n  __asm__("vpexpandb %0, %0%{%1%}%{z%}"', to: 'inline __m512i expand_b64(__m512i v, __mmask64 k) {\n  __asm__("vpexpandb %0, %0%{%1%}"', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the symmetric bitmap int4 x8 GEMV's expand keeps the source's bytes in the pruned columns instead of zeros: they add codes that are not there",
  },
  {
    id: 'qspmm-x8-sym16-spread-ctl', area: 'cpu', file: 'native/cpu/qspmm_x8_rows.inl',
    from: '_mm512_set_epi64(0x3834302c2824201c, 0x1814100c0804003c, 0x3834302c2824201c, 0x1814100c0804003c,', to: '_mm512_set_epi64(0x3834302c2824201c, 0x1814100c08040000, 0x3834302c2824201c, 0x1814100c0804003c,', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: 'the symmetric 16·(code − 8) spread takes code 48 of every 64 from the wrong 4 bits: its low nibble is dropped',
  },
  {
    id: 'qspmm-x8-sym16-spread-nibble', area: 'cpu', file: 'native/cpu/qspmm_x8_rows.inl',
    from: '_mm512_multishift_epi64_epi8(ctl, q), _mm512_set1_epi8(char(0xf0))', to: '_mm512_multishift_epi64_epi8(ctl, q), _mm512_set1_epi8(char(0xf8))', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the symmetric 16·(code − 8) spread keeps a bit of the neighbouring nibble below each code: odd codes carry their even neighbour's bit 3",
  },
  {
    id: 'qspmm-x8-bitmap-sums-select', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'return quant_code_sums(a) ? kernel<kGroupLanes>(qgemv_bitmap4_sums_x8', to: 'return false ? kernel<kGroupLanes>(qgemv_bitmap4_sums_x8', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: 'symmetric bitmap int4 at G >= 128 never takes the code sums GEMV',
  },
  {
    id: 'quant-code-sums-bitmap-asym', area: 'quant', file: 'native/formats/quant.h',
    from: 'a.format == Format::bitmap && !a.quant.asym', to: 'a.format == Format::bitmap', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: 'asymmetric bitmap int4 matrices get code sums and the GEMV that reads every code as symmetric: their zero points are ignored',
  },
  {
    id: 'quant-code-sums-bitmap', area: 'quant', file: 'native/formats/quant.h',
    from: 'a.format == Format::bitmap && !a.quant.asym', to: 'false && !a.quant.asym', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: 'symmetric bitmap int4 matrices carry no code sums: the code sums GEMV is never selected',
  },
  {
    id: 'quant-code-sums-asym-zero', area: 'quant', file: 'native/formats/quant.cpp',
    from: '(zeros ? int(zeros[g]) : zero)', to: '(zero)', tests: QUANT,
    why: 'the code sums of an asymmetric 2:4 int4 matrix count every zero point as 8',
  },
  {
    id: 'quant-code-sums-pack', area: 'quant', file: 'native/formats/quant.cpp',
    from: '  derive_quant_aux(out);\n  return Status::Ok();', to: '  return Status::Ok();', tests: QUANT,
    why: 'fromDense makes 2:4 and symmetric bitmap int4 matrices without their code sums: the int8 GEMVs fall back to the general kernels',
  },
  {
    id: 'quant-code-sums-copy', area: 'quant', file: 'native/formats/validate.cpp',
    from: '  derive_quant_aux(out);\n  return st;', to: '  return st;', tests: QUANT,
    why: 'fromParts and loaded matrices come without their code sums: the 2:4 and bitmap code sums GEMVs are never selected for them',
  },
  {
    id: 'lib-resident-bytes', area: 'lib', file: 'lib/sparse-matrix.ts',
    from: 'get residentBytes(): number { return this.byteLength + this.#derivedBytes; }', to: 'get residentBytes(): number { return this.byteLength; }', tests: QUANT,
    why: "residentBytes leaves out the code sums a 2:4 or symmetric bitmap int4 matrix keeps in memory",
  },
  {
    id: 'quant-resident-bytes-native', area: 'quant', file: 'native/addon/matrix_binding.cpp',
    from: 'o.Set("derivedBytes", double(box->m->aux.size()));', to: 'o.Set("derivedBytes", double(0));', tests: QUANT,
    why: 'the native matrix reports no derived bytes: residentBytes equals byteLength for matrices with code sums',
  },
  {
    id: 'quant-code-sums-view', area: 'quant', file: 'native/formats/format.cpp',
    from: 'v.aux = {aux.data(), aux.size()};', to: 'v.aux = {};', tests: QUANT,
    why: "views drop the matrix's derived kernel data: the 2:4 and bitmap code sums GEMVs at G >= 128 are never selected",
  },
  {
    id: 'qspmm-x8-bitmap-workspace', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'SpmmKernel k{fn, XLayout::k_major, name, S == kGroupLanes, 1};', to: 'SpmmKernel k{fn, XLayout::k_major, name, S == kPairs, 1};', tests: QUANT,
    why: 'the bitmap int4 x8 GEMV gets no per-task scratch: it spreads its codes through a null pointer',
  },
  {
    id: 'qspmm-x8-nm24-mask-qwords', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'm = _mm512_mask_set1_epi64(_mm512_set1_epi64(q0), 0xCC, q1);', to: 'm = _mm512_mask_set1_epi64(_mm512_set1_epi64(q0), 0xF0, q1);', tests: QUANT,
    why: "the 2:4 int4 x8 GEMV broadcasts the mask's second 8 bytes to the wrong qwords: in every whole 128-column block, groups 8-15 and 16-23 pick x by each other's masks",
  },
  {
    id: 'qspmm-x8-nm24-row-stride', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '      mp += wpr, cp += rb;', to: '      mp += wpr, cp += rb / 2;', tests: QUANT,
    why: "the 2:4 int4 x8 GEMV steps half a row of codes per row of a pass: every row but the first of each pass multiplies another row's codes",
  },
  {
    id: 'qspmm-x8-bitmap-sym-start', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(gl, 3));', to: 'const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(gl, 2));', tests: QUANT,
    why: 'the bitmap int4 int8-activation GEMV starts its symmetric group sums at -4·Σ xq instead of -8·Σ xq: every column is off by four scale steps',
  },
  {
    id: 'qspmm-x8-bitmap-scale-run', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'if (G < 64 && (g & 15) == 0) {', to: 'if (G < 64 && (g & 7) == 0) {', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the bitmap x8 GEMV at G = 32 reloads its run of 16 group scales every 8 groups while indexing it by g mod 16: groups 8-15 of each run take the wrong scales",
  },
  {
    id: 'qspmm-x8-bitmap-odd-row-start', area: 'cpu', file: 'native/cpu/qspmm_x8_rows.inl',
    from: '  return ub + (v0 & 1);', to: '  return ub;', tests: [...QUANT, ...QUANT_X8],
    why: 'a bitmap row whose codes start mid-byte (odd rowPtr) reads the previous row\'s last code first, in the x8 GEMV and GEMM alike: every code of the row is shifted by one',
  },
  {
    id: 'qspmm-x8-bitmap-row-mask-base', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '(i < 2 ? mk : mk + 2 * ms) + (i & 1) * ms', to: '(i < 2 ? mk : mk + ms) + (i & 1) * ms', tests: QUANT,
    why: "the bitmap x8 GEMV's third and fourth rows of a pass read the second and third rows' masks",
  },
  {
    id: 'qspmm-x8-bitmap-narrow-wide-step', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'if (Narrow && __builtin_expect(n <= 32, 1)) return', to: 'if (Narrow) return', tests: QUANT_X8_GEMV,
    why: "the bitmap x8 GEMV's Narrow passes read 32 code bytes for a step keeping more than 32 columns: its codes past the 32nd are garbage",
  },
  {
    id: 'qspmm-x8-bitmap-pass-row-scales', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '_mm512_set1_ps(xq.row_scales[i * rs_stride + g])', to: '_mm512_set1_ps(xq.row_scales[g])', tests: [...QUANT, ...QUANT_X8_GEMV],
    why: "the bitmap x8 GEMV at G >= 64 scales every row of a pass by the first row's group scales",
  },
  {
    id: 'qspmm-x8-dense-tail-block', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'if (c < w.cols) block(c, std::false_type{});\n  unroll<R>([&](auto i) SK_UNROLLED { out.store(r + i * step', to: 'if (false) block(c, std::false_type{});\n  unroll<R>([&](auto i) SK_UNROLLED { out.store(r + i * step', tests: QUANT,
    why: 'the dense int4 x8 GEMV skips the last block of a row whose columns are not a multiple of 128',
  },
  {
    id: 'qspmm-x8-nm24-tail-block', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'if (c < w.cols) block(c, std::false_type{});\n  if constexpr (OneGroup)', to: 'if (false) block(c, std::false_type{});\n  if constexpr (OneGroup)', tests: QUANT,
    why: 'the 2:4 int4 x8 GEMV skips the last block of a row whose columns are not a multiple of 128',
  },
  {
    id: 'qspmm-x8-dense-quarter-store', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'out.store(r + i * step, 0', to: 'out.store(r + i, 0', tests: QUANT,
    why: 'the dense int4 x8 GEMV computes rows a quarter of the task apart but writes them to adjacent outputs',
  },
  {
    id: 'qspmm-nm24-int8-sym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx512.cpp',
    from: 'const int z = Asym ? A.zero(gi) : 128;', to: 'const int z = Asym ? A.zero(gi) : 127;', tests: QUANT,
    why: 'the AVX-512 2:4 int8 GEMV centres symmetric codes on 127: every kept weight is off by one scale step',
  },
  {
    id: 'qspmm-x-planes4', area: 'cpu', file: 'native/cpu/qspmm.h',
    from: 'ws[c + 16 * k + i] = x[c + 4 * i + k];', to: 'ws[c + 16 * k + i] = x[c + 4 * i];', tests: QUANT,
    why: "x's four planes (the AVX-512 2:4 int8 and table-lookup GEMVs) are staged from the first column of every four: three of four weights meet the wrong activation",
  },
  {
    id: 'qspmm-nm24-int8-g32-half', area: 'cpu', file: 'native/cpu/qspmm_avx512.cpp',
    from: '16 * k + (c & 32) / 4);', to: '16 * k);', tests: QUANT,
    why: "the AVX-512 2:4 int8 GEMV at G = 32 reads the first half of the 64-column block's x planes for the second 32 columns too",
  },
  {
    id: 'qspmm-x8-bitmap-g32-pair-scale', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: 'P == 2 ? _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)', to: 'P == 2 ? _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)', tests: QUANT,
    why: 'the bitmap x8 GEMV at G = 32 scales the second group of each 64-column pair by the first group\'s scale',
  },
  {
    id: 'qspmm-x8-bitmap-g32-pair-zero', area: 'cpu', file: 'native/cpu/qspmm_avx512_vnni.cpp',
    from: '__mmask64(0xffffffff00000000ull)', to: '__mmask64(0xffff000000000000ull)', tests: QUANT,
    why: "the bitmap x8 GEMV at G = 32 fills half of the pair's second group's pruned columns with the first group's zero point",
  },
  {
    id: 'qspmm-x8-gemm-start', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: '_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 4))', to: '_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 3))', tests: QUANT_X8,
    why: "the int4 x8 GEMMs start their sums at -8·Σ xq while the weight bytes carry +16: every product is off by 8·Σ xq per block",
  },
  {
    id: 'qspmm-x8-gemm-step-order', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'a[q] = 8 * (q % 4) + q / 4, b[q] = 8 * (q % 4) + q / 4 + 4;', to: 'a[q] = q, b[q] = q + 16;', tests: QUANT_X8,
    why: 'at G < 128 the int4 x8 GEMMs keep the natural column order, so one lane sums columns of two groups and scales them all by one',
  },
  {
    id: 'qspmm-x8-gemm-nm24-tail', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'm1 = tail == 96 ? mp[2] : 0;', to: 'm1 = 0;', tests: QUANT_X8,
    why: "the bitmap x8 GEMM drops the third quarter of a 96-column last block: its kept weights are multiplied as zeros",
  },
  {
    id: 'qspmm-x8-gemm-dense-zero-hi', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'zh[i] = uint8_t(G >= 128 ? 0 : (64 + i) / G);', to: 'zh[i] = uint8_t(G >= 128 ? 0 : i / G);', tests: QUANT_X8,
    why: "the dense int4 x8 GEMM at G < 128 centres a block's upper 64 columns on the lower half's zero points",
  },
  {
    id: 'qspmm-x8-gemm-vector-pass', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'sx + q0 * 16, nv4, nb, first, c + q0 * 16, ldc, pf, pp); break;\n          case 3:', to: 'sx + q0 * 16, nv4, nb, first, c, ldc, pf, pp); break;\n          case 3:', tests: QUANT_X8,
    why: 'from N = 13 every pass of 2 vectors after the first writes its sums over the first pass\'s: columns 0-7 come out wrong',
  },
  {
    id: 'qspmm-x8-gemm-k-block-carry', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'const bool first = b0 == 0, last', to: 'const bool first = true, last', tests: QUANT_X8,
    why: 'a long K split into K blocks keeps only the last block\'s sums',
  },
  {
    id: 'qspmm-x8-gemm-bitmap-k-cursor', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm_x8.cpp',
    from: 'for (int64_t i = 0; i < c0 / 32; ++i) cur += __builtin_popcount(mr[i]);', to: 'for (int64_t i = 0; i < c0 / 64; ++i) cur += __builtin_popcount(mr[i]);', tests: QUANT_X8,
    why: "in a K block after the first, the bitmap x8 GEMM counts only half of the row's earlier mask words: it starts at the wrong code",
  },
  {
    id: 'qspmm-x8-group-scale-half', area: 'cpu', file: 'native/cpu/qspmm_x8_round.inl',
    from: 'for (int64_t i = 0; i < G; i += 16) m = _mm512_max_ps', to: 'for (int64_t i = 16; i < G; i += 16) m = _mm512_max_ps', tests: [...QUANT, ...QUANT_X8, ...QUANT_X8_GEMV],
    why: "every x8 kernel takes s_x from a group's columns past its first 16: an outlier there is clamped to ±127",
  },
  {
    id: 'qspmm-x8-gemm-max-n', area: 'cpu', file: 'native/cpu/qspmm.h',
    from: 'constexpr int64_t kX8GemmMaxN = 64;', to: 'constexpr int64_t kX8GemmMaxN = 65;', tests: QUANT,
    why: 'the int8 GEMMs take N = 65: past the documented N <= 64 where activations may be rounded to int8',
  },
  {
    id: 'qspmm-pick-start', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: '_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[u], sum))', to: '_mm512_cvtepi32_ps(acc[u])', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM keeps x's +128 in its sums: every group adds 128 · Σ of its weights",
  },
  {
    id: 'qspmm-pick-window', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: 'const uint8_t* xp = (s < 8 ? x0 : x1) + t0 * 64;', to: 'const uint8_t* xp = (s < 4 ? x0 : x1) + t0 * 64;', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM picks steps 4-7 of a block from the second 64-column window of x",
  },
  {
    id: 'qspmm-pick-tail-steps', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: 'const int steps = tail >= 128 ? kSteps : int(tail / 8);', to: 'const int steps = tail >= 128 ? kSteps : int(tail / 16);', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM runs half the steps of a last block narrower than 128 columns",
  },
  {
    id: 'qspmm-pick-group-run', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: 'const int gs = G < 128 ? G / 8 : kSteps,', to: 'const int gs = G < 64 ? G / 8 : kSteps,', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM scales a 128-column block once at G = 64: its second group takes the first's scales",
  },
  {
    id: 'qspmm-pick-zero-group', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: 'if ((s & (gsteps - 1)) == 0) zp =', to: 'if (s == 0) zp =', tests: QUANT_X8,
    why: "the asymmetric 2:4 int4 x8 GEMM takes a block's first group's zero points for all its groups (G < 128)",
  },
  {
    id: 'qspmm-pick-full-pass', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: 'for (; t0 + 16 <= np; t0 += 16)', to: 'for (; t0 + 16 < np; t0 += 16)', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM skips the last pass when it holds exactly 16 vectors",
  },
  {
    id: 'qspmm-pick-scale-run', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: '__mmask16((1u << (gpr - g)) - 1)', to: '__mmask16((1u << (gpr - g - 1)) - 1)', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM stages a row's last scale as 0 when its groups are not a multiple of 16",
  },
  {
    id: 'qspmm-pick-x-scale-group', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: 'const float* sxg = sx + g;', to: 'const float* sxg = sx;', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM scales every group by x's first group's s_x",
  },
  {
    id: 'qspmm-pick-second-kept', area: 'cpu', file: 'native/cpu/qspmm_avx512_pick_x8.cpp',
    from: '(ns > (m & 1) ? set[m & 1] : 0)', to: '(ns > (m & 1) ? set[0] : 0)', tests: QUANT_X8,
    why: "the 2:4 int4 x8 GEMM pairs a quad's second kept weight with the first kept column's x",
  },
  {
    id: 'qspmm-avx2-x8-start', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'f = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(s16[i], ones), st));', to: 'f = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[i], ones));', tests: QUANT_X8_AVX2,
    why: 'the symmetric dense int4 AVX2 x8 GEMV forgets the zero point: every weight is off by 8 · scale',
  },
  {
    id: 'qspmm-avx2-x8-second-window', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'if (c0 + 64 < cend) add_window(c0 + 64, s2);', to: 'if (c0 + 64 < cend) add_window(c0 + 64, s16);', tests: QUANT_X8_AVX2,
    why: 'at G < 128 the AVX2 x8 GEMVs add a unit\'s second window into the first window\'s lanes: its groups take the first window\'s scales',
  },
  {
    id: 'qspmm-avx2-x8-tail-window', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'if (c0 + 64 < cend) add_window', to: 'if (c0 + 96 < cend) add_window', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMVs drop the last 32 columns of a row whose width is 96 mod 128',
  },
  {
    id: 'qspmm-avx2-x8-run-lanes', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'return _mm256_setr_epi32(a, a, b, b, a, a, b, b);', to: 'return _mm256_setr_epi32(a, a, a, a, b, b, b, b);', tests: QUANT_X8_AVX2,
    why: 'at G < 128 the AVX2 x8 GEMVs scale a unit\'s second window by its first window\'s groups',
  },
  {
    id: 'qspmm-avx2-x8-zero-run-half', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'if (G >= 64) return _mm256_permute2f128_ps(v, v, 0x00);', to: 'if (G >= 64) return _mm256_permute2f128_ps(v, v, 0x11);', tests: QUANT_X8_AVX2,
    why: 'the asymmetric dense int4 AVX2 x8 GEMV takes the zero points of the run\'s groups 4-7 (G >= 64)',
  },
  {
    id: 'qspmm-avx2-x8-asym-lanes', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'f = _mm256_fnmadd_ps(_mm256_permutevar_ps(zrun[i], lidx), ls,', to: 'f = _mm256_fnmadd_ps(zrun[i], ls,', tests: QUANT_X8_AVX2,
    why: 'the asymmetric dense int4 AVX2 x8 GEMV subtracts every unit\'s sums with the run\'s first zero points',
  },
  {
    id: 'qspmm-avx2-x8-pick-blank', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'ob[j] = uint8_t(grp >= 4 ? 4 * (grp - 4) : 0x80);', to: 'ob[j] = uint8_t(grp >= 4 ? 4 * (grp - 4) : 0x00);', tests: QUANT_X8_AVX2,
    why: 'the 2:4 int4 AVX2 x8 GEMV ORs stray x bytes of columns 16-31 into groups 0-3\'s picks',
  },
  {
    id: 'qspmm-avx2-x8-pick-second', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 's[j] = uint8_t(k ? 31 - __builtin_clz(k) : 0);', to: 's[j] = uint8_t(k ? __builtin_ctz(k) + 1 : 0);', tests: QUANT_X8_AVX2,
    why: 'the 2:4 int4 AVX2 x8 GEMV takes the column after the first kept one as the second (patterns 0101, 1001, 1010 read the wrong x)',
  },
  {
    id: 'qspmm-avx2-x8-nm-sym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'z = _mm256_set1_epi8(8);', to: 'z = _mm256_set1_epi8(7);', tests: QUANT_X8_AVX2,
    why: 'the symmetric 2:4 int4 AVX2 x8 GEMV centres its codes on 7 instead of 8',
  },
  {
    id: 'qspmm-avx2-x8-nm-asym-g32', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: '_mm_set1_epi8(char(g + 1 < w.gpr ? zr[g + 1] : 0))', to: '_mm_set1_epi8(char(zr[g]))', tests: QUANT_X8_AVX2,
    why: 'the asymmetric 2:4 int4 AVX2 x8 GEMV gives a 64-column window\'s second 32-column group the first one\'s zero point (G = 32)',
  },
  {
    id: 'qspmm-avx2-x8-scale-rule', area: 'cpu', file: 'native/cpu/qspmm_x8_round_avx2.inl',
    from: 'return amax > 0.f ? amax / 127.f : 1.f;', to: 'return amax > 0.f ? amax / 128.f : 1.f;', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMVs round x on a grid of max|x| / 128, not the documented / 127 the other ISAs use',
  },
  {
    id: 'qspmm-avx2-x8-leftover-rows', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'for (int64_t r = r0 + 4 * q; r < r1; ++r) fmt == kDense', to: 'for (int64_t r = r0 + 4 * q; r + 1 < r1; ++r) fmt == kDense', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMVs skip a task\'s last row when its row count is not a multiple of 4',
  },
  {
    id: 'qspmm-avx2-x8-stage-ab', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'std::memcpy(d + 16, s + 32, 16), std::memcpy(d + 32, s + 16, 16)', to: 'std::memcpy(d + 16, s + 16, 16), std::memcpy(d + 32, s + 32, 16)', tests: QUANT_X8_AVX2,
    why: 'the 2:4 int4 AVX2 x8 GEMV stages x in column order where its picks expect columns 0-15 | 32-47 and 16-31 | 48-63',
  },
  {
    id: 'qspmm-avx2-x8-stage-start', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'xq.start[8 * u + i] = -8 * t;', to: 'xq.start[8 * u + i] = -7 * t;', tests: QUANT_X8_AVX2,
    why: 'the symmetric dense int4 AVX2 x8 GEMV starts its sums at -7 · Σ xq: every weight off by one code',
  },
  {
    id: 'qspmm-avx2-x8-gemv-only', area: 'cpu', file: 'native/cpu/qspmm_avx2_x8.cpp',
    from: 'if (n != 1 || a.quant.bits != 4) return SpmmKernel{};', to: 'if (a.quant.bits != 4) return SpmmKernel{};', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMVs are chosen for N > 1 and compute only the first activation vector',
  },
  {
    id: 'qspmm-avx2-gemm-x8-sym-start', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: '_mm256_slli_epi32(sum, 3)', to: '_mm256_slli_epi32(sum, 2)', tests: QUANT_X8_AVX2,
    why: 'the symmetric AVX2 x8 GEMM centres every group on 4 instead of 8',
  },
  {
    id: 'qspmm-avx2-gemm-x8-quads', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'for (int q = 0; q < 8 / KQ; ++q, xq += ng * 32)', to: 'for (int q = 0; q < 8 / KQ - 1; ++q, xq += ng * 32)', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM drops the last step (4, 8 or 16 columns) of every 32',
  },
  {
    id: 'qspmm-avx2-gemm-x8-bitmap-offset', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'step(c, m, u + p01, _mm256_load_si256(reinterpret_cast<const __m256i*>(kPlace.off[p0][p2])));', to: 'step(c, m, u + p01, _mm256_load_si256(reinterpret_cast<const __m256i*>(kPlace.off[p0][p0])));', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 kernels place a sparse row\'s columns 24-31 of every 32 as if columns 16-23 kept as many codes as columns 0-7',
  },
  {
    id: 'qspmm-avx2-gemm-x8-nm24-stride', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'for (int64_t c = 0; c < cols; c += 32, u += 16)', to: 'for (int64_t c = 0; c < cols; c += 32, u += 15)', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 kernels walk a 2:4 row\'s codes 15 per 32 columns: every code after the first 32 columns shifts',
  },
  {
    id: 'qspmm-avx2-gemm-x8-zero-fill', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: '_mm256_blendv_epi8(_mm256_shuffle_epi8(codes, ctl), z, ctl)', to: '_mm256_shuffle_epi8(codes, ctl)', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM leaves pruned columns at code 0: each adds (0 - zero) * x',
  },
  {
    id: 'qspmm-avx2-gemm-x8-asym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'reinterpret_cast<int32_t*>(sc)[i * 2 * gpr + gpr + g] = w.zeros[r * gpr + g];', to: 'reinterpret_cast<int32_t*>(sc)[i * 2 * gpr + gpr + g] = w.zeros[r * gpr];', tests: QUANT_X8_AVX2,
    why: 'the asymmetric AVX2 x8 GEMM centres every group of a row on its first group\'s zero point',
  },
  {
    id: 'qspmm-avx2-gemm-x8-x-layout', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'for (int e = 0; e < 4; ++e) d[e] = int8_t(q[4 * h + e]);', to: 'for (int e = 0; e < 4; ++e) d[(e + 1) % 4] = int8_t(q[4 * h + e]);', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM stages each quad of x rotated by one column',
  },
  {
    id: 'qspmm-avx2-gemm-x8-max-n', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'if (n < 2 || n > kX8GemmMaxN || a.quant.bits != 4) return SpmmKernel{};', to: 'if (n < 2 || n >= kX8GemmMaxN || a.quant.bits != 4) return SpmmKernel{};', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM is not chosen at exactly N = 64: x stays fp32 there',
  },
  {
    id: 'qspmm-avx2-gemm-x8-odd-start', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'const uint8_t* u = Bits == 4 ? ub + (v0 & 1) : ub;', to: 'const uint8_t* u = ub;', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM reads a sparse row that starts mid-byte from the previous row\'s last code',
  },
  {
    id: 'qspmm-avx2-gemv-x8-zero-term', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'const int32_t t = _mm_cvtsi128_si32(h) - z * xv.sum[g];', to: 'const int32_t t = _mm_cvtsi128_si32(h);', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 bitmap / n:m GEMV forgets the zero point: every column, pruned or kept, adds zero * x',
  },
  {
    id: 'qspmm-avx2-gemv-x8-lanes', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));', to: 'h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 bitmap / n:m GEMV adds two of a group\'s four partial sums twice and drops the other two',
  },
  {
    id: 'qspmm-avx2-gemm-x8-four-per-byte', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'return a.format == Format::nm && 2 * a.n == a.m && a.m <= 8;', to: 'return a.format == Format::nm && 2 * a.n == a.m;', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 kernels expand 8:16 rows as if every 8 columns kept 4 codes: a byte keeping more or fewer takes its neighbour\'s codes',
  },
  {
    id: 'slorb-avx2-gemv-tail', area: 'adapters', file: 'native/solvers/slorb_avx2.cpp',
    from: 'for (int64_t i = full; i < G; i++) d[b] += load1<T>(srow + b * row_bytes, i) * g[i];', to: 'for (int64_t i = full + 1; i < G; i++) d[b] += load1<T>(srow + b * row_bytes, i) * g[i];', tests: SLORB,
    why: 'the AVX2 one-token SLoRB term drops the first scale past the last multiple of 8 in every 8-row block',
  },
  {
    id: 'slorb-avx2-gemv-rest', area: 'adapters', file: 'native/solvers/slorb_avx2.cpp',
    from: 'for (; r < r1; r++) {  // the last rows, one at a time', to: 'for (; r + 1 < r1; r++) {  // the last rows, one at a time', tests: SLORB,
    why: 'the AVX2 one-token SLoRB term leaves a range\'s last row without its term when the row count is not a multiple of 8',
  },
  {
    id: 'slorb-avx2-gemv-hsum', area: 'adapters', file: 'native/solvers/slorb_avx2.cpp',
    from: 'return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));', to: 'return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x20));', tests: SLORB,
    why: 'the AVX2 one-token SLoRB term sums only the first half of each row\'s lanes, twice',
  },
  {
    id: 'slorb-avx2-bf16', area: 'adapters', file: 'native/solvers/slorb_avx2.cpp',
    from: '_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))), 16)', to: '_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))), 15)', tests: SLORB,
    why: 'the AVX2 one-token SLoRB term decodes bf16 scales one bit off: garbage values',
  },
  {
    id: 'slorb-avx2-dots-block', area: 'adapters', file: 'native/solvers/slorb_avx2.cpp',
    from: 'const int nt = int(n - t0 < 8 ? n - t0 : 8);', to: 'const int nt = int(n - t0 < 8 ? n - t0 : 7);', tests: SLORB,
    why: 'the AVX2 SLoRB term leaves every eighth token of a full block without its term',
  },
  {
    id: 'qspmm-avx2-gemm-x8-lane-sum', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'for (int q = 1; q < kq; ++q) y += l[q];', to: 'for (int q = 1; q < kq - 1; ++q) y += l[q];', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM at N <= 4 drops one of each vector\'s lanes: a quarter or half of its columns',
  },
  {
    id: 'qspmm-avx2-gemm-x8-stage-lane', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'l = l0 + ((k >> 2) & (kq - 1));', to: 'l = l0;', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM at N <= 4 stages every quad of a vector in its first lane: the quads overwrite each other',
  },
  {
    id: 'qspmm-avx2-gemm-x8-bcast-kq2', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'w4 = _mm256_set1_epi64x(wq);', to: 'w4 = _mm256_set1_epi32(int32_t(wq));', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMM at N = 3-4 multiplies a step\'s second quad of x by its first quad\'s codes',
  },
  {
    id: 'q-avx2-dense-int4-group', area: 'cpu', file: 'native/cpu/qspmm_avx2.cpp',
    from: 'gb = half ? ga : r * gpr + ((64 * b + 32) >> gs);', to: 'gb = ga;',
    tests: QUANT, grep: 'every ISA',
    why: "the AVX2 dense int4 GEMV scales a 64-column block's second 32 columns by the first's group (G = 32)",
  },
  {
    id: 'q-avx2-nm24-code-order', area: 'cpu', file: 'native/cpu/qspmm_avx2.cpp',
    from: '_mm256_setr_epi32(0, 4, 16, 20, 8, 12, 24, 28)', to: '_mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)',
    tests: QUANT, grep: 'every ISA',
    why: "the AVX2 2:4 int4 GEMV lays its codes out in storage order where the in-lane placement expects each group's pair in its lane",
  },
  {
    id: 'qspmm-avx2-gemv-x8-int8-high', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'if constexpr (Bits == 8) d = _mm256_add_epi32(d, _mm256_madd_epi16(s16h, sixteen));', to: 'if constexpr (Bits == 8) d = _mm256_add_epi32(d, _mm256_madd_epi16(s16h, ones));', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMV weighs an 8-bit code\'s high nibble by 1 instead of 16',
  },
  {
    id: 'qspmm-avx2-gemv-x8-int8-copy', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: 'std::memcpy(ub, w.codes + v0, size_t(v1 - v0));', to: 'std::memcpy(ub, w.codes + v0 + 1, size_t(v1 - v0 - 1));', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 GEMV reads a sparse 8-bit row\'s codes one late',
  },
  {
    id: 'qspmm-avx2-gemv-x8-int8-sym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm_x8.cpp',
    from: '__m256i z = _mm256_set1_epi8(char(quant_sym_zero(Bits)));', to: '__m256i z = _mm256_set1_epi8(char(8));', tests: QUANT_X8_AVX2,
    why: 'the AVX2 x8 kernels fill a symmetric 8-bit row\'s pruned columns with 8 instead of its zero point 128',
  },
  {
    id: 'q-avx2-dense-int8-prefetch', area: 'cpu', file: 'native/cpu/qspmm_avx2.cpp',
    from: 'if ((c & 32) == 0) _mm_prefetch(reinterpret_cast<const char*>(p) + kStreamAheadBytes, _MM_HINT_T0);', to: 'if ((c & 32) == 0) _mm_prefetch(reinterpret_cast<const char*>(p) + kStreamAheadBytes, _MM_HINT_T0); else return;',
    tests: QUANT, grep: 'every ISA',
    why: 'the AVX2 dense 8-bit GEMV skips every other 32 columns',
  },
  // ---- whole-model checkpoints and token input (lib/model/checkpoint-writer.ts, tokens.ts) ----
  {
    id: 'ckpt-shard-limit-inclusive', area: 'model', file: 'lib/model/checkpoint-writer.ts',
    from: 'current.bytes + bytes > maxShardBytes', to: 'current.bytes + bytes >= maxShardBytes', tests: SAVE,
    why: 'a shard whose entries sum to exactly maxShardBytes is split one entry early: one more shard than the limit needs',
  },
  {
    id: 'ckpt-shard-counts-last-entry', area: 'model', file: 'lib/model/checkpoint-writer.ts',
    from: 'current.bytes += bytes;', to: 'current.bytes = bytes;', tests: SAVE,
    why: 'a shard counts only its latest entry against the limit: shards grow past maxShardBytes',
  },
  {
    id: 'ckpt-overwrite-one-file', area: 'model', file: 'lib/model/checkpoint-writer.ts',
    from: 'if (held.length > 0)', to: 'if (held.length > 1)', tests: SAVE,
    why: 'a folder holding just a model.safetensors is overwritten without overwrite: true',
  },
  {
    id: 'ckpt-failure-keeps-staged', area: 'model', file: 'lib/model/checkpoint-writer.ts',
    from: 'for (const p of staged) rmSync(p, { force: true });', to: '', tests: SAVE,
    why: 'a save that fails part-way leaves its finished shards behind under temporary names',
  },
  {
    id: 'ckpt-removes-new-index', area: 'model', file: 'lib/model/checkpoint-writer.ts',
    from: 'if (!files.includes(f) && !(index && f === INDEX_FILE))', to: 'if (!files.includes(f))', tests: SAVE,
    why: 'replacing a sharded checkpoint by a sharded one deletes the index it just wrote: the folder no longer loads',
  },
  {
    id: 'tokens-raw-remainder', area: 'model', file: 'lib/model/tokens.ts',
    from: 'if (buf.byteLength % 4 !== 0) throw', to: 'if (buf.byteLength % 4 > 1) throw', tests: TOKENS,
    why: 'a token file one byte longer than whole int32s is not refused: an untyped RangeError instead of ERR_FORMAT',
  },
  {
    id: 'tokens-rows-exact-seqlen', area: 'model', file: 'lib/model/tokens.ts',
    from: 'if (t < seqLen) throw', to: 'if (t <= seqLen) throw', tests: TOKENS,
    why: 'calibration rows of exactly seqLen tokens are refused',
  },
  {
    id: 'tokens-rows-min-samples', area: 'model', file: 'lib/model/tokens.ts',
    from: 'length: Math.min(n, samples)', to: 'length: samples', tests: TOKENS,
    why: 'asking for more samples than rows returns empty windows past the file',
  },
  {
    id: 'tokens-last-offset', area: 'model', file: 'lib/model/tokens.ts',
    from: 'const span = file.ids.length - seqLen + 1;', to: 'const span = file.ids.length - seqLen;', tests: TOKENS,
    why: 'the window ending at the last token is never sampled (and a stream of exactly seqLen tokens gives empty windows)',
  },
  {
    id: 'prune-model-vocab-bound', area: 'model', file: 'lib/model/prune-model.ts',
    from: 's[j]! >= 0 && s[j]! < vocab', to: 's[j]! >= 0 && s[j]! <= vocab', tests: PRUNE, grep: 'checks its arguments',
    why: 'a calibration token id equal to the vocabulary size passes the up-front check: the error comes later from the native embedding, without the sample and position',
  },
  {
    id: 'prune-model-blocks-bound', area: 'model', file: 'lib/model/prune-model.ts',
    from: 'b < 0 || b >= nBlocks', to: 'b < 0 || b > nBlocks', tests: PRUNE, grep: 'checks its arguments',
    why: 'options.blocks accepts the index one past the last block: the user asked for a block that is silently not pruned',
  },
  // ---- the native eigensolver (SliceGPT's PCA) ----
  {
    id: 'eigen-rotation-sign', area: 'solvers', file: 'native/solvers/gemm_kernel.inl',
    from: 'y1[r] = s * a + c * b;', to: 'y1[r] = s * a - c * b;', tests: ['test/structured.test.ts', 'ctest:solvers_test'], grep: 'eigen',
    why: 'the recorded QR rotations are applied as reflections: the eigenvectors are no longer orthonormal and sliceHidden rotates the residual stream by a wrong basis',
  },
  {
    id: 'eigen-flush-keeps-rotations', area: 'solvers', file: 'native/solvers/eigen.cpp',
    from: '      apply_rotations(Z.data(), n, rot);\n      rot.clear();', to: '      apply_rotations(Z.data(), n, rot);', tests: ['test/structured.test.ts', 'ctest:solvers_test'], grep: 'eigen',
    why: 'past 4M recorded rotations (hidden sizes in the thousands) the first batch is applied again at every flush: wrong vectors only on big models',
  },
  {
    id: 'shrink-abort-between-blocks', area: 'structured', file: 'lib/model/shrink.ts',
    from: '    checkAbort();\n    onProgress?.(b.index, total);', to: '    onProgress?.(b.index, total);', tests: STRUCTURED, grep: 'shrink reports progress',
    why: 'an abort during the surgery is noticed only after every block was rebuilt: Ctrl-C on a 70B shrink waits for all of it',
  },
  // ---- MatmulOptions.activations: one native carrier, passed through the model ----
  {
    id: 'activations-int8-not-selected', area: 'cpu', file: 'native/cpu/qspmm_portable.cpp',
    from: 'isa == Isa::avx512 && rounding == ActivationRounding::int8', to: 'isa == Isa::avx512 && rounding == ActivationRounding::bf16', tests: QUANT, grep: 'int8',
    why: "activations: 'int8' is accepted but the int8 kernels never run: a decode the user opted into stays at the fp32 kernels' speed",
  },
  {
    id: 'activations-int8-parse', area: 'lib', file: 'native/addon/addon.cpp',
    from: '  if (s == "int8") {\n    *out = ActivationRounding::int8;', to: '  if (s == "int8") {\n    *out = ActivationRounding::none;', tests: QUANT, grep: 'int8',
    why: "the binding reads 'int8' as no rounding: the option is silently ignored",
  },
  {
    id: 'model-activations-block', area: 'model', file: 'lib/model/block.ts',
    from: "activations: activationsFor(slot.weight, ctx.activations)", to: "activations: undefined", tests: MODEL_ACT,
    why: "forward/perplexity/generate ignore activations for the block linears: a model opted into int8 or bf16 decodes at the float kernels' speed",
  },
  {
    id: 'model-activations-head', area: 'model', file: 'lib/model/llama.ts',
    from: "return { outDtype: 'float32', activations: activationsFor(this.lmHead, activations) };", to: "return { outDtype: 'float32' };", tests: MODEL_ACT,
    why: 'the LM head ignores activations (the largest single linear of a small model)',
  },
  {
    id: 'model-activations-int8-dense', area: 'model', file: 'lib/ops.ts',
    from: "activations === 'int8' && !takesInt8(w) ? 'float32' : activations", to: 'activations', tests: MODEL_ACT,
    why: "'int8' on a model whose weights are not all quantized throws at the first float linear",
  },
  {
    id: 'ria-refine-progress', area: 'solvers', file: 'native/solvers/ria.cpp',
    from: '        if (control.aborted()) return;\n        control.advance();', to: '        if (control.aborted()) return;', tests: BEYOND, grep: 'counts every step',
    why: "RIA's refinement (about a minute on 4096²) never moves the progress bar: it looks hung",
  },
  {
    id: 'ria-reconstruct-no-control', area: 'solvers', file: 'native/solvers/ria.cpp',
    from: 'SK_RETURN_IF_ERROR(prune_sparsegpt(w, stats, p, so, inner, &rec));', to: 'SK_RETURN_IF_ERROR(prune_sparsegpt(w, stats, p, so, Control{}, &rec));', tests: BEYOND, grep: 'counts every step',
    why: "RIA + reconstruct's SparseGPT sweep ignores abort and progress (as before this fix)",
  },
  // ---- AVX2 quantized kernels: 8-bit GEMVs, the panel GEMM for N > 1 ----
  {
    id: 'q-avx2-gemm-group-chunks', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm.inl',
    from: 'cpg(a.quant.group / CW)', to: 'cpg(a.quant.group / 32)', tests: QUANT, grep: 'every ISA',
    why: "the AVX2 GEMM counts 32-column chunks per group where its chunks are 8 wide: later chunks take an earlier group's scale",
  },
  {
    id: 'q-avx2-gemm-asym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx2_gemm.inl',
    from: '_mm256_set1_epi32(Asym ? int(zeros[gi]) : quant_sym_zero(Bits))', to: '_mm256_set1_epi32(quant_sym_zero(Bits))', tests: QUANT, grep: 'every ISA',
    why: 'asymmetric weights are centered on the symmetric zero at N > 1 on AVX2: every output off by zero * Σx per group',
  },
  {
    id: 'q-avx2-masked8-tail-bytes', area: 'cpu', file: 'native/cpu/qspmm_avx2_codes.inl',
    from: 'uint64_t(byte) + i < bytes && i < 8; ++i)', to: 'uint64_t(byte) + i < bytes && i < 5; ++i)', tests: QUANT, grep: 'every ISA',
    why: "the 8-bit AVX2 GEMV reads only 5 of the last 8 codes of the matrix (the 4-bit bound): the last row's final kept weights count as zero",
  },
  {
    id: 'q-avx2-sym-zero', area: 'cpu', file: 'native/cpu/qspmm_avx2.cpp',
    from: 'return Asym ? zeros[gi] : quant_sym_zero(Bits);', to: 'return Asym ? zeros[gi] : quant_sym_zero(Bits) - 1;', tests: QUANT, grep: 'every ISA',
    why: "the AVX2 N = 1 kernels center symmetric codes one step off: every weight off by one scale",
  },
  {
    id: 'q-avx2-nm24-second-half', area: 'cpu', file: 'native/cpu/qspmm_avx2.cpp',
    from: 'place_pair(w0, kExpand.pair2[m[1]], kExpand.keep[m[1]])', to: 'place_pair(w0, kExpand.pair[m[1]], kExpand.keep[m[1]])', tests: QUANT, grep: 'every ISA',
    why: "the AVX2 2:4 GEMV places the second 8 columns' weights from the first half's codes",
  },
  {
    id: 'q-avx512-gemm-scale', area: 'cpu', file: 'native/cpu/qspmm_avx512_gemm.inl',
    from: 'const int64_t gi = rw.r * A.gpr + c / A.cpg;', to: 'const int64_t gi = rw.r * A.gpr;', tests: QUANT, grep: 'every ISA',
    why: "the AVX-512 panel GEMM scales every chunk of a row by its first group's scale",
  },
  {
    id: 'q-avx512-outer-density', area: 'cpu', file: 'native/cpu/qspmm_avx512.cpp',
    from: 'if (n > kOuterMinN && double(', to: 'if (n > 1 && double(', tests: QUANT, grep: 'selects every kernel',
    why: 'sparse bitmap rows take the outer products at every N > 1, where the panel GEMM is up to 1.4x faster at N <= 16',
  },
];
