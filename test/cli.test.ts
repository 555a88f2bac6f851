import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main, EXIT } from '../src/cli/main.js';
import { FIXTURES, event, ndjson, tempDir, writeTemp } from './helpers/files.js';
import { matching } from './helpers/matchers.js';
import { TEST_DATA_DIR, uniqueDatabase } from './helpers/warehouse.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');

/** Run the CLI in-process against this file's warehouse, in a database of its own. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, ...env },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('inferledger CLI', () => {
  it('ingests requests and billing, then answers a parameterised query in table, csv and json', async () => {
    const env = { CLICKHOUSE_DATABASE: uniqueDatabase() };
    const requests = await cli(['ingest', 'requests', join(FIXTURES, 'requests.ndjson')], env);
    expect(requests).toMatchObject({ code: EXIT.ok });
    expect(requests.out).toMatch(/requests\.ndjson: 2000 accepted, 0 rejected, 0 duplicate/);
    expect(requests.err).toMatch(/applied migrations/);

    const billing = await cli(['ingest', 'billing', join(FIXTURES, 'billing-focus.csv'), '--format', 'focus'], env);
    expect(billing.out).toMatch(/120 accepted, 0 rejected; billed total of the accepted lines: USD 4751.628$/m);

    const query = 'SELECT pool_id, count() AS requests FROM inference_requests_dedup WHERE pool_id = {pool:String} GROUP BY pool_id';
    const csv = await cli(['sql', query, '--param', 'pool=clf-t4', '--format', 'csv'], env);
    expect(csv.out.split('\n')[0]).toBe('"pool_id","requests"');
    expect(csv.out.split('\n')[1]).toMatch(/^"clf-t4",\d+$/);
    const json = await cli(['sql', query, '--param', 'pool=clf-t4', '--format', 'json'], env);
    expect(JSON.parse(json.out)).toMatchObject({ pool_id: 'clf-t4' });
    const table = await cli(['sql', query, '--param', 'pool=clf-t4'], env);
    expect(table.out).toMatch(/pool_id.*requests[\s\S]*clf-t4/);

    const summary = await cli(['sql', '--file', join(FIXTURES, '..', '..', 'sql', 'queries', 'raw-summary.sql'), '--format', 'csv'], env);
    expect(summary.out.split('\n')).toEqual([
      '"day","pool","requests","gpu_hours","tokens","currency","effective_cost","billed_cost"',
      matching(/^"2026-10-01","\(untagged\)",0,0,0,"USD",0.3288,0.3288$/),
      matching(/^"2026-10-01","clf-t4",\d+,/),
      matching(/^"2026-10-01","embed-l4",\d+,/),
      matching(/^"2026-10-01","llm-h100",\d+,/),
    ]);
  });

  it('prints the summary as JSON on request, and writes rejected lines beside the input', async () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'mixed.ndjson', ndjson([event(), '{broken', event({ gpu_ms: -2, request_id: 'neg' })]));
    const result = await cli(['ingest', 'requests', file, '--json'], { CLICKHOUSE_DATABASE: uniqueDatabase() });
    expect(result.code).toBe(EXIT.ok);
    const summary = JSON.parse(result.out) as { runId: string; files: { rejectsFile: string }[] };
    expect(summary).toMatchObject({ accepted: 1, rejected: 2, duplicates: 0 });
    expect(summary.files[0]?.rejectsFile).toBe(`${file}.rejects.${summary.runId}.ndjson`);
    const rejects = readFileSync(summary.files[0]?.rejectsFile ?? '', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; field: string });
    expect(rejects.map((r) => [r.line, r.field])).toEqual([[2, ''], [3, 'gpu_ms']]);
  });

  it('exits 1 when nothing could be read', async () => {
    const dir = tempDir();
    const result = await cli(['ingest', 'requests', writeTemp(dir, 'empty.ndjson', ''), join(dir, 'missing.ndjson')], { CLICKHOUSE_DATABASE: uniqueDatabase() });
    expect(result.code).toBe(EXIT.failed);
    expect(result.out).toMatch(/file is empty/);
    expect(result.out).toMatch(/no such file/);
  });

  it('validates configuration, listing every problem, with exit 2', async () => {
    const ok = await cli(['config', 'check'], { CLICKHOUSE_PASSWORD: 'hunter2' });
    expect(ok.code).toBe(EXIT.ok);
    expect(ok.out).toMatch(/configuration is valid/);
    expect(ok.out).not.toMatch(/hunter2/);
    const withUrl = await cli(['config', 'check'], { CLICKHOUSE_URL: 'https://ops:url-hunter2@ch.example:8443', REDIS_URL: 'redis://:redis-hunter2@r.example:6379' });
    expect(withUrl.code).toBe(EXIT.ok);
    expect(withUrl.out).toMatch(/"url": "https:\/\/\*\*\*@ch\.example:8443\/"/);
    expect(withUrl.out).not.toMatch(/hunter2|ops:/);
    const bad = await cli(['config', 'check'], { CLICKHOUSE_URL: 'not a url', INFERLEDGER_BATCH_ROWS: 'many' });
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toMatch(/CLICKHOUSE_URL/);
    expect(bad.err).toMatch(/INFERLEDGER_BATCH_ROWS/);
  });

  it('refuses bad command-line input with exit 2', async () => {
    expect((await cli(['ingest', 'billing', 'x.csv'])).code).toBe(EXIT.usage);
    expect((await cli(['ingest', 'billing', 'x.csv', '--format', 'xml'])).code).toBe(EXIT.usage);
    expect((await cli(['sql', 'SELECT 1', '--param', 'no-equals'])).code).toBe(EXIT.usage);
    expect((await cli(['ingest', 'requests', 'x', '--batch-rows', '0'])).code).toBe(EXIT.usage);
    expect((await cli(['frobnicate'])).code).toBe(EXIT.usage);
    expect((await cli(['sql'])).code).toBe(EXIT.usage);
    expect((await cli(['sql', 'SELECT 1', '--file', 'q.sql'])).code).toBe(EXIT.usage);
  });

  it('runs as the installed binary', async () => {
    const dataDir = tempDir();
    const { stdout } = await run('node', [BIN, '--data-dir', dataDir, 'ingest', 'requests', join(FIXTURES, 'requests.ndjson')]);
    expect(stdout).toMatch(/2000 accepted/);
    const failed = await run('node', [BIN, '--data-dir', dataDir, 'ingest', 'requests', join(dataDir, 'none.ndjson')]).catch((e: unknown) => e as { code: number; stdout: string });
    expect(failed).toMatchObject({ code: EXIT.failed });
  });
});

describe('inferledger attribute', () => {
  it('attributes a window and replaces it on a re-run', async () => {
    const env = { CLICKHOUSE_DATABASE: uniqueDatabase() };
    await cli(['ingest', 'requests', join(FIXTURES, 'requests.ndjson')], env);
    await cli(['ingest', 'billing', join(FIXTURES, 'billing-focus.csv'), '--format', 'focus'], env);
    const first = await cli(['attribute', '--from', '2026-10-01', '--to', '2026-10-02T00:00:00Z'], env);
    expect(first.code).toBe(EXIT.ok);
    expect(first.out).toMatch(/^2026-10-01: \d+ allocation rows, 96 pool-periods, \d+ cpp rows/);
    const again = await cli(['attribute', '--from', '2026-10-01', '--to', '2026-10-02', '--json'], env);
    expect(JSON.parse(again.out)).toMatchObject({ day: '2026-10-01', rows: { pool_cost: 96, coverage_daily: 1 } });
    const total = await cli(['sql', 'SELECT sum(requests) FROM cpp_daily', '--format', 'csv'], env);
    expect(total.out.split('\n')[1]).toBe('2000');
  });

  it('refuses a window without a zone or the wrong way round', async () => {
    expect((await cli(['attribute', '--from', '2026-10-01T00:00:00', '--to', '2026-10-02'])).code).toBe(EXIT.usage);
    expect((await cli(['attribute', '--from', '2026-10-02', '--to', '2026-10-01'])).code).toBe(EXIT.usage);
    expect((await cli(['attribute', '--from', '2026-10-01'])).code).toBe(EXIT.usage);
  });
});
