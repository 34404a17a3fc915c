// The mutation list (scripts/mutations.mjs, run by `npm run mutate`) is code: every pattern must
// still occur exactly once in its file, so a refactor that moves a target fails here, in CI, rather
// than silently in the next mutation run.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Mutation {
  id: string; area: string; file: string; from: string; to: string; tests: string[]; grep?: string; why: string; equivalent?: string;
}
// @ts-expect-error: plain .mjs without declarations
const { default: mutations } = (await import('../scripts/mutations.mjs')) as { default: Mutation[] };
// @ts-expect-error: plain .mjs without declarations
const { AREAS, buildKind, occurrences, splitTests } = (await import('../scripts/mutate.mjs')) as {
  AREAS: string[]; buildKind: (file: string) => string; occurrences: (s: string, t: string) => number;
  splitTests: (tests: string[]) => { vitest: string[]; ctest: string[] };
};
const cmakeLists = readFileSync('CMakeLists.txt', 'utf8');

describe('mutation list', () => {
  it('has at least 30 scored mutations over every area, with unique ids', () => {
    expect(mutations.filter((m) => !m.equivalent).length).toBeGreaterThanOrEqual(30);
    expect(new Set(mutations.map((m) => m.id)).size).toBe(mutations.length);
    for (const a of AREAS) expect(mutations.some((m) => m.area === a && !m.equivalent), a).toBe(true);
  });

  for (const m of mutations)
    it(`${m.id}: the pattern occurs exactly once in ${m.file}, and its tests exist`, () => {
      expect(AREAS).toContain(m.area);
      expect(existsSync(m.file), m.file).toBe(true);
      expect(occurrences(readFileSync(m.file, 'utf8'), m.from), `'${m.from}' in ${m.file}`).toBe(1);
      expect(m.to).not.toBe(m.from);
      expect(() => buildKind(m.file)).not.toThrow();
      expect(m.tests.length).toBeGreaterThan(0);
      const { vitest, ctest } = splitTests(m.tests);
      for (const t of vitest) expect(existsSync(t), t).toBe(true);
      for (const t of ctest) expect(cmakeLists, `add_test(NAME ${t}`).toContain(`add_test(NAME ${t} `);
      if (ctest.length) expect(m.file.startsWith('native/'), 'native tests cover native files only').toBe(true);
      expect(m.why.length).toBeGreaterThan(10);
    });
});
