// binding.gyp (npm install) and CMakeLists.txt (cmake-js, C++ tests) must build the same sources.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

function cmakeList(text: string, name: string): string[] {
  const m = new RegExp(`set\\(${name}([^)]*)\\)`).exec(text);
  if (!m) throw new Error(`${name} not found in native/sources.cmake`);
  return m[1]!.split(/\s+/).filter((s) => s.length > 0);
}

interface GypTarget { target_name: string; type?: string; sources: string[] }
interface Gyp { targets: GypTarget[]; conditions: [string, { targets: GypTarget[] }][] }

describe('build files', () => {
  const cmake = readFileSync('native/sources.cmake', 'utf8');
  const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8').replace(/^\s*#.*$/gm, '')) as Gyp;
  const targets = [...gyp.targets, ...gyp.conditions.flatMap(([, c]) => c.targets)];
  const sources = (name: string) => [...targets.find((t) => t.target_name === name)!.sources].sort();
  const addon = cmakeList(cmake, 'SPARSEKIT_ADDON_SOURCES');

  it('binding.gyp compiles exactly the core and addon sources listed in native/sources.cmake', () => {
    expect(sources('sparsekit_core')).toEqual(cmakeList(cmake, 'SPARSEKIT_CORE_SOURCES').sort());
    expect(sources('sparsekit')).toEqual([...addon].sort());
  });

  it('the CUDA replay is built only into the test addon, never into the shipped one', () => {
    const replay = cmakeList(cmake, 'SPARSEKIT_CUDA_REPLAY_SOURCES');
    expect(sources('sparsekit_test')).toEqual([...addon, ...replay, 'native/test/replay_binding.cpp'].sort());
    for (const f of replay) expect(sources('sparsekit_core')).not.toContain(f);
    expect(gyp.conditions.map(([cond]) => cond)).toEqual(['sparsekit_test_addon==1']);
  });
});
