// npm run gpu:first-run on a machine without a GPU: it must say why, write a report saying so and
// exit 0, without building anything. On a GPU host the whole run takes minutes and is not repeated
// here (run it by hand: docs/cuda.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const hasNvidia = existsSync('/dev/nvidiactl') || spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).status === 0;
if (hasNvidia) console.warn('\n*** gpu:first-run test SKIPPED: this machine has an NVIDIA GPU; run `npm run gpu:first-run` itself.\n');

describe.skipIf(hasNvidia)('gpu:first-run without a GPU', () => {
  it('prints why, writes a report saying so, and exits 0 without building', () => {
    const out = mkdtempSync(join(tmpdir(), 'sk-first-run-'));
    try {
      const r = spawnSync(process.execPath, ['scripts/gpu-first-run.mjs', '--out', out], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/gpu:first-run SKIPPED: no NVIDIA GPU on this machine/);
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      expect(report.status).toBe('skipped');
      expect(report.reason).toMatch(/nvidia-smi/);
      expect(report.steps).toEqual([]);  // nothing built, nothing run
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/status: \*\*skipped\*\*/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
