/**
 * `inferledger ingest requests` with the engine parsing units itself gives
 * what the parser threads give: the same rows stored, the same counts, the
 * same rejects (line, field, reason, text), the same duplicates and
 * conflicts, within a unit, across units and against what is stored, and the
 * same isolation of a row the warehouse refuses. Each case runs the same file
 * through both paths, into warehouses of their own, and compares.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema } from '../src/config/config.js';
import { ENGINE_UNIT_BYTES, ingestRequestFiles, linesUpTo, type IngestRequestsOptions } from '../src/files/requests-file.ingest.js';
import type { RunSummary } from '../src/files/ingest-run.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { recordedWarehouse, stagedInserts, stagedUnits, storedRequests, type RecordedWarehouse } from './helpers/engine-units.js';
import { event, ndjson, tempDir } from './helpers/files.js';
import { discardWarehouse, scalar } from './helpers/warehouse.js';

/** Units of ~1 KB: a few lines each, so one file spans many units. */
const ENGINE: IngestRequestsOptions = { batchRows: 7, maxLineBytes: 64 * 1024, parserThreads: 1, engineUnitBytes: 1024 };
const THREADS: IngestRequestsOptions = { ...ENGINE, engineUnitBytes: 0 };

let engine: RecordedWarehouse;
let threads: RecordedWarehouse;
let dir: string;

beforeEach(async () => {
  [engine, threads] = [await recordedWarehouse(), await recordedWarehouse()];
  dir = tempDir();
});
afterEach(async () => {
  await discardWarehouse(engine.warehouse);
  await discardWarehouse(threads.warehouse);
});

const rejectRow = z.object({ line: z.coerce.number(), field: z.string(), reason: z.string(), raw: z.string() });

async function rejectsInTable(w: Warehouse): Promise<unknown[]> {
  const rows = await w.query('SELECT line, field, reason, raw FROM ingest_rejects ORDER BY line, reason', {}, rejectRow);
  return rows.map((r) => ({ ...r, raw: withoutIngestedAt(r.raw), reason: withoutDatabase(r.reason) }));
}

/** A refused row's text ends with when it was ingested: the two runs ingest at different moments, into databases of their own. */
const withoutIngestedAt = (raw: string): string => raw.replace(/,"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"\]$/, ']');
const withoutDatabase = (reason: string): string => reason.replace(/t_[0-9a-f]{32}\.inference_requests \([0-9a-f-]{36}\)/, 'inference_requests');

function rejectsInFile(summary: RunSummary): unknown[] {
  const path = summary.files[0]?.rejectsFile;
  if (path === undefined) return [];
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => {
    const r = rejectRow.parse(JSON.parse(l));
    return { ...r, raw: withoutIngestedAt(r.raw), reason: withoutDatabase(r.reason) };
  });
}

const counts = (s: RunSummary): Record<string, number> => ({ accepted: s.accepted, rejected: s.rejected, duplicates: s.duplicates });

/** Ingest `file` by both paths; expect the same outcome; return the engine run's summary. */
async function bothAlike(name: string, lines: readonly unknown[]): Promise<{ engineRun: RunSummary; threadsRun: RunSummary }> {
  // Same name in two directories: rows carry the file's name as their source.
  const inputs = [join(dir, 'engine', name), join(dir, 'threads', name)] as const;
  for (const input of inputs) {
    mkdirSync(dirname(input), { recursive: true });
    writeFileSync(input, ndjson(lines));
  }
  const engineRun = await ingestRequestFiles(engine.warehouse, [inputs[0]], ENGINE);
  const threadsRun = await ingestRequestFiles(threads.warehouse, [inputs[1]], THREADS);
  expect(counts(engineRun)).toEqual(counts(threadsRun));
  expect(rejectsInFile(engineRun)).toEqual(rejectsInFile(threadsRun));
  expect(await rejectsInTable(engine.warehouse)).toEqual(await rejectsInTable(threads.warehouse));
  expect(await storedRequests(engine.warehouse)).toEqual(await storedRequests(threads.warehouse));
  expect(stagedUnits(threads)).toBe(0);
  return { engineRun, threadsRun };
}

const T0 = Date.UTC(2026, 9, 1, 10);
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();
const plain = (i: number, overrides: Record<string, unknown> = {}): Record<string, unknown> =>
  event({ request_id: `r-${i}`, ts: at(i), gpu_ms: 100 + i / 8, input_tokens: i, ...overrides });

describe('the engine parsing units itself', () => {
  it('stores, counts and rejects as the parser threads do: bad lines, duplicates and conflicts within and across units', async () => {
    const lines: unknown[] = [];
    for (let i = 0; i < 40; i++) lines.push(plain(i));
    lines.push('');
    for (let i = 40; i < 60; i++) lines.push(plain(i, { team: 'search', latency_ms: i * 1.5, status: i % 2 === 0 ? 'ok' : 'error' }));
    lines.push('{"request_id": "broken"');
    for (let i = 60; i < 70; i++) lines.push(plain(i));
    lines.push(plain(61), plain(62, { gpu_ms: 1 }));
    for (let i = 70; i < 80; i++) lines.push(plain(i, { customer_tier: 'gold' }));
    lines.push(plain(5), plain(6, { tenant_id: 'other' }), plain(80, { ts: 'yesterday' }));
    for (let i = 81; i < 120; i++) lines.push(plain(i));
    const { engineRun } = await bothAlike('mixed.ndjson', lines);
    expect(counts(engineRun)).toEqual({ accepted: 119, rejected: 4, duplicates: 2 });
    // Most units had nothing for JavaScript to judge: the engine took them, and their rows went engine to engine.
    expect(stagedUnits(engine)).toBeGreaterThan(10);
    expect(stagedInserts(engine)).toBeGreaterThan(10);
  });

  it('a second ingestion of the same file is all duplicates, and a changed copy of a stored event is a conflict', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => plain(i));
    await bothAlike('first.ndjson', lines);
    const again = await bothAlike('first.ndjson', lines);
    expect(counts(again.engineRun)).toEqual({ accepted: 0, rejected: 0, duplicates: 50 });
    const changed = lines.map((l, i) => (i === 25 ? plain(25, { model_id: 'other-model' }) : l));
    const third = await bothAlike('changed.ndjson', [...changed, plain(50)]);
    expect(counts(third.engineRun)).toEqual({ accepted: 1, rejected: 1, duplicates: 49 });
    expect(rejectsInFile(third.engineRun)).toEqual([expect.objectContaining({ line: 26, field: 'model_id' })]);
  });

  it('a row the warehouse refuses from a stage is isolated, and the rest of its unit is stored once', async () => {
    for (const s of [engine, threads]) await s.warehouse.command("ALTER TABLE inference_requests ADD CONSTRAINT no_poison CHECK model_id != 'poison'");
    const lines = Array.from({ length: 30 }, (_, i) => plain(i, i === 12 ? { model_id: 'poison' } : {}));
    const { engineRun } = await bothAlike('poison.ndjson', lines);
    expect(counts(engineRun)).toEqual({ accepted: 29, rejected: 1, duplicates: 0 });
    expect(rejectsInFile(engineRun)).toEqual([expect.objectContaining({ line: 13, field: '' })]);
    // Every unit (~5 KB in units of 1 KB) was staged and inserted from its stage, the poisoned one too (then bisected).
    expect(stagedUnits(engine)).toBeGreaterThanOrEqual(5);
    expect(stagedInserts(engine)).toBe(stagedUnits(engine));
  });

  it('leaves no stage behind, and drops the stages and files a killed run left', async () => {
    const w = engine.warehouse;
    const sandbox = join(w.dataDir ?? '', 'sandbox');
    await w.command('CREATE TABLE request_stage_killedrun (x UInt8) ENGINE = Memory');
    writeFileSync(join(sandbox, 'request_stage_killedrun.ndjson'), ndjson([plain(1)]));
    writeFileSync(join(sandbox, 'request_stage_killedbeforetable.ndjson'), ndjson([plain(2)]));
    await bothAlike('clean.ndjson', Array.from({ length: 20 }, (_, i) => plain(i)));
    expect(stagedUnits(engine)).toBeGreaterThan(0);
    expect(await scalar(w, "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'request_stage_')")).toBe(0);
    expect(readdirSync(sandbox).filter((f) => f.startsWith('request_stage_'))).toEqual([]);
  });
});

describe('units', () => {
  it('are by default the size the configuration gives', () => {
    expect(configSchema.shape.ingest.parse({}).engineUnitBytes).toBe(ENGINE_UNIT_BYTES);
  });


  it('are cut at line ends into pieces of at most the room given, a longer line whole', () => {
    const text = (pieces: Buffer[]): string[] => pieces.map((p) => p.toString());
    const lines = Buffer.from('aa\nbbbb\nc\ndddddddd\ne');
    expect(text(linesUpTo(lines, 3, 5))).toEqual(['aa\n', 'bbbb\n', 'c\n', 'dddddddd\n', 'e']);
    expect(text(linesUpTo(lines, 100, 100))).toEqual(['aa\nbbbb\nc\ndddddddd\ne']);
    expect(text(linesUpTo(Buffer.from('aa\nbb\n'), 3, 3))).toEqual(['aa\n', 'bb\n']);
    expect(text(linesUpTo(Buffer.from('aaaa\n'), 2, 2))).toEqual(['aaaa\n']);
  });
});
