/**
 * The request batch writer on the real embedded engine: rows the engine
 * refuses are isolated and the rest stored once; a request id seen again in
 * another hour or pool is a duplicate (same event) or a conflict (different
 * event) within the horizon; past `maxTrackedIds` the oldest hours are
 * forgotten and a copy of one of their ids is found in storage instead; the
 * id lookup carries its ids in the request body, on chDB and (transport
 * only) to a server.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/config.js';
import { formatDateTime64 } from '../src/events/request-event.js';
import { parseRecords, type ParsedRecords } from '../src/events/parse-records.js';
import { RequestBatchWriter, type FlushResult } from '../src/request-writer/request-batch-writer.js';
import { ingestRequestFiles } from '../src/files/requests-file.ingest.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { event, ndjson, tempDir, writeTemp } from './helpers/files.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 9, 1, 10);

function parsed(events: readonly Record<string, unknown>[]): ParsedRecords {
  const bytes = Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const out = parseRecords({ mode: 'lines', bytes, maxRecordBytes: 1 << 20, source: 'test', ingestedAt: formatDateTime64(Date.now()) });
  expect(out.rejects).toEqual([]);
  return out;
}

async function writeEvents(writer: RequestBatchWriter, events: readonly Record<string, unknown>[]): Promise<FlushResult> {
  const batch = writer.newBatch();
  batch.addRows(parsed(events), 0, events.length, (record) => record + 1);
  return writer.write(batch);
}

let w: Warehouse;
beforeEach(async () => { w = await freshWarehouse(); });
afterEach(async () => { await w.close(); });

describe('rows the warehouse refuses', () => {
  it('are isolated by bisection and returned with the engine message; every other row is stored exactly once', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => event({ request_id: `b-${i}`, ts: T0 + i }));
    const rows = parsed(events);
    // Test seam in the serialisation step: three rows get a model_id the engine refuses (a lone surrogate escape, same length).
    const text = Buffer.from(rows.rows.buffer, rows.rows.byteOffset, rows.rows.byteLength);
    for (const i of [100, 500, 501]) {
      const from = i === 0 ? 0 : (rows.rowEnds[i - 1] as number);
      const at = text.indexOf('"llama-', from);
      text.write('"\\ud800', at);
    }
    const writer = new RequestBatchWriter(w);
    const batch = writer.newBatch();
    batch.addRows(rows, 0, 1000, (record) => record + 1);
    const result = await writer.write(batch);
    expect(result.written).toBe(997);
    expect(result.duplicates).toBe(0);
    expect(result.refused.map((r) => [r.origin, r.id, r.field])).toEqual([[101, 'b-100', 'model_id'], [501, 'b-500', 'model_id'], [502, 'b-501', 'model_id']]);
    expect(result.refused[0]?.reason).toMatch(/^the warehouse refused the row: .*surrogate/);
    expect(result.refused[0]?.row.toString()).toContain('"\\ud8003-70b"');
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(997);
    expect(await scalar(w, 'SELECT uniqExact(request_id) AS n FROM inference_requests')).toBe(997);
    // The writer goes on: a later batch with a replay of stored rows and new ones.
    const next = await writeEvents(writer, [event({ request_id: 'b-1', ts: T0 + 1 }), event({ request_id: 'b-new', ts: T0 })]);
    expect(next).toEqual({ written: 1, duplicates: 1, refused: [] });
  });

  it('a failure that is not about the rows is thrown, not bisected', async () => {
    const failing = new Proxy(w, {
      get(target, property, receiver) {
        if (property === 'insertCompact') return () => Promise.reject(Object.assign(new Error('Code: 241. DB::Exception: Memory limit exceeded (MEMORY_LIMIT_EXCEEDED)'), { code: '241' }));
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const writer = new RequestBatchWriter(failing);
    await expect(writeEvents(writer, [event({ request_id: 'm-1' })])).rejects.toThrow(/Memory limit/);
  });
});

describe('a request id seen again within the horizon', () => {
  it('in another hour or pool: an identical copy is a duplicate, a different one a conflict naming the columns; the first copy wins', async () => {
    const writer = new RequestBatchWriter(w);
    expect(await writeEvents(writer, [event({ request_id: 'c-1', ts: T0 }), event({ request_id: 'c-2', ts: T0 })])).toMatchObject({ written: 2, refused: [] });
    const result = await writeEvents(writer, [
      event({ request_id: 'c-1', ts: T0 + 5 * HOUR }),
      event({ request_id: 'c-2', ts: T0, pool_id: 'other-pool', gpu_ms: 1 }),
      event({ request_id: 'c-1', ts: T0 }),
    ]);
    // The third row is identical to the stored copy: a silent duplicate (the first row, its conflicting twin, was refused).
    expect(result.written).toBe(0);
    expect(result.duplicates).toBe(1);
    expect(result.refused.map((r) => [r.origin, r.id, r.field, r.reason])).toEqual([
      [1, 'c-1', 'ts', 'conflicting duplicate of request_id "c-1": ts differs from the copy stored first'],
      [2, 'c-2', 'pool_id,gpu_ms', 'conflicting duplicate of request_id "c-2": pool_id, gpu_ms differ from the copy stored first'],
    ]);
    const rows = await w.query('SELECT request_id, pool_id, toString(ts) AS ts FROM inference_requests FINAL ORDER BY request_id', {}, z.object({ request_id: z.string(), pool_id: z.string(), ts: z.string() }));
    expect(rows).toEqual([
      { request_id: 'c-1', pool_id: 'llm-h100', ts: '2026-10-01 10:00:00.000' },
      { request_id: 'c-2', pool_id: 'llm-h100', ts: '2026-10-01 10:00:00.000' },
    ]);
  });

  it('within one batch and across runs (looked up in the warehouse); beyond the horizon it is a new request', async () => {
    const first = new RequestBatchWriter(w, { horizonHours: 48 });
    const inBatch = await writeEvents(first, [event({ request_id: 'd-1', ts: T0 }), event({ request_id: 'd-1', ts: T0 + HOUR }), event({ request_id: 'd-1', ts: T0 })]);
    expect(inBatch).toMatchObject({ written: 1, duplicates: 1 });
    expect(inBatch.refused.map((r) => [r.origin, r.field])).toEqual([[2, 'ts']]);
    // Another run: it knows nothing in memory, so it asks the warehouse.
    const second = new RequestBatchWriter(w, { horizonHours: 48 });
    const again = await writeEvents(second, [event({ request_id: 'd-1', ts: T0 + 47 * HOUR, tenant_id: 'globex' })]);
    expect(again.refused.map((r) => [r.origin, r.field])).toEqual([[1, 'ts,tenant_id']]);
    expect(again).toMatchObject({ written: 0, duplicates: 0 });
    // 49 hours after the stored copy: outside the horizon, a request of its own.
    expect(await writeEvents(second, [event({ request_id: 'd-1', ts: T0 + 49 * HOUR })])).toEqual({ written: 1, duplicates: 0, refused: [] });
    expect(await scalar(w, "SELECT count() AS n FROM inference_requests WHERE request_id = 'd-1'")).toBe(2);
  });

  it('a file: conflicting copies are rejected with the line and the columns that differ, identical ones counted as duplicates', async () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'conflicts.ndjson', ndjson([
      event({ request_id: 'f-1' }),
      event({ request_id: 'f-2' }),
      event({ request_id: 'f-1', ts: '2026-10-01T12:15:00Z' }),
      event({ request_id: 'f-2' }),
    ]));
    const summary = await ingestRequestFiles(w, [file], { batchRows: 2, maxLineBytes: 1 << 20 });
    expect(summary).toMatchObject({ accepted: 2, duplicates: 1, rejected: 1 });
    const rejects = await w.query('SELECT line, field, reason FROM ingest_rejects', {}, z.object({ line: z.coerce.number(), field: z.string(), reason: z.string() }));
    expect(rejects).toEqual([{ line: 3, field: 'ts', reason: 'conflicting duplicate of request_id "f-1": ts differs from the copy stored first' }]);
  });
});

describe('the memory bound (maxTrackedIds)', () => {
  it('forgets the oldest hours; a re-sent id is still caught: from a forgotten hour by looking the whole batch up, from a remembered one by looking up only it', async () => {
    // Every id the writer looks up in storage, one list per lookup.
    const lookups: string[][] = [];
    const watched = new Proxy(w, {
      get(target, property, receiver) {
        if (property === 'queryWithTable') {
          const lookup: Warehouse['queryWithTable'] = (sql, params, table, row) => {
            lookups.push(table.body.toString().trimEnd().split('\n').map((line) => (JSON.parse(line) as string[])[0] as string));
            return target.queryWithTable(sql, params, table, row);
          };
          return lookup;
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const writer = new RequestBatchWriter(watched, { maxTrackedIds: 1000, horizonHours: 48 });
    // Five batches of 500 ids, each in an hour of its own 100 h from the next (beyond the horizon of one another).
    const hourOf = (k: number): number => T0 + k * 100 * HOUR;
    for (let k = 0; k < 5; k++) {
      const events = Array.from({ length: 500 }, (_, i) => event({ request_id: `m-${k}-${i}`, ts: hourOf(k) + i }));
      expect(await writeEvents(writer, events)).toEqual({ written: 500, duplicates: 0, refused: [] });
    }
    // 2,500 ids against a bound of 1,000: hours 0 to 3 are forgotten (oldest first, down to half the bound), hour 4 remembered. New ids needed no lookup.
    expect(lookups).toEqual([]);

    // Hour 1 is forgotten: an identical copy is a duplicate and a copy in another pool a conflict, found by looking up every id of the batch.
    const forgottenHour = await writeEvents(writer, [
      event({ request_id: 'm-1-7', ts: hourOf(1) + 7 }),
      event({ request_id: 'm-1-8', ts: hourOf(1) + 8, pool_id: 'other-pool' }),
      event({ request_id: 'm-1-new-a', ts: hourOf(1) }),
      event({ request_id: 'm-1-new-b', ts: hourOf(1) }),
    ]);
    expect(forgottenHour.written).toBe(2);
    expect(forgottenHour.duplicates).toBe(1);
    expect(forgottenHour.refused.map((r) => [r.origin, r.id, r.field])).toEqual([[2, 'm-1-8', 'pool_id']]);
    expect(lookups).toEqual([['m-1-7', 'm-1-8', 'm-1-new-a', 'm-1-new-b']]);

    // Hour 4 is remembered: the re-sent ids are caught in memory and only they are confirmed in storage, not the new ids beside them.
    lookups.length = 0;
    const rememberedHour = await writeEvents(writer, [
      event({ request_id: 'm-4-new-a', ts: hourOf(4) }),
      event({ request_id: 'm-4-7', ts: hourOf(4) + 7 }),
      event({ request_id: 'm-4-8', ts: hourOf(4) + 8, pool_id: 'other-pool' }),
      event({ request_id: 'm-4-new-b', ts: hourOf(4) }),
    ]);
    expect(rememberedHour.written).toBe(2);
    expect(rememberedHour.duplicates).toBe(1);
    expect(rememberedHour.refused.map((r) => [r.origin, r.id, r.field])).toEqual([[3, 'm-4-8', 'pool_id']]);
    expect(lookups).toEqual([['m-4-7', 'm-4-8']]);

    // Nothing stored twice (the conflicting copies would sit in another pool, out of reach of merges), nothing lost.
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(2504);
    expect(await scalar(w, 'SELECT uniqExact(request_id) AS n FROM inference_requests')).toBe(2504);
    expect(await scalar(w, "SELECT count() AS n FROM inference_requests WHERE pool_id = 'other-pool'")).toBe(0);
  });
});

describe('the id lookup', () => {
  it('looks up 150k ids at once (a replay of 150k stored events found by a writer that did not write them)', async () => {
    const events = Array.from({ length: 150_000 }, (_, i) => event({ request_id: `lookup-${String(i).padStart(6, '0')}-${'x'.repeat(40)}`, ts: T0 + i }));
    expect(await writeEvents(new RequestBatchWriter(w), events)).toMatchObject({ written: 150_000 });
    expect(await writeEvents(new RequestBatchWriter(w), events)).toEqual({ written: 0, duplicates: 150_000, refused: [] });
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(150_000);
  });

  it('sends the ids to a server in the request body (external data), not in the URL', async () => {
    const seen: { url: string; contentType: string; body: string }[] = [];
    const read = (req: IncomingMessage): Promise<string> => new Promise((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => { resolve(Buffer.concat(chunks).toString()); });
    });
    // Inspects what the client sends; answers with an empty result (it is not an engine, and nothing is asserted on its answers).
    const server = createServer((req, res) => {
      void read(req).then((body) => {
        seen.push({ url: req.url ?? '', contentType: req.headers['content-type'] ?? '', body });
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-ClickHouse-Summary': '{}' }).end('');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const remote = await openWarehouse(configSchema.shape.warehouse.parse({ url: `http://127.0.0.1:${port}`, database: 'capture' }));
      const ids = Array.from({ length: 150_000 }, (_, i) => `id-${i}-${'y'.repeat(20)}`);
      const body = ids.map((id) => `[${JSON.stringify(id)}]\n`).join('');
      const rows = await remote.queryWithTable(
        'SELECT request_id FROM inference_requests WHERE request_id IN (SELECT request_id FROM {ids:Identifier}) AND ts >= {from_hour:DateTime}',
        { from_hour: '2026-10-01 00:00:00' },
        { param: 'ids', columns: [['request_id', 'String']], body },
        z.object({ request_id: z.string() }),
      );
      await remote.close();
      expect(rows).toEqual([]);
      const lookup = seen.find((r) => r.url.includes('_structure='));
      expect(lookup).toBeDefined();
      const url = new URL(lookup?.url ?? '', 'http://x');
      expect(lookup?.url.length).toBeLessThan(4096);
      expect(lookup?.contentType).toMatch(/^multipart\/form-data; boundary=/);
      const table = url.searchParams.get('param_ids') ?? '';
      expect(table).toMatch(/^body_table_/);
      expect(url.searchParams.get(`${table}_structure`)).toBe('request_id String');
      expect(url.searchParams.get(`${table}_format`)).toBe('JSONCompactEachRow');
      expect(url.searchParams.get('param_from_hour')).toBe('2026-10-01 00:00:00');
      expect(lookup?.body).toContain(`name="${table}"`);
      expect(lookup?.body).toContain(body);
    } finally {
      server.close();
    }
  });
});
