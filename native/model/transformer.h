// Transformer pieces that are not linears (every linear goes through spmm/linear): RMSNorm, rotary
// embeddings, causal grouped-query attention over a KV cache, SwiGLU, embedding lookup and the
// negative log-likelihood for perplexity. Activations are float32, row-major [tokens, features];
// work is spread over the shared thread pool. Callers (the binding) have checked buffer sizes.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace sk::model {

// out[r] = w * x[r] / sqrt(mean(x[r]^2) + eps), as transformers' LlamaRMSNorm in float32.
// w has `cols` values of any float dtype; out may alias x.
void rms_norm(const float* x, int64_t rows, int64_t cols, const void* w, DType w_dtype, float eps, float* out);

// Rotates x [rows, heads * head_dim] in place, the rotate_half convention: for i < head_dim/2,
// (x_i, x_{i+h}) -> (x_i cos - x_{i+h} sin, x_{i+h} cos + x_i sin) with angle positions[r] * inv_freq[i].
void rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const int32_t* positions, const float* inv_freq);

struct AttentionShape {
  int64_t batch;     // independent sequences
  int64_t tokens;    // new tokens per sequence (queries)
  int64_t past;      // cached positions before them; keys/values for [0, past + tokens) are in the cache
  int64_t capacity;  // cache rows per sequence
  int64_t heads, kv_heads, head_dim;
  float scale;       // usually 1/sqrt(head_dim)
};

// From this many new tokens per sequence on, attention runs as blocked GEMMs (prefill);
// below it, as per-row dot products (decode).
constexpr int64_t kAttentionGemmTokens = 8;

// q [batch, tokens, heads*head_dim]; k/v caches [batch, capacity, kv_heads*head_dim]; query head h
// reads kv head h / (heads / kv_heads) (transformers' repeat_kv); query t sees keys [0, past + t].
// out [batch, tokens, heads*head_dim].
void attention(const float* q, const float* k_cache, const float* v_cache, const AttentionShape& s, float* out);

// gate[i] = silu(gate[i]) * up[i].
void swiglu(float* gate, const float* up, int64_t n);

// out[r] = table[ids[r]] converted to float32; an id outside [0, vocab) is an ERR_ARGUMENT naming it.
Status embed(const int32_t* ids, int64_t n, const void* table, DType dtype, int64_t vocab, int64_t cols, float* out);

// Σ over rows with targets[r] >= 0 of -log softmax(logits[r])[targets[r]], in float64; `count`
// gets the number of rows summed. A target >= vocab is an ERR_ARGUMENT.
Status nll(const float* logits, int64_t rows, int64_t vocab, const int32_t* targets, double* sum, int64_t* count);

}  // namespace sk::model
