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
    from: 'if (std::rename(from.c_str(), to.c_str()) != 0)', to: 'if (std::rename(from.c_str(), to.c_str()) != 0 && false)', tests: [...IO, 'test/cli.test.ts'],
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

  // ---- cpu kernels ----
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
];
