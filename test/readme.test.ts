// The README's API tour must run as written (against this checkout's sources).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('API tour runs', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const code = block![1]!.replace("from 'sparsekit'", `from '${resolve('lib/index.ts')}'`) + "\nconsole.log('ok');\n";
    const dir = mkdtempSync(join(tmpdir(), 'sparsekit-readme-'));
    try {
      const file = join(dir, 'tour.mts');
      writeFileSync(file, code);
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8' });
      expect(out.trim().endsWith('ok')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('states the install and test commands', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toContain('npm test');
  });
});
