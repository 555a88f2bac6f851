/**
 * The shape of the house, checked: the import graph drawn from the code has no
 * cycle and no arrow from src/ into jobs/, days are defined in one place, the
 * CLI stays wiring (small files), and the lockfile keeps `npm ci` working.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'|import\('(\.{1,2}\/[^']+)'\)/g;

/** Relative imports of each file under src/ and jobs/ (static, re-exports and dynamic), as repository paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sourceFiles('src'), ...sourceFiles('jobs')]) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const targets = [...text.matchAll(IMPORT)].map((m) => relative(ROOT, resolve(ROOT, dirname(file), (m[1] ?? m[2] ?? '').replace(/\.js$/, '.ts'))));
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, indices.get(w) ?? 0));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();

  it('resolves every relative import to a file that exists', () => {
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t) && !t.startsWith('sql/')).map((t) => `${file} -> ${t}`));
    expect(missing).toEqual([]);
  });

  it('has no arrow from src/ into jobs/: the registry is handed in by the entry point', () => {
    const arrows = [...graph].flatMap(([file, targets]) => (file.startsWith('src/') ? targets.filter((t) => t.startsWith('jobs/')).map((t) => `${file} -> ${t}`) : []));
    expect(arrows).toEqual([]);
  });

  it('has no cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one (the check itself can fail)', () => {
    expect(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});

describe('one home per concept', () => {
  const files = [...sourceFiles('src'), ...sourceFiles('jobs')];

  it('defines the length of a day once, in util/time', () => {
    const definitions = files.filter((f) => /\b(?:const|let)\s+DAY(?:_MS)?\s*=|86_?400_?000/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(definitions).toEqual(['src/util/time.ts']);
  });

  it('parses UTC days through util/time, not by appending a midnight', () => {
    const spelled = files.filter((f) => f !== 'src/util/time.ts' && readFileSync(join(ROOT, f), 'utf8').includes('T00:00:00Z`'));
    expect(spelled).toEqual([]);
  });

  it('keeps every CLI file under 300 lines: commands are wiring', () => {
    const long = sourceFiles('src/cli').map((f) => ({ f, lines: readFileSync(join(ROOT, f), 'utf8').split('\n').length })).filter((x) => x.lines > 300);
    expect(long).toEqual([]);
  });
});

describe('the lockfile', () => {
  it('lists every optional platform package of the engine, published or not, so `npm ci` accepts it', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { optionalDependencies?: Record<string, string>; optional?: boolean }> };
    const chdb = lock.packages['node_modules/chdb'];
    const optional = Object.keys(chdb?.optionalDependencies ?? {});
    expect(optional.length).toBeGreaterThan(0);
    expect(optional.filter((name) => lock.packages[`node_modules/${name}`] === undefined)).toEqual([]);
  });
});
