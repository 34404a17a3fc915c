// binding.gyp (npm install) and CMakeLists.txt (cmake-js, C++ tests) must build the same sources.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

function cmakeList(text: string, name: string): string[] {
  const m = new RegExp(`set\\(${name}([^)]*)\\)`).exec(text);
  if (!m) throw new Error(`${name} not found in native/sources.cmake`);
  return m[1]!.split(/\s+/).filter((s) => s.length > 0);
}

describe('build files', () => {
  it('binding.gyp compiles exactly the core + addon sources listed in native/sources.cmake', () => {
    const cmake = readFileSync('native/sources.cmake', 'utf8');
    const want = [...cmakeList(cmake, 'SPARSEKIT_CORE_SOURCES'), ...cmakeList(cmake, 'SPARSEKIT_ADDON_SOURCES')].sort();
    const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8').replace(/^\s*#.*$/gm, '')) as {
      targets: { target_name: string; sources: string[] }[];
    };
    const target = gyp.targets.find((t) => t.target_name === 'sparsekit')!;
    expect([...target.sources].sort()).toEqual(want);
  });
});
