// The CLI and the package as processes: help and argument errors need no native addon, a missing
// addon is ERR_NATIVE naming what was tried, and a reader that goes away ends the CLI quietly.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, saveSafetensors } from '../lib/index.js';

const tsx = (args: string[], cwd = process.cwd()) =>
  spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd, encoding: 'utf8', env: { ...process.env, SPARSEKIT_ADDON: '' } });

describe('without a native addon', () => {
  let dir: string;
  beforeAll(() => {
    // A copy of the package with its sources but no build/ and no prebuilds/.
    dir = mkdtempSync(join(tmpdir(), 'sparsekit-noaddon-'));
    cpSync('lib', join(dir, 'lib'), { recursive: true });
    cpSync('package.json', join(dir, 'package.json'));
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'), 'dir');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sparsekit --help and argument errors still work', () => {
    const help = tsx([join(dir, 'lib/cli.ts'), '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: sparsekit');
    const bad = tsx([join(dir, 'lib/cli.ts'), 'pack', 'in.safetensors', '-o', 'out.safetensors', '--format', 'zip']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--format');
    expect(bad.stderr).not.toContain('native');
  });

  it('the first native call throws ERR_NATIVE listing each path tried and how to fix it', () => {
    const probe = join(dir, 'probe.mts');
    writeFileSync(probe, `import { cpuInfo } from './lib/index.ts';
try { cpuInfo(); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })); }\n`);
    const r = tsx([probe], dir);
    const e = JSON.parse(r.stdout) as { code: string; name: string; message: string };
    expect(e.code).toBe('ERR_NATIVE');
    expect(e.name).toBe('NativeError');
    expect(e.message).toContain(`${join(dir, 'build/Release/sparsekit.node')}: not found`);
    expect(e.message).toContain(join(dir, 'build/Debug/sparsekit.node'));
    expect(e.message).toMatch(/npm rebuild sparsekit/);
    expect(e.message).toMatch(/ignore-scripts/);
    expect(e.message).toMatch(/nodedir/);
  });
});

describe('sparsekit | head', () => {
  it('exits quietly when the reader goes away (EPIPE)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparsekit-epipe-'));
    try {
      // Enough tensors that the listing is far larger than a pipe's buffer.
      const t: Record<string, Tensor> = {};
      for (let i = 0; i < 3000; i++) t[`model.layers.${i}.mlp.some_long_projection_name.weight`] = Tensor.zeros([2, 2]);
      const file = join(dir, 'many.safetensors');
      saveSafetensors.sync(file, t);
      const script = `"${process.execPath}" --import tsx lib/cli.ts inspect "${file}" | head -n 1; echo "status=\${PIPESTATUS[0]}" >&2`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stderr.trim()).toBe('status=0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

