import { describe, expect, it } from 'vitest';
import {
  checkKey,
  checkPrefix,
  compareKeys,
  isHiddenKey,
} from '../../main/engine/repository/zones/zone-key.js';

describe('zone keys', () => {
  it('accepts relative slash-separated keys', () => {
    for (const key of [
      'a',
      'clusters/c1/nodes/n1/wal/000000010000000000000001',
      'a.b/c-d_e',
      '.tidemark/probe-1',
    ]) {
      expect(checkKey('z', key)).toBe(key);
    }
  });

  it('refuses keys that escape the root or differ between zones', () => {
    const bad = [
      '',
      '/a',
      'a/../b',
      '..',
      './a',
      'a//b',
      'a/',
      'a\\b',
      'a\nb',
      '.tmp-x',
      'a/.tmp-1/b',
    ];
    for (const key of bad)
      expect(() => checkKey('z', key), key).toThrow(/Zone "z" cannot use the object key/);
  });

  it('accepts list prefixes that end in "/" or in part of a name', () => {
    for (const prefix of ['', 'a/', 'a/b', 'a/b/', 'a/.tm'])
      expect(checkPrefix('z', prefix)).toBe(prefix);
    for (const prefix of ['/', '../', 'a//', 'a\\'])
      expect(() => checkPrefix('z', prefix), prefix).toThrow();
  });

  it('hides zone-internal keys unless listed explicitly, and orders keys by bytes', () => {
    expect(isHiddenKey('.tidemark/probe-1', '')).toBe(true);
    expect(isHiddenKey('.tidemark/probe-1', '.tidemark/')).toBe(false);
    expect(['a/b', 'a-b', 'ab', 'B', 'é'].sort(compareKeys)).toEqual([
      'B',
      'a-b',
      'a/b',
      'ab',
      'é',
    ]);
  });
});
