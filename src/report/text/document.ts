/**
 * The report's structure: a sequence of blocks that report.md and report.html are both rendered from. Prose and
 * tables are Markdown (their source format); verdicts and charts are blocks of their own, so the HTML styles a
 * verdict and inlines a chart from what it is, not by parsing the Markdown back and recognising it.
 */

export type Block =
  /** Headings, prose and tables, as Markdown lines. */
  | { kind: 'markdown'; lines: string[] }
  /** Verdict sentences (inline Markdown): a bulleted list at the top of the report, a lone paragraph in a series. */
  | { kind: 'verdicts'; sentences: string[]; list: boolean }
  /** A chart, drawn in the HTML and linked as its PNG in the Markdown. */
  | { kind: 'chart'; id: string; title: string; pngFile: string };

export const markdown = (...lines: string[]): Block => ({ kind: 'markdown', lines });
export const verdicts = (sentences: string[], list: boolean): Block => ({ kind: 'verdicts', sentences, list });
export const chart = (c: { id: string; title: string; pngFile: string }): Block => ({ kind: 'chart', id: c.id, title: c.title, pngFile: c.pngFile });

/** A block's Markdown lines; every block but free Markdown ends with a blank line. */
export function markdownLines(block: Block): string[] {
  if (block.kind === 'markdown') return block.lines;
  if (block.kind === 'verdicts') return [...block.sentences.map((s) => (block.list ? `- ${s}` : s)), ''];
  return [`![${block.title}](${block.pngFile})`, ''];
}

/** report.md: the blocks' lines, in order. */
export function toMarkdown(blocks: Block[]): string {
  return blocks.flatMap(markdownLines).join('\n');
}
