// Nothing the README cites may be missing from the repository: every relative link, image and quoted path.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codePaths, markdownLinks } from './helpers/links.js';
import { REPO } from './helpers/cli.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

describe('README.md', () => {
  it('links only to files the repository contains', () => {
    const links = markdownLinks(README);
    expect(links.length).toBeGreaterThan(5); // the parser found the links at all
    const missing = links.filter((l) => !existsSync(join(REPO, l)));
    expect(missing).toEqual([]);
  });

  it('names only repository paths that exist, when it quotes one as code', () => {
    const paths = codePaths(README, ['src', 'configs', 'test', '.ci', '.github']);
    expect(paths).toContain('src/metrics/METRICS.md');
    expect(paths.filter((p) => !existsSync(join(REPO, p)))).toEqual([]);
  });

  it('cites no shared/ directory (users do not have it)', () => {
    expect(README).not.toMatch(/(^|[\s(`'"])shared\//m);
  });
});
