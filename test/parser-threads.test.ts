/**
 * The parser threads and what they hand the batch writer: the same verdicts
 * as the single-threaded checks, results in order, buffers that stay intact,
 * and an id index whose collisions cost a lookup, never an event.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FingerprintSet, fingerprintId } from '../src/events/id-fingerprints.js';
import { parseRecords, type ParsedRecords } from '../src/events/parse-records.js';
import { ParserPool } from '../src/events/parser-pool.js';
import { RequestBatchWriter } from '../src/request-writer/request-batch-writer.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { event } from './helpers/files.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

const COMMON = { maxRecordBytes: 1024, source: 'test', ingestedAt: '2026-10-02 00:00:00.000' };

function lines(...texts: string[]): Buffer {
  return Buffer.from(texts.join('\n'));
}

describe('parseRecords', () => {
  it('numbers lines, skips blank ones, drops CRs and names what is wrong', () => {
    const parsed = parseRecords({
      ...COMMON,
      mode: 'lines',
      bytes: lines(JSON.stringify(event({ request_id: 'a' })), '', '  \r', '{"request_id":', JSON.stringify(event({ request_id: 'b', gpu_ms: -1 })), `${JSON.stringify(event({ request_id: 'c' }))}\r`, 'x'.repeat(2000)),
    });
    expect(parsed.records).toBe(7);
    expect(parsed.blank).toBe(2);
    expect(parsed.ids).toEqual(['a', 'c']);
    expect([...parsed.rowRecords]).toEqual([0, 5]);
    expect(parsed.rejects.map((r) => [r.record, r.field])).toEqual([[3, ''], [4, 'gpu_ms'], [6, '']]);
    expect(parsed.rejects[0]?.reason).toMatch(/^malformed JSON/);
    expect(parsed.rejects[2]?.reason).toBe('line longer than 1024 bytes');
    // Each row is one JSONCompactEachRow line, in order, and ends where rowEnds says.
    const text = Buffer.from(parsed.rows).toString('utf8');
    const rows = text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown[]);
    expect(rows.map((r) => r[0])).toEqual(['a', 'c']);
    expect(parsed.rowEnds[1]).toBe(parsed.rows.length);
    expect(Buffer.from(parsed.rows).subarray(0, parsed.rowEnds[0]).toString('utf8')).toBe(`${text.split('\n')[0] ?? ''}\n`);
  });

  it('judges Kafka values one by one: tombstone, empty, oversized (not in the bytes), not UTF-8, valid', () => {
    const good = Buffer.from(JSON.stringify(event({ request_id: 'k1' })));
    const bad = Buffer.from([0xff, 0xfe]);
    const parsed = parseRecords({
      ...COMMON,
      mode: 'messages',
      bytes: Buffer.concat([bad, good]),
      lengths: Int32Array.from([-1, 0, 5000, bad.length, good.length]),
    });
    expect(parsed.records).toBe(5);
    expect(parsed.ids).toEqual(['k1']);
    expect([...parsed.rowRecords]).toEqual([4]);
    expect(parsed.rejects.map((r) => [r.record, r.reason])).toEqual([
      [0, 'tombstone (no value)'],
      [1, 'empty message'],
      [2, 'message is 5000 bytes, more than the 1024 allowed'],
      [3, 'message is not valid UTF-8'],
    ]);
  });
});

describe('ParserPool', () => {
  it('returns each request its own result, in order, and leaves the caller\'s other buffers intact', async () => {
    const pool = new ParserPool(2);
    try {
      const chunk = Buffer.from(Array.from({ length: 300 }, (_, i) => JSON.stringify(event({ request_id: `p${i}` }))).join('\n'));
      // Slices of one buffer: transferring its ArrayBuffer would detach the others.
      const cut = chunk.indexOf('\n', chunk.length / 2);
      const halves = [chunk.subarray(0, cut), chunk.subarray(cut + 1)];
      const results = await Promise.all(halves.map((bytes) => pool.parse({ ...COMMON, mode: 'lines', bytes })));
      expect(chunk.length).toBeGreaterThan(0);
      expect(halves[1]?.length).toBeGreaterThan(0);
      const ids = results.flatMap((r) => r.ids);
      expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => `p${i}`));
      expect(results.every((r) => r.rejects.length === 0)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('refuses work once closed', async () => {
    const pool = new ParserPool(1);
    await pool.close();
    await expect(pool.parse({ ...COMMON, mode: 'lines', bytes: lines('{}') })).rejects.toThrow(/closed/);
  });
});

describe('id fingerprints', () => {
  it('never forgets an id it was given (no false negatives), across growth', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 3000 }), (ids) => {
        const set = new FingerprintSet();
        const h = new Uint32Array(2);
        for (const id of ids) {
          fingerprintId(id, h, 0);
          set.add(h[0] as number, h[1] as number);
        }
        return ids.every((id) => {
          fingerprintId(id, h, 0);
          return set.has(h[0] as number, h[1] as number);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('keeps distinct ids apart', () => {
    const set = new FingerprintSet();
    const h = new Uint32Array(2);
    for (let i = 0; i < 100_000; i++) {
      fingerprintId(`req-${i}`, h, 0);
      set.add(h[0] as number, h[1] as number);
    }
    expect(set.size).toBe(100_000);
    let hits = 0;
    for (let i = 100_000; i < 200_000; i++) {
      fingerprintId(`req-${i}`, h, 0);
      if (set.has(h[0] as number, h[1] as number)) hits++;
    }
    expect(hits).toBe(0);
  });
});

describe('batch writer and fingerprint hits', () => {
  let w: Warehouse;
  beforeEach(async () => {
    w = await freshWarehouse();
  });
  afterEach(async () => {
    await w.close();
  });

  const parsed = (ids: string[]): ParsedRecords => parseRecords({ ...COMMON, mode: 'lines', bytes: lines(...ids.map((id) => JSON.stringify(event({ request_id: id })))) });

  it('a hit is only a candidate: rows whose ids storage does not hold are written (a collision costs a lookup, not an event)', async () => {
    const writer = new RequestBatchWriter(w);
    const first = writer.newBatch();
    first.addRows(parsed(['x1', 'x2', 'x3']));
    expect(await writer.write(first)).toEqual({ written: 3, duplicates: 0, refused: [] });
    // The writer still holds their fingerprints but storage no longer has the rows: every fingerprint now "collides".
    await w.command('TRUNCATE TABLE inference_requests');
    const again = writer.newBatch();
    again.addRows(parsed(['x1', 'x2', 'x3']));
    expect(await writer.write(again)).toEqual({ written: 3, duplicates: 0, refused: [] });
    expect(again.candidates).toEqual(['x1', 'x2', 'x3']);
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(3);
  });

  it('a hit that storage confirms is a duplicate, kept off disk', async () => {
    const writer = new RequestBatchWriter(w);
    const first = writer.newBatch();
    first.addRows(parsed(['y1', 'y2']));
    expect(await writer.write(first)).toEqual({ written: 2, duplicates: 0, refused: [] });
    const second = writer.newBatch();
    second.addRows(parsed(['y2', 'y3', 'y3']));
    expect(await writer.write(second)).toEqual({ written: 1, duplicates: 2, refused: [] });
    // Only the id sealed before was looked up in storage.
    expect(second.candidates).toEqual(['y2']);
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(3);
  });

  it('batches joined into one insert: an id in two of them is written once, even when storage already has it', async () => {
    const writer = new RequestBatchWriter(w);
    const stored = writer.newBatch();
    stored.addRows(parsed(['s1']));
    await writer.write(stored);
    // Two partitions' batches carrying the same requests (produced twice, to different partitions).
    const a = writer.newBatch();
    a.addRows(parsed(['j1', 'j2', 's1']));
    const b = writer.newBatch();
    b.addRows(parsed(['j2', 'j3', 's1']));
    const c = writer.newBatch();
    c.addRows(parsed(['j3', 'j4']));
    expect(await writer.write([a, b, c])).toEqual({ written: 4, duplicates: 4, refused: [] });
    // Raw rows, not FINAL: nothing was left for the merges to collapse.
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(5);
    expect(await scalar(w, 'SELECT uniqExact(request_id) AS n FROM inference_requests')).toBe(5);
  });

  it('within a batch: a repeated id is left out, a fingerprint shared by two different ids keeps both rows', async () => {
    const writer = new RequestBatchWriter(w);
    const rows = parsed(['m1', 'm2', 'm1', 'm3', 'm2']);
    // Force a collision between m3 and m1.
    rows.idHashes[6] = rows.idHashes[0] as number;
    rows.idHashes[7] = rows.idHashes[1] as number;
    const batch = writer.newBatch();
    batch.addRows(rows);
    expect(batch.ids).toEqual(['m1', 'm2', 'm3']);
    expect(await writer.write(batch)).toEqual({ written: 3, duplicates: 2, refused: [] });
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(3);
  });

  it('batches joined into one insert: a fingerprint shared by two different ids keeps both rows', async () => {
    const writer = new RequestBatchWriter(w);
    const a = writer.newBatch();
    a.addRows(parsed(['k1']));
    const b = writer.newBatch();
    b.addRows(parsed(['k2']));
    // Force a collision between k1 and k2.
    b.idHashes[0] = a.idHashes[0] as number;
    b.idHashes[1] = a.idHashes[1] as number;
    expect(await writer.write([a, b])).toEqual({ written: 2, duplicates: 0, refused: [] });
    expect(await scalar(w, 'SELECT count() AS n FROM inference_requests')).toBe(2);
  });
});
