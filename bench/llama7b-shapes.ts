// Writes a Llama-2-7B-shaped checkpoint folder with random bfloat16 weights (hidden 4096,
// intermediate 11008, 32 heads, vocabulary 32000) and fewer layers, for the whole-model memory
// and speed numbers in docs/models.md: `npx tsx bench/llama7b-shapes.ts <dir> [layers = 4]`
// (about 0.5 GB per layer plus 0.5 GB of embedding and head). Random weights say nothing about
// quality; they make the same bytes move as the real model's blocks. Delete the folder after use.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsWriter, Tensor } from '../lib/index.js';

const dir = process.argv[2];
const layers = Number(process.argv[3] ?? 4);
if (!dir || !Number.isInteger(layers) || layers < 1) {
  console.error('usage: npx tsx bench/llama7b-shapes.ts <dir> [layers]');
  process.exit(1);
}
const H = 4096, I = 11008, V = 32000;
mkdirSync(dir, { recursive: true });
const config = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: V, hidden_size: H, intermediate_size: I,
  num_hidden_layers: layers, num_attention_heads: 32, num_key_value_heads: 32, hidden_act: 'silu', rms_norm_eps: 1e-5,
  rope_theta: 10000, rope_scaling: null, max_position_embeddings: 4096, tie_word_embeddings: false, torch_dtype: 'bfloat16',
};
writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
const w = SafetensorsWriter.create(join(dir, 'model.safetensors'));
let seed = 1;
const rand = (shape: number[], std: number) => Tensor.randn(shape, { seed: seed++, std, dtype: 'bfloat16' });
await w.add('model.embed_tokens.weight', rand([V, H], 0.02));
for (let l = 0; l < layers; l++) {
  const p = `model.layers.${l}.`;
  for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) await w.add(`${p}self_attn.${n}.weight`, rand([H, H], 0.02));
  await w.add(`${p}mlp.gate_proj.weight`, rand([I, H], 0.02));
  await w.add(`${p}mlp.up_proj.weight`, rand([I, H], 0.02));
  await w.add(`${p}mlp.down_proj.weight`, rand([H, I], 0.02));
  await w.add(`${p}input_layernorm.weight`, Tensor.from(new Float32Array(H).fill(1)).to('bfloat16'));
  await w.add(`${p}post_attention_layernorm.weight`, Tensor.from(new Float32Array(H).fill(1)).to('bfloat16'));
  console.log(`layer ${l} written`);
}
await w.add('model.norm.weight', Tensor.from(new Float32Array(H).fill(1)).to('bfloat16'));
await w.add('lm_head.weight', rand([V, H], 0.02));
await w.finish({ format: 'pt' });
// Calibration token ids: 16 windows of 512 (uniformly random ids: enough to exercise the path).
const calib = new Int32Array(16 * 512);
for (let i = 0; i < calib.length; i++) calib[i] = (i * 2654435761) % V;
writeFileSync(join(dir, 'calib.tokens'), Buffer.from(calib.buffer));
console.log(`wrote ${dir}`);
