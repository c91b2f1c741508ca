import { describe, expect, it } from 'vitest';
import { isModulePath, moduleStem, shownModulePath } from '../src/modulePath.js';
import { flatten } from '../src/analysis/protocol.js';

describe('module paths', () => {
  it('tells a module path from a built-in name', () => {
    expect(['./v.ts', '../t.js', '/abs/x', 'mine.mts'].every(isModulePath)).toBe(true);
    expect(['qkv', 'lookup', 'qv+qknorm'].some(isModulePath)).toBe(false);
    expect(moduleStem('/a/variants/tempered.ts')).toBe('tempered');
  });

  it('shows a module under the working directory relative to it, so reports read the same on every machine', () => {
    expect(shownModulePath('/home/me/kit/examples/tasks/induction.ts', '/home/me/kit')).toBe('./examples/tasks/induction.ts');
    expect(shownModulePath('/elsewhere/task.ts', '/home/me/kit')).toBe('/elsewhere/task.ts'); // outside: as it is
    expect(shownModulePath('/home/me/kit-2/task.ts', '/home/me/kit')).toBe('/home/me/kit-2/task.ts'); // a sibling, not under it
    expect(shownModulePath('lookup', '/home/me/kit')).toBe('lookup');
    expect(shownModulePath('/home/me/kit', '/home/me/kit')).toBe('/home/me/kit'); // the directory itself
  });

  it('flatten, which reports and exports read configs through, shows module paths that way', () => {
    const here = `${process.cwd()}/examples/variants/tempered.ts`;
    expect(flatten({ model: { attention: here, dModel: 8 }, task: { kind: 'lookup' } })).toEqual({
      'model.attention': './examples/variants/tempered.ts',
      'model.dModel': 8,
      'task.kind': 'lookup',
    });
  });
});
