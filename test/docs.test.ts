/**
 * The documentation holds together: README stays a front page (at most 250
 * lines), every relative link in README.md, docs/*.md and bench/README.md
 * names a file that exists, and README links every page of docs/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const README = join(ROOT, 'README.md');
const DOCS = join(ROOT, 'docs');
/** Generated from the configuration schema; linked before it may exist. */
const CONFIGURATION = join(DOCS, 'configuration.md');

const docsPages = (): string[] => readdirSync(DOCS).filter((name) => name.endsWith('.md')).sort().map((name) => join(DOCS, name));
const pages = (): string[] => [README, ...docsPages(), join(ROOT, 'bench', 'README.md')];

/** Markdown without fenced code blocks and inline code, where `](` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`]*`/g, '');
}

/** The relative file links of a page (`[text](target)` and `![alt](target)`), as absolute paths without their #anchor. */
function fileLinks(page: string): { target: string; path: string }[] {
  const links: { target: string; path: string }[] = [];
  for (const m of prose(readFileSync(page, 'utf8')).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    const file = decodeURI(target.split('#')[0] ?? '');
    links.push({ target, path: resolve(dirname(page), file) });
  }
  return links;
}

describe('the documentation', () => {
  it('keeps README.md to at most 250 lines', () => {
    const text = readFileSync(README, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    expect(lines).toBeLessThanOrEqual(250);
  });

  it('links only to files that exist', () => {
    const broken: string[] = [];
    for (const page of pages()) {
      for (const { target, path } of fileLinks(page)) {
        if (path === CONFIGURATION && !existsSync(CONFIGURATION)) continue;
        if (!existsSync(path)) broken.push(`${relative(ROOT, page)}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('links every docs page from README.md', () => {
    const linked = new Set(fileLinks(README).map((link) => link.path));
    const unlinked = docsPages().filter((page) => !linked.has(page)).map((page) => relative(ROOT, page));
    expect(unlinked).toEqual([]);
  });
});
