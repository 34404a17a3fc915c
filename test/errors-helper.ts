// Shared by the tests: the SparsekitError a call throws (failing the test when it throws nothing
// or something untyped).
import { expect } from 'vitest';
import { SparsekitError } from '../lib/index.js';

export function errorOf(f: () => unknown): SparsekitError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SparsekitError);
    return e as SparsekitError;
  }
  throw new Error('expected an error');
}
