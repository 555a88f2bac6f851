/**
 * bench/cli-start: how long the built `inferledger` command takes, start to
 * exit, for `--help` (no engine) and `sql "SELECT 1"` (the embedded engine
 * started, one query through the read-only checks). Each runs as a fresh
 * process, as a user types it; the median and slowest of --runs are printed.
 * Needs `npm run build` first. Writes bench/results/cli-start.json.
 *
 *   npx tsx bench/cli-start.ts [--runs 10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeResult } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'bin', 'inferledger.js');
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(args.runs);
const TARGETS = { help: 0.3, sql: 0.6 } as const;

/** Seconds of one run of the command in a fresh process. */
function timeOnce(argv: readonly string[]): number {
  const started = performance.now();
  execFileSync(process.execPath, [bin, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
  return (performance.now() - started) / 1000;
}

function summarise(samples: number[]): { median: number; max: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN, min: sorted[0] ?? NaN };
}

const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-cli-start-'));
try {
  const sqlArgs = ['--data-dir', dataDir, 'sql', 'SELECT 1'];
  // The first run creates the data directory and its database: not what a user waits for every time.
  timeOnce(sqlArgs);
  const samples = { help: [] as number[], sql: [] as number[] };
  // Alternating, so a slow moment of the machine falls on both alike.
  for (let i = 0; i < runs; i++) {
    samples.help.push(timeOnce(['--help']));
    samples.sql.push(timeOnce(sqlArgs));
  }
  const result = {
    node: process.version,
    runs,
    help: { ...summarise(samples.help), target: TARGETS.help },
    sql: { ...summarise(samples.sql), target: TARGETS.sql },
  };
  for (const name of ['help', 'sql'] as const) {
    const r = result[name];
    console.log(`${name === 'help' ? 'inferledger --help     ' : 'inferledger sql SELECT 1'}: median ${r.median.toFixed(3)} s, min ${r.min.toFixed(3)} s, max ${r.max.toFixed(3)} s over ${runs} runs (target < ${r.target} s)`);
  }
  writeResult('cli-start', result);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
