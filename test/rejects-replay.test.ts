/**
 * `ingest requests --from-rejects` on the real embedded warehouse: the
 * rejects file of a real ingestion, repaired with --set and stored exactly
 * once; a dry run and a second replay store nothing; a refused row (a
 * conflicting duplicate) turns back into its event; lines the rejects file
 * holds only part of are reported, never stored half.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldSet } from '../src/cli/context.js';
import { main } from '../src/cli/main.js';
import { ingestRequestFiles } from '../src/files/requests-file.ingest.js';
import type { RejectsReplayReport } from '../src/replay/rejects-replay.js';
import { eventOfRefusedRow, withFieldSets } from '../src/replay/replay-values.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { sampleRequestLines } from './fixtures/sample-data.js';
import { event, ndjson, tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar, TEST_DATA_DIR } from './helpers/warehouse.js';

const NO_POOL = 200;
const NO_ZONE = 20;
const VALID = 50;
/** The copy of ok-000000 stored first has this GPU time; a second copy differs. */
let firstGpuMs: number;

let warehouse: Warehouse;
let rejectsFile: string;
let input: string;
const noPool = sampleRequestLines(NO_POOL, 21, 'rnp-').map((line) => JSON.stringify({ ...(JSON.parse(line) as object), pool_id: undefined }));

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: { INFERLEDGER_DATA_DIR: TEST_DATA_DIR, CLICKHOUSE_DATABASE: warehouse.database } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function replay(...args: string[]): Promise<RejectsReplayReport> {
  const result = await cli('ingest', 'requests', '--from-rejects', rejectsFile, '--json', ...args);
  expect(result.code, result.err).toBe(0);
  return JSON.parse(result.out) as RejectsReplayReport;
}

const count = (sql: string): Promise<number> => scalar(warehouse, sql);

beforeAll(async () => {
  warehouse = await freshWarehouse();
  const valid = sampleRequestLines(VALID, 22, 'rok-');
  firstGpuMs = (JSON.parse(valid[0] as string) as { gpu_ms: number }).gpu_ms;
  const noZone = sampleRequestLines(NO_ZONE, 23, 'rts-').map((line) => JSON.stringify({ ...(JSON.parse(line) as object), ts: '2026-10-01T10:15:00' }));
  const lines = [
    ...valid,
    ...noPool,
    ...noZone,
    '{"request_id": "cut',
    // Rejected for its missing pool, but longer than the 4096 characters a rejects file keeps.
    JSON.stringify(event({ request_id: 'long-1', pool_id: undefined, note: 'x'.repeat(5000) })),
    // A second copy of an id stored first, with different content: a conflicting duplicate, recorded as its row.
    JSON.stringify({ ...(JSON.parse(valid[0] as string) as object), gpu_ms: firstGpuMs + 1 }),
  ];
  input = writeTemp(tempDir(), 'day.ndjson', ndjson(lines));
  const summary = await ingestRequestFiles(warehouse, [input], { batchRows: 100, maxLineBytes: 256 * 1024, parserThreads: 1 });
  expect(summary).toMatchObject({ accepted: VALID, rejected: NO_POOL + NO_ZONE + 3 });
  rejectsFile = summary.files[0]?.rejectsFile ?? '';
});
afterAll(async () => { await warehouse.close(); });

describe('ingest requests --from-rejects', () => {
  it('in a dry run, reports what it would store and why the rest stays, and stores nothing', async () => {
    const report = await replay('--set', 'pool_id=clf-t4', '--dry-run');
    expect(report).toMatchObject({ dryRun: true, read: NO_POOL + NO_ZONE + 3, stored: NO_POOL, duplicates: 0, invalid: NO_ZONE + 3, rejectsFile });
    expect(report.reasons.map((r) => [r.reason, r.count])).toEqual([
      ['ts: must be ISO-8601 with a zone (Z or +hh:mm) or epoch milliseconds', NO_ZONE],
      // The field set applies to every line: the conflicting copy now differs in its pool too.
      ['conflicting duplicate of request_id "rok-000000": pool_id, gpu_ms differ from the copy stored first', 1],
      [expect.stringMatching(/^malformed JSON/) as string, 1],
      ['the rejects file holds only the first 4096 characters of this line: replay it from the input file', 1],
    ]);
    expect(report.reasons[0]?.examples[0]?.at).toMatch(/\.rejects\.[0-9a-f-]+\.ndjson:\d+ \(line \d+ of the input\)$/);
    expect(await count("SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, 'rnp-')")).toBe(0);
  });

  it('stores the repaired lines exactly once, as they were plus the field set', async () => {
    const report = await replay('--set', 'pool_id=clf-t4');
    expect(report).toMatchObject({ dryRun: false, stored: NO_POOL, duplicates: 0, invalid: NO_ZONE + 3 });
    expect(await count("SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, 'rnp-')")).toBe(NO_POOL);
    const rows = await warehouse.query(
      "SELECT request_id, toUnixTimestamp64Milli(ts) AS ts, pool_id, tenant_id, toUInt64(gpu_ms * 1000) AS gpu_micros, input_tokens, attributes['client'] AS client, source FROM inference_requests_dedup WHERE startsWith(request_id, 'rnp-') ORDER BY request_id",
      {},
      z.object({ request_id: z.string(), ts: z.coerce.number(), pool_id: z.string(), tenant_id: z.string(), gpu_micros: z.coerce.number(), input_tokens: z.coerce.number(), client: z.string(), source: z.string() }),
    );
    expect(rows).toEqual(noPool.map((line) => {
      const sent = JSON.parse(line) as { request_id: string; ts: string; tenant_id: string; gpu_ms: number; input_tokens: number; client: string };
      return { request_id: sent.request_id, ts: Date.parse(sent.ts), pool_id: 'clf-t4', tenant_id: sent.tenant_id, gpu_micros: Math.round(sent.gpu_ms * 1000), input_tokens: sent.input_tokens, client: sent.client, source: 'file:day.ndjson' };
    }));
    // The rejects file is only read.
    expect(readFileSync(rejectsFile, 'utf8').trim().split('\n')).toHaveLength(NO_POOL + NO_ZONE + 3);
  });

  it('stores nothing twice: a second replay finds every line stored', async () => {
    expect(await replay('--set', 'pool_id=clf-t4')).toMatchObject({ stored: 0, duplicates: NO_POOL, invalid: NO_ZONE + 3 });
    expect(await count("SELECT count() AS n FROM inference_requests WHERE startsWith(request_id, 'rnp-')")).toBe(NO_POOL);
  });

  it('sets any field, the value as JSON when it parses: a zone for the timestamps, the first copy\'s GPU time for the conflict', async () => {
    const zoned = await replay('--set', 'ts=2026-10-01T10:15:00Z');
    expect(zoned).toMatchObject({ stored: NO_ZONE, duplicates: 0 });
    expect(await count("SELECT count() AS n FROM inference_requests_dedup WHERE startsWith(request_id, 'rts-') AND ts = '2026-10-01 10:15:00'")).toBe(NO_ZONE);
    const repaired = await replay('--set', `gpu_ms=${firstGpuMs}`);
    expect(repaired).toMatchObject({ stored: 0, duplicates: 1 });
    expect(await count("SELECT count() AS n FROM inference_requests WHERE request_id = 'rok-000000'")).toBe(1);
  });

  it('prints the report as text, and refuses usage that mixes replay and ingestion', async () => {
    const text = await cli('ingest', 'requests', '--from-rejects', rejectsFile, '--set', 'pool_id=clf-t4', '--dry-run');
    expect(text.code).toBe(0);
    expect(text.out).toContain(`rejects of ${rejectsFile}: ${NO_POOL + NO_ZONE + 3} read, 0 skipped by the filters, 0 would be stored, ${NO_POOL} already stored, ${NO_ZONE + 3} still invalid`);
    expect(text.out).toContain(`${NO_ZONE} x ts: must be ISO-8601 with a zone`);
    expect((await cli('ingest', 'requests', input, '--set', 'pool_id=x')).code).toBe(2);
    expect((await cli('ingest', 'requests', input, '--from-rejects', rejectsFile)).code).toBe(2);
    expect((await cli('ingest', 'requests')).code).toBe(2);
    // Not a rejects file: every line says so, nothing is stored.
    const wrong = await cli('ingest', 'requests', '--from-rejects', input, '--json');
    expect(JSON.parse(wrong.out)).toMatchObject({ stored: 0, invalid: VALID + NO_POOL + NO_ZONE + 3, reasons: [{ reason: 'not a line of a rejects file (an object with line, field, reason and raw)' }] });
  });
});

describe('replay values', () => {
  it('reads --set values as JSON when they parse, else as text', () => {
    expect(['pool_id=llm-h100', 'gpu_ms=12.5', 'team="42"', 'status=', 'region=us=east'].reduce((sets, flag) => fieldSet(flag, sets), {})).toEqual({ pool_id: 'llm-h100', gpu_ms: 12.5, team: '42', status: '', region: 'us=east' });
    expect(() => fieldSet('pool_id')).toThrow(/field=value/);
    expect(() => fieldSet('=x')).toThrow(/field=value/);
  });

  it('sets fields on a JSON object only, and keeps any other value as it is', () => {
    const sets = { pool_id: 'p', extra: { a: 1 } };
    expect(JSON.parse((withFieldSets(Buffer.from('{"request_id":"a","pool_id":"q"}'), sets, 1000) as Buffer).toString())).toEqual({ request_id: 'a', pool_id: 'p', extra: { a: 1 } });
    for (const value of ['[1]', '{"cut', 'null']) expect(withFieldSets(Buffer.from(value), sets, 1000)?.toString()).toBe(value);
    expect(withFieldSets(null, sets, 1000)).toBeNull();
  });

  it('turns a refused row back into the event it came from', () => {
    const row = JSON.stringify(['id-1', '2026-10-01 10:15:00.250', 'm', '', 'f', 't', '', 'p', '', '', 'H100', 1.5, 3, 0, null, 'ok', { client: 'x' }, 'kafka:t', '2026-10-02 00:00:00.000']);
    expect(JSON.parse(eventOfRefusedRow(row)?.toString() ?? '')).toEqual({ request_id: 'id-1', ts: '2026-10-01T10:15:00.250Z', model_id: 'm', feature_id: 'f', tenant_id: 't', pool_id: 'p', gpu_type: 'H100', gpu_ms: 1.5, input_tokens: 3, output_tokens: 0, status: 'ok', client: 'x' });
    expect(eventOfRefusedRow('[1, 2]')).toBeUndefined();
    expect(eventOfRefusedRow('{"request_id":"x"}')).toBeUndefined();
  });
});
