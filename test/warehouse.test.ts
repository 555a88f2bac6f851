import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkParams, placeholders, splitStatements } from '../src/warehouse/sql-files.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { freshWarehouse, scalar } from './helpers/warehouse.js';

describe('SQL files', () => {
  it('finds placeholders outside comments and strings', () => {
    const sql = "-- the batch's {ignored:String}\nSELECT '{also:Ignored}', x FROM t WHERE a = {a:String} AND b IN {b:Array(String)} -- {c:UInt8}";
    expect([...placeholders(sql)]).toEqual(['a', 'b']);
  });

  it('refuses missing and unexpected parameters before the engine sees them', () => {
    expect(() => { checkParams('SELECT {a:String}', {}); }).toThrow(/missing a/);
    expect(() => { checkParams('SELECT {a:String}', { a: 'x', b: 1 }); }).toThrow(/unexpected b/);
    expect(() => { checkParams('SELECT {a:String}', { a: 'x' }); }).not.toThrow();
  });

  it('splits statements at a semicolon that ends a line only, dropping pieces that are only comments', () => {
    expect(splitStatements("CREATE TABLE a (x String DEFAULT ';');\n-- note;\nCREATE VIEW b AS SELECT 1;\n")).toEqual([
      "CREATE TABLE a (x String DEFAULT ';')",
      'CREATE VIEW b AS SELECT 1',
    ]);
  });
});

describe('embedded warehouse', () => {
  let w: Warehouse;
  beforeAll(async () => {
    w = await freshWarehouse();
  });
  afterAll(async () => {
    await w.close();
  });

  it('reads 64-bit integers and decimals back as exact strings (the pinned JSON settings)', async () => {
    const row = z.object({ big: z.string(), money: z.string(), small: z.number() });
    const [r] = await w.query(
      "SELECT toUInt64('18446744073709551615') AS big, toDecimal128('12345678901234567890.123456789012', 12) AS money, toUInt32(7) AS small",
      {},
      row,
    );
    expect(r).toEqual({ big: '18446744073709551615', money: '12345678901234567890.123456789012', small: 7 });
  });

  it('binds values as data: a hostile tenant name is stored and found, never executed', async () => {
    const tenant = "acme'); DROP TABLE inference_requests; --";
    await w.insertObjects('ingest_runs', [{ run_id: '00000000-0000-0000-0000-000000000001', kind: 'requests', format: tenant, sources: [], started_at: '2026-10-01 00:00:00', finished_at: '2026-10-01 00:00:00', accepted: 1, rejected: 0, duplicates: 0 }]);
    expect(await scalar(w, 'SELECT count() AS n FROM ingest_runs WHERE format = {f:String}', { f: tenant })).toBe(1);
    expect(await scalar(w, "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'inference_requests'")).toBe(1);
  });

  it('refuses a row that does not match the expected shape, naming the column', async () => {
    await expect(w.query('SELECT 1 AS n', {}, z.object({ n: z.string() }))).rejects.toThrow(/n: /);
  });

  it('keeps analyst queries read-only unless writes are asked for', async () => {
    const other = await freshWarehouse();
    try {
      await expect(other.queryText('CREATE TABLE x (a UInt8) ENGINE = Memory', {}, 'TSV')).rejects.toThrow(/only queries that read may run without --write \(this is CreateQuery\)/);
      // The session itself is read-only too, below the statement check.
      await expect(other.queryText("SELECT getSetting('readonly') AS r", {}, 'TSV').then(async (s) => (await s.toArray()).join(''))).resolves.toBe('2\n');
    } finally {
      await other.close();
    }
  });
});
