/**
 * Relative links in Markdown and HTML, for the tests that check every cited file exists. Remote links
 * (http:, mailto:, data:) and in-page anchors are not files, so they are left out; a link's own
 * #anchor is cut off, since the file is what must exist.
 */
import { Marked, type Token } from 'marked';

const NOT_A_FILE = /^([a-z][a-z0-9+.-]*:|#)/i;

function fileOf(href: string): string | null {
  const target = decodeURI(href.trim()).split('#')[0].split('?')[0];
  return target === '' || NOT_A_FILE.test(href.trim()) ? null : target;
}

/** Every token of a Markdown text, depth first, table cells and list items included. */
export function walkTokens(tokens: Token[], visit: (t: Token) => void): void {
  for (const t of tokens) {
    visit(t);
    const nested = t as { tokens?: Token[]; items?: Token[]; header?: { tokens: Token[] }[]; rows?: { tokens: Token[] }[][] };
    if (nested.tokens) walkTokens(nested.tokens, visit);
    if (nested.items) walkTokens(nested.items, visit);
    if (nested.header) nested.header.forEach((c) => walkTokens(c.tokens, visit));
    if (nested.rows) nested.rows.forEach((r) => r.forEach((c) => walkTokens(c.tokens, visit)));
  }
}

/** A Markdown text's tokens (GitHub-flavoured). */
export const lexMarkdown = (markdown: string): Token[] => new Marked({ gfm: true }).lexer(markdown);

/** Link and image targets as written (remote ones and #anchors included), plus src/href attributes of any raw HTML. */
export function markdownTargets(markdown: string): string[] {
  const out: string[] = [];
  walkTokens(lexMarkdown(markdown), (t) => {
    if (t.type === 'link' || t.type === 'image') out.push((t as { href: string }).href.trim());
    if (t.type === 'html') out.push(...[...(t as { raw: string }).raw.matchAll(/\s(?:href|src)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]));
  });
  return out;
}

/** The files a Markdown text links to: its relative link and image targets, without their #anchors. */
export function markdownLinks(markdown: string): string[] {
  return markdownTargets(markdown)
    .map(fileOf)
    .filter((f): f is string => f !== null);
}

/** href and src attributes of an HTML text; inline script bodies are code, not markup, so they are skipped (a script's own src is kept). */
export function htmlLinks(html: string): string[] {
  const markup = html.replace(/<script\b([^>]*)>[\s\S]*?<\/script>/gi, '<script$1></script>');
  return [...markup.matchAll(/\s(?:href|src)\s*=\s*"([^"]*)"/gi)]
    .map((m) => m[1].replace(/&amp;/g, '&'))
    .map(fileOf)
    .filter((f): f is string => f !== null);
}

/** Paths quoted as code in Markdown that name a repository file: `src/x.ts`, `configs/a.yaml` (placeholders like <name> are skipped). */
export function codePaths(markdown: string, roots: readonly string[]): string[] {
  const out: string[] = [];
  for (const [, code] of markdown.matchAll(/`([^`\n]+)`/g)) {
    if (!/^[\w./-]+$/.test(code) || !roots.some((r) => code.startsWith(`${r}/`))) continue;
    out.push(code);
  }
  return out;
}
