/**
 * RowBinary as the engine writes it, read back: numbers little-endian,
 * strings after their LEB128 length (one byte up to 127, more beyond), and a
 * truncated answer refused rather than misread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RowBinaryReader } from '../src/warehouse/row-binary.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

let w: Warehouse;
beforeAll(async () => {
  w = await freshWarehouse();
});
afterAll(async () => {
  await discardWarehouse(w);
});

describe('RowBinaryReader', () => {
  it('reads the engine\'s rows: short and long strings, unsigned and signed numbers', async () => {
    const answer = await w.queryBytes(
      "SELECT toUInt32(number * 4000000000 / 2) AS a, toUInt8(number) AS b, if(number = 0, 'é-id', repeat('x', 20000)) AS c, toInt32(-number) AS d FROM numbers(2)",
      {},
      'RowBinary',
    );
    const reader = new RowBinaryReader(answer);
    const rows: [number, number, string, number][] = [];
    while (!reader.done) rows.push([reader.uint32(), reader.uint8(), reader.string(), reader.int32()]);
    expect(rows).toEqual([[0, 0, 'é-id', 0], [2_000_000_000, 1, 'x'.repeat(20000), -1]]);
  });

  it('refuses an answer that ends inside a value', () => {
    const reader = new RowBinaryReader(Buffer.from([0x05, 0x61, 0x62]));
    expect(() => reader.string()).toThrow(/ends inside a value/);
  });
});
