import { readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containing, matching } from './helpers/matchers.js';
import { z } from 'zod';
import { ingestRequestFiles } from '../src/files/requests-file.ingest.js';
import { nothingRead, type RunSummary } from '../src/files/ingest-run.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { event, FIXTURES, ndjson, tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const OPTIONS = { batchRows: 500, maxLineBytes: 256 * 1024 };
const SAMPLE = join(FIXTURES, 'requests.ndjson');
const SAMPLE_LINES = readFileSync(SAMPLE, 'utf8').trim().split('\n').length;

let w: Warehouse;
let dir: string;
beforeEach(async () => {
  w = await freshWarehouse();
  dir = tempDir();
});
afterEach(async () => {
  await w.close();
});

const rejectRow = z.object({ line: z.coerce.number(), field: z.string(), reason: z.string(), source: z.string() });

async function rejectsInTable(): Promise<z.infer<typeof rejectRow>[]> {
  return w.query('SELECT line, field, reason, source FROM ingest_rejects ORDER BY line', {}, rejectRow);
}

/** The rejects file the run reported for its first file. */
function rejectsInFile(summary: RunSummary): { line: number; field: string; reason: string; raw: string }[] {
  return readFileSync(summary.files[0]?.rejectsFile ?? '', 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; field: string; reason: string; raw: string });
}

async function storedRequests(): Promise<number> {
  return scalar(w, 'SELECT count() AS n FROM inference_requests FINAL');
}

/** Ingest one file with one good event before and after the bad line(s), and check the good ones landed. */
async function ingestAround(name: string, bad: string | Buffer): Promise<RunSummary> {
  const before = Buffer.from(`${JSON.stringify(event({ request_id: 'before' }))}\n`);
  const after = Buffer.from(`\n${JSON.stringify(event({ request_id: 'after' }))}\n`);
  const file = writeTemp(dir, name, Buffer.concat([before, Buffer.from(bad), after]));
  const summary = await ingestRequestFiles(w, [file], OPTIONS);
  expect(summary.accepted).toBe(2);
  expect(await storedRequests()).toBe(2);
  return summary;
}

describe('ingest requests from NDJSON', () => {
  it('loads the sample file, keeping every field and unknown fields as attributes', async () => {
    const summary = await ingestRequestFiles(w, [SAMPLE], OPTIONS);
    expect(summary).toMatchObject({ accepted: SAMPLE_LINES, rejected: 0, duplicates: 0 });
    expect(await storedRequests()).toBe(SAMPLE_LINES);
    const sums = await w.query(
      "SELECT toString(sum(gpu_ms)) AS gpu_ms, sum(input_tokens) AS input, countIf(attributes['client'] = 'sdk-py/2.1') AS with_client FROM inference_requests",
      {},
      z.object({ gpu_ms: z.string(), input: z.coerce.number(), with_client: z.coerce.number() }),
    );
    const expected = readFileSync(SAMPLE, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { gpu_ms: number; input_tokens: number });
    const expectedGpuMs = expected.reduce((a, e) => a + Math.round(e.gpu_ms * 1000), 0) / 1000;
    expect(Number(sums[0]?.gpu_ms)).toBeCloseTo(expectedGpuMs, 6);
    expect(sums[0]?.input).toBe(expected.reduce((a, e) => a + e.input_tokens, 0));
    expect(sums[0]?.with_client).toBe(SAMPLE_LINES);
  });

  it('never counts a request twice: a second ingestion of the same file is all duplicates', async () => {
    await ingestRequestFiles(w, [SAMPLE], OPTIONS);
    const again = await ingestRequestFiles(w, [SAMPLE], OPTIONS);
    expect(again).toMatchObject({ accepted: 0, rejected: 0, duplicates: SAMPLE_LINES });
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(SAMPLE_LINES);
    expect(await scalar(w, 'SELECT uniqExact(request_id) AS n FROM inference_requests_dedup')).toBe(SAMPLE_LINES);
  });

  it('counts duplicates inside one file and across batches, and stores each id once', async () => {
    const events = Array.from({ length: 30 }, (_, i) => event({ request_id: `r${i % 10}` }));
    const file = writeTemp(dir, 'dups.ndjson', ndjson(events));
    const summary = await ingestRequestFiles(w, [file], { ...OPTIONS, batchRows: 4 });
    expect(summary).toMatchObject({ accepted: 10, duplicates: 20, rejected: 0 });
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(10);
  });

  it('deduplicates in the table itself when two writers race (ReplacingMergeTree + FINAL)', async () => {
    const file = writeTemp(dir, 'one.ndjson', ndjson([event({ request_id: 'same' })]));
    await Promise.all([ingestRequestFiles(w, [file], OPTIONS), ingestRequestFiles(w, [file], OPTIONS)]);
    expect(await storedRequests()).toBe(1);
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests_dedup')).toBe(1);
  });

  it('reads gzip the same as plain', async () => {
    const file = writeTemp(dir, 'sample.ndjson.gz', gzipSync(readFileSync(SAMPLE)));
    const summary = await ingestRequestFiles(w, [file], OPTIONS);
    expect(summary).toMatchObject({ accepted: SAMPLE_LINES, rejected: 0 });
  });

  it('rejects malformed JSON with its line number, to the rejects file and table', async () => {
    const summary = await ingestAround('malformed.ndjson', '{"request_id": "x", oops}');
    expect(summary.rejected).toBe(1);
    const [r] = rejectsInFile(summary);
    expect(r).toMatchObject({ line: 2, field: '', reason: matching(/^malformed JSON/) });
    expect(await rejectsInTable()).toEqual([containing({ line: 2, reason: matching(/malformed JSON/) })]);
  });

  it.each([
    ['a missing required field', event({ pool_id: undefined }), 'pool_id'],
    ['a wrong type', event({ gpu_ms: 'fast' }), 'gpu_ms'],
    ['a negative number', event({ input_tokens: -1 }), 'input_tokens'],
    ['Infinity', '{"request_id":"inf","ts":"2026-10-01T10:00:00Z","model_id":"m","feature_id":"f","tenant_id":"t","pool_id":"p","gpu_ms":1e999}', 'gpu_ms'],
    ['a timestamp without a zone', event({ ts: '2026-10-01 10:00:00' }), 'ts'],
    ['a long string in a field', event({ feature_id: 'f'.repeat(100_000) }), 'feature_id'],
  ])('rejects %s, naming the field and keeping the rest', async (_name, bad, field) => {
    const summary = await ingestAround('bad.ndjson', typeof bad === 'string' ? bad : JSON.stringify(bad));
    expect(summary.rejected).toBe(1);
    const rejects = await rejectsInTable();
    expect(rejects).toEqual([containing({ line: 2, field })]);
    expect(rejects[0]?.reason.startsWith(`${field}:`)).toBe(true);
  });

  it('gives each run its own rejects file and never deletes or overwrites one it did not write', async () => {
    const file = writeTemp(dir, 'runs.ndjson', ndjson([event({ request_id: 'ok' }), '{broken']));
    // A file of the user's that happens to carry the old fixed name: left alone.
    const theirs = `${file}.rejects.ndjson`;
    writeFileSync(theirs, 'not ours\n');
    const first = await ingestRequestFiles(w, [file], OPTIONS);
    const second = await ingestRequestFiles(w, [file], OPTIONS);
    const firstFile = first.files[0]?.rejectsFile ?? '';
    const secondFile = second.files[0]?.rejectsFile ?? '';
    expect(firstFile).toBe(`${file}.rejects.${first.runId}.ndjson`);
    expect(secondFile).toBe(`${file}.rejects.${second.runId}.ndjson`);
    expect(rejectsInFile(first)).toEqual([containing({ line: 2, reason: matching(/malformed JSON/) })]);
    expect(rejectsInFile(second)).toEqual([containing({ line: 2, reason: matching(/malformed JSON/) })]);
    expect(readFileSync(theirs, 'utf8')).toBe('not ours\n');
    expect(existsSync(firstFile) && existsSync(secondFile)).toBe(true);
  });

  it.each([
    ['a field value', '{"request_id":"lone","ts":"2026-10-01T10:00:00Z","model_id":"m\\ud800","feature_id":"f","tenant_id":"t","pool_id":"p","gpu_ms":1}', 'model_id'],
    ['an extra field value', '{"request_id":"lone","ts":"2026-10-01T10:00:00Z","model_id":"m","feature_id":"f","tenant_id":"t","pool_id":"p","gpu_ms":1,"note":"x\\udc00y"}', 'note'],
    ['an extra field name', '{"request_id":"lone","ts":"2026-10-01T10:00:00Z","model_id":"m","feature_id":"f","tenant_id":"t","pool_id":"p","gpu_ms":1,"k\\ud83d":"v"}', 'k\\ud83d'],
  ])('rejects a lone surrogate escape in %s, naming the field, and stores every good line', async (_name, bad, field) => {
    const summary = await ingestAround('surrogate.ndjson', bad);
    expect(summary).toMatchObject({ accepted: 2, rejected: 1 });
    expect(rejectsInFile(summary)).toEqual([containing({ line: 2, field, reason: matching(/lone UTF-16 surrogate/), raw: bad })]);
    expect(await rejectsInTable()).toEqual([containing({ line: 2, field, reason: matching(/lone UTF-16 surrogate/) })]);
  });

  it('keeps a surrogate pair whole (an emoji, escaped or not) as valid text', async () => {
    const file = writeTemp(dir, 'pair.ndjson', '{"request_id":"pair","ts":"2026-10-01T10:00:00Z","model_id":"m\\ud83d\\ude00","feature_id":"f😀","tenant_id":"t","pool_id":"p","gpu_ms":1}\n');
    expect(await ingestRequestFiles(w, [file], OPTIONS)).toMatchObject({ accepted: 1, rejected: 0 });
    const rows = await w.query('SELECT model_id, feature_id FROM inference_requests', {}, z.object({ model_id: z.string(), feature_id: z.string() }));
    expect(rows).toEqual([{ model_id: 'm😀', feature_id: 'f😀' }]);
  });

  it('cuts a long rejected line without splitting a surrogate pair, so the reject is stored', async () => {
    const probe = JSON.stringify(event({ request_id: 'cut', gpu_ms: -1, note: '' }));
    const start = probe.indexOf('"note":""') + '"note":"'.length;
    // The 4096th character of the line is the first half of an emoji.
    const line = JSON.stringify(event({ request_id: 'cut', gpu_ms: -1, note: `${'a'.repeat(4095 - start)}${'😀'.repeat(10)}` }));
    expect(line.charCodeAt(4095)).toBe(0xd83d);
    const summary = await ingestAround('cut.ndjson', line);
    expect(summary.rejected).toBe(1);
    const [r] = rejectsInFile(summary);
    expect(r?.raw).toBe(line.slice(0, 4095));
    const [stored] = await w.query('SELECT raw FROM ingest_rejects', {}, z.object({ raw: z.string() }));
    expect(stored?.raw).toBe(line.slice(0, 4095));
  });

  it('rejects NaN (not JSON at all) as malformed', async () => {
    const summary = await ingestAround('nan.ndjson', '{"request_id":"n","gpu_ms":NaN}');
    expect(rejectsInFile(summary)[0]?.reason).toMatch(/malformed JSON/);
  });

  it('rejects a 1 MB line unread and keeps the lines around it', async () => {
    const huge = JSON.stringify(event({ request_id: 'huge', note: 'z'.repeat(1 << 20) }));
    const summary = await ingestAround('huge.ndjson', huge);
    expect(rejectsInFile(summary)[0]).toMatchObject({ line: 2, reason: 'line longer than 262144 bytes' });
  });

  it('reads a file with a BOM and CRLF line ends', async () => {
    const text = `\ufeff${[event({ request_id: 'a' }), event({ request_id: 'b' })].map((e) => JSON.stringify(e)).join('\r\n')}\r\n`;
    const file = writeTemp(dir, 'windows.ndjson', text);
    const summary = await ingestRequestFiles(w, [file], OPTIONS);
    expect(summary).toMatchObject({ accepted: 2, rejected: 0 });
    expect(summary.files[0]?.rejectsFile).toBeUndefined();
    expect(readdirSync(dir).filter((f) => f.startsWith('windows.ndjson.rejects'))).toEqual([]);
  });

  it('reports an empty file as nothing read', async () => {
    const file = writeTemp(dir, 'empty.ndjson', '');
    const summary = await ingestRequestFiles(w, [file], OPTIONS);
    expect(summary.files[0]?.error).toBe('file is empty');
    expect(nothingRead(summary)).toBe(true);
  });

  it('keeps every good line before a truncated gzip and says the file is cut', async () => {
    const lines = readFileSync(SAMPLE, 'utf8');
    const gz = gzipSync(lines);
    const file = writeTemp(dir, 'cut.ndjson.gz', gz.subarray(0, Math.floor(gz.length * 0.6)));
    const summary = await ingestRequestFiles(w, [file], OPTIONS);
    expect(summary.files[0]?.error).toMatch(/truncated/);
    expect(summary.accepted).toBeGreaterThan(100);
    expect(summary.accepted).toBeLessThan(SAMPLE_LINES);
    expect(await storedRequests()).toBe(summary.accepted);
    // What was stored is exactly a prefix of the file.
    const ids = await w.query('SELECT request_id FROM inference_requests ORDER BY request_id', {}, z.object({ request_id: z.string() }));
    const expected = lines.trim().split('\n').slice(0, summary.accepted).map((l) => (JSON.parse(l) as { request_id: string }).request_id).sort();
    expect(ids.map((r) => r.request_id)).toEqual(expected);
    expect(nothingRead(summary)).toBe(false);
  });

  it('reports a missing file and still ingests the others', async () => {
    const summary = await ingestRequestFiles(w, [join(dir, 'nope.ndjson'), SAMPLE], OPTIONS);
    expect(summary.files[0]?.error).toMatch(/no such file/);
    expect(summary.accepted).toBe(SAMPLE_LINES);
  });
});
