/**
 * The manual and the pages it links to (issue 29): README.md stays a manual of at most 300 lines, and every relative
 * link or image in README.md, CHANGELOG.md and docs/**\/*.md resolves, from the directory of the file that holds it,
 * to a file or directory of the repository. A link's #anchor into a Markdown file (or into the page itself) must
 * name one of that file's headings, slugged as GitHub does.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Token } from 'marked';
import { describe, expect, it } from 'vitest';
import { codePaths, lexMarkdown as lex, markdownTargets as linkTargets, walkTokens as walk } from './helpers/links.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const README_MAX_LINES = 300;

/** README.md, CHANGELOG.md and every Markdown file under docs/, as repository-relative paths. */
function manualFiles(): string[] {
  const docs = existsSync(join(REPO, 'docs'))
    ? readdirSync(join(REPO, 'docs'), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.md'))
        .map((f) => join('docs', f))
    : [];
  return ['README.md', 'CHANGELOG.md', ...docs.sort()];
}

/** The plain text of inline tokens: what GitHub slugs a heading from (no link targets, no backticks). */
function plainText(tokens: Token[]): string {
  return tokens
    .map((t) => {
      const inner = t as { tokens?: Token[]; text?: string };
      if (inner.tokens && inner.tokens.length > 0) return plainText(inner.tokens);
      return t.type === 'html' ? '' : (inner.text ?? '');
    })
    .join('');
}

/** GitHub's heading anchor (github-slugger): lower case, punctuation and symbols dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a Markdown file's headings; a repeated heading gets -1, -2, … as on GitHub. */
function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  walk(lex(markdown), (t) => {
    if (t.type !== 'heading') return;
    const base = slug(plainText((t as { tokens: Token[] }).tokens));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  });
  return anchors;
}

const REMOTE = /^[a-z][a-z0-9+.-]*:/i; // http:, https:, mailto:, data: …

/** What is wrong with one link target written in `file` (repository-relative), or null when it resolves. */
function brokenLink(file: string, href: string, read = (p: string) => readFileSync(p, 'utf8')): string | null {
  if (REMOTE.test(href)) return null;
  const [rawPath, anchor] = href.split('#', 2);
  const path = decodeURI(rawPath.split('?')[0]);
  const target = path === '' ? join(REPO, file) : resolve(REPO, dirname(file), path);
  const shown = path === '' ? `${file}: ${href}` : `${file}: ${href} (${relative(REPO, target) || '.'})`;
  if (relative(REPO, target).startsWith('..')) return `${shown}: outside the repository`;
  if (!existsSync(target)) return `${shown}: no such file`;
  if (anchor !== undefined && target.endsWith('.md') && statSync(target).isFile()) {
    if (!headingAnchors(read(target)).has(decodeURIComponent(anchor))) return `${shown}: no heading with anchor #${anchor}`;
  }
  return null;
}

describe('the manual: README.md, CHANGELOG.md, docs/', () => {
  const files = manualFiles();

  it(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const text = readFileSync(join(REPO, 'README.md'), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0); // as wc -l counts
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it('the files exist, and the studies have their own pages', () => {
    expect(files.filter((f) => !existsSync(join(REPO, f)))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['docs/verdict.md', 'docs/studies/claims.md']));
  });

  it.each(files)('every relative link and image in %s resolves, anchors included', (file) => {
    const links = linkTargets(readFileSync(join(REPO, file), 'utf8'));
    if (file === 'README.md') expect(links.length).toBeGreaterThan(20); // the parser found the links at all
    expect(links.map((href) => brokenLink(file, href)).filter((b) => b !== null)).toEqual([]);
  });

  it('every page under docs/ can be reached from README.md by following links', () => {
    const reached = new Set<string>();
    const queue = ['README.md'];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (reached.has(file)) continue;
      reached.add(file);
      for (const href of linkTargets(readFileSync(join(REPO, file), 'utf8'))) {
        if (REMOTE.test(href) || brokenLink(file, href) !== null) continue;
        const path = decodeURI(href.split('#')[0]);
        const target = relative(REPO, resolve(REPO, dirname(file), path === '' ? '.' : path));
        if (target.endsWith('.md') && files.includes(target)) queue.push(target);
      }
    }
    expect(files.filter((f) => !reached.has(f))).toEqual([]);
  });

  it('names only repository paths that exist, when README.md, CHANGELOG.md or a docs page quotes one as code', () => {
    expect(codePaths(readFileSync(join(REPO, 'README.md'), 'utf8'), ['src'])).toContain('src/metrics/METRICS.md'); // the parser finds them
    for (const file of files) {
      const paths = codePaths(readFileSync(join(REPO, file), 'utf8'), ['src', 'configs', 'test', 'assembly', '.ci', '.github']);
      expect(
        paths.filter((p) => !existsSync(join(REPO, p))),
        file,
      ).toEqual([]);
    }
  });

  it.each(files)('%s cites no shared/ directory (users do not have it)', (file) => {
    expect(readFileSync(join(REPO, file), 'utf8')).not.toMatch(/(^|[\s(`'"])shared\//m);
  });
});

describe('the link checker itself', () => {
  it('slugs headings as GitHub does', () => {
    expect(slug("The seed's claims, one test each")).toBe('the-seeds-claims-one-test-each');
    expect(slug('Changed on 2026-12-02: what a claim counts')).toBe('changed-on-2026-12-02-what-a-claim-counts');
    expect([...headingAnchors('# A\n\n## `x` (y)\n\n## `x` (y)\n\n### [Link text](z.md)\n')]).toEqual(['a', 'x-y', 'x-y-1', 'link-text']);
  });

  it('finds links in prose, tables, lists and images, and reports each way a link can break', () => {
    const md = '[a](docs/x.md#h) ![b](img.png)\n\n| c |\n|---|\n| [d](../e/) |\n\n- [f](https://example.com) [g](#top)\n';
    expect(linkTargets(md)).toEqual(['docs/x.md#h', 'img.png', '../e/', 'https://example.com', '#top']);
    expect(brokenLink('README.md', 'docs/no-such-page.md')).toMatch(/no such file/);
    expect(brokenLink('README.md', '../outside.md')).toMatch(/outside the repository/);
    expect(brokenLink('README.md', '#no-such-heading')).toMatch(/no heading with anchor/);
    expect(brokenLink('README.md', 'CHANGELOG.md#no-such-date')).toMatch(/no heading with anchor/);
    expect(brokenLink('README.md', 'https://example.com/nowhere')).toBeNull();
    expect(brokenLink('README.md', 'src/metrics/METRICS.md#what-an-independent-reference-found')).toBeNull();
  });
});
