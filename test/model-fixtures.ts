// Where the whole-model fixtures live (made by scripts/fixtures/train-tiny-llama.py, committed).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const TINY = join(FIXTURES, 'tiny-llama');
export const QWEN = join(FIXTURES, 'tiny-qwen2');
