/**
 * On a machine chDB ships no native build for (macOS, arm64 Linux), the
 * installed CLI runs in a child process with a module hook that makes chDB
 * fail to load there as it does on a Mac (helpers/no-embedded-engine.ts):
 * every command that needs the embedded warehouse stops with one line on
 * stderr that names CLICKHOUSE_URL and the guide, exit 1, no stack; the
 * commands that need no warehouse work as ever; and a server warehouse
 * never loads chDB.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/main.js';
import { FIXTURES, tempDir } from './helpers/files.js';
import { withoutEmbeddedEngine, type EngineFailure } from './helpers/no-embedded-engine.js';
import { freePort } from './helpers/ports.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'inferledger.js');
const GUIDE = 'docs/local-clickhouse.md';
const run = promisify(execFile);

interface Result { code: number; stdout: string; stderr: string }

/** The installed CLI in a child process, chDB failing to load the given way; a data directory of its own, no server unless given. */
async function cli(args: readonly string[], options: { failure?: EngineFailure | 'none'; env?: Record<string, string> } = {}): Promise<Result> {
  const { failure = 'unsupported', env = {} } = options;
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLICKHOUSE_') && !k.startsWith('INFERLEDGER_')));
  const flags = failure === 'none' ? [] : withoutEmbeddedEngine(failure);
  try {
    const { stdout, stderr } = await run(process.execPath, [...flags, BIN, ...args], {
      cwd: tempDir(), env: { ...base, INFERLEDGER_DATA_DIR: join(tempDir(), 'warehouse'), ...env }, maxBuffer: 16 << 20, timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const ENGINE_LINE = new RegExp(
  '^inferledger: the embedded ClickHouse engine \\(chDB\\) (is not available|could not be loaded) on [a-z0-9]+-[a-z0-9]+.*; ' +
    `run a ClickHouse server \\(24\\.8 or newer\\) and set CLICKHOUSE_URL=http://localhost:8123 — see ${GUIDE.replace('.', '\\.')}$`,
);

/** One line on stderr, naming the way out; no stack. */
function expectOneEngineLine(result: Result): string {
  expect(result.code).toBe(EXIT.failed);
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  expect(lines, result.stderr).toHaveLength(1);
  expect(result.stderr).not.toMatch(/^\s*at /m);
  expect(lines[0]).toMatch(ENGINE_LINE);
  expect(lines[0]).toContain('CLICKHOUSE_URL');
  return lines[0] ?? '';
}

describe('without the embedded engine', () => {
  it('every command that needs the embedded warehouse stops with one line naming CLICKHOUSE_URL', async () => {
    const commands = [
      ['migrate'],
      ['sql', 'SELECT 1'],
      ['ingest', 'requests', join(FIXTURES, 'requests.ndjson')],
      ['attribute', '--from', '2026-10-01', '--to', '2026-10-02'],
      ['report', 'chargeback', '--month', '2026-10', '--by', 'team', '--out', tempDir()],
      ['alerts', 'list'],
      ['run', '--role', 'worker'],
    ];
    const results = await Promise.all(commands.map((args) => cli(args)));
    results.forEach((result, i) => {
      const line = expectOneEngineLine(result);
      // The hook fails chDB the way it fails on a Mac: no build for the platform, not a broken one.
      expect(line, commands[i]?.join(' ')).toContain(`is not available on ${process.platform}-${process.arch};`);
    });
    // The guide the line points to is there.
    expect(existsSync(join(ROOT, GUIDE))).toBe(true);
  });

  it('the demo, the first command a new user runs, stops the same way', async () => {
    const result = await cli(['demo']);
    expectOneEngineLine(result);
  });

  it('says the same when chDB is not installed at all, and gives the loader\'s reason in one line when its build does not load', async () => {
    expect(expectOneEngineLine(await cli(['migrate'], { failure: 'missing' }))).toContain('is not available on');
    const broken = expectOneEngineLine(await cli(['migrate'], { failure: 'broken' }));
    expect(broken).toContain('could not be loaded on');
    expect(broken).toContain('(failed to load native binding from @chdb/lib-linux-x64-gnu: libchdb.so: cannot open shared object file');
  });

  it('--help and config check still work', async () => {
    const help = await cli(['--help']);
    expect(help).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(help.stdout).toMatch(/Usage: inferledger/);
    expect((await cli(['report', 'chargeback', '--help'])).code).toBe(EXIT.ok);
    const check = await cli(['config', 'check']);
    expect(check).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(check.stdout).toContain('configuration is valid');
  });

  it('a server warehouse never loads chDB: with CLICKHOUSE_URL and no server there, one line about the server', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await cli(['migrate'], { env: { CLICKHOUSE_URL: url } });
    expect(result.code).toBe(EXIT.failed);
    expect(result.stderr).toBe(`inferledger: no ClickHouse server answers at ${url} (CLICKHOUSE_URL): connect ECONNREFUSED ${url.slice('http://'.length)}; start it, or check the URL — see ${GUIDE}\n`);
  });

  it('with the engine there, the same command works (the hook, not the machine, took it away)', async () => {
    const result = await cli(['sql', 'SELECT 1 AS one', '--format', 'csv'], { failure: 'none' });
    expect(result.stdout).toContain('1');
    expect(result.code).toBe(EXIT.ok);
  });
});
