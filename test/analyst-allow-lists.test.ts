/**
 * The allow-lists of analyst queries: the generated function list matches the
 * engine, docs/querying.md's table matches the lists, the queries clients send every
 * day pass, and a property: random combinations of allowed and refused
 * clauses, formats, settings and functions, wrapped every way the grammar
 * allows, never run anything refused (no file, no request), and always run
 * what is allowed.
 */
import { createServer, type Server } from 'node:http';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowListsMarkdown } from '../src/warehouse/analyst-allow-lists.js';
import { ReadOnlyQueryError } from '../src/warehouse/read-only-query.js';
import { PACKAGE_ROOT } from '../src/warehouse/sql-files.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { GENERATED_FUNCTIONS_PATH, renderAllowedFunctions } from './helpers/allowed-functions.js';
import { tempDir } from './helpers/files.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';

let w: Warehouse;
let canary: Server;
let canaryUrl: string;
const hits: string[] = [];
const dir = tempDir();

beforeAll(async () => {
  w = await freshWarehouse();
  await w.command('CREATE TABLE spend (tenant String, cost Decimal(18, 9)) ENGINE = MergeTree ORDER BY tenant');
  await w.insertObjects('spend', [{ tenant: 'acme', cost: '1.5' }]);
  canary = createServer((req, res) => { hits.push(req.url ?? ''); res.end('a\n'); });
  await new Promise<void>((resolve) => { canary.listen(0, '127.0.0.1', resolve); });
  canaryUrl = `http://127.0.0.1:${(canary.address() as { port: number }).port}/x.csv`;
});

afterAll(async () => {
  await discardWarehouse(w);
  await new Promise<void>((resolve) => { canary.close(() => { resolve(); }); });
});

async function run(sql: string): Promise<string> {
  const { stream } = await w.analystQuery(sql, {}, { format: 'TSV' });
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('the allow-lists', () => {
  it('list the functions the engine has, by the rule (UPDATE_GENERATED=1 rewrites the file)', async () => {
    const path = join(PACKAGE_ROOT, GENERATED_FUNCTIONS_PATH);
    const expected = await renderAllowedFunctions(w);
    if (process.env['UPDATE_GENERATED'] === '1') writeFileSync(path, expected);
    expect(readFileSync(path, 'utf8')).toBe(expected);
  });

  it('are what docs/querying.md says', () => {
    const page = readFileSync(join(PACKAGE_ROOT, 'docs', 'querying.md'), 'utf8');
    const m = /<!-- read-only rules: generated from src\/warehouse\/analyst-allow-lists\.ts -->\n([\s\S]*?)\n<!-- end of read-only rules -->/.exec(page);
    expect(m?.[1]).toBe(allowListsMarkdown());
  });

  it('let through what clients and analysts send every day', async () => {
    const everyday = [
      'SELECT version()',
      'SELECT name FROM system.databases ORDER BY name',
      'SELECT database, name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name',
      'SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}',
      'SELECT table_name FROM information_schema.tables WHERE table_schema = currentDatabase()',
      "SELECT COUNT(*), sumIf(cost, tenant = 'acme'), uniqExact(tenant), quantile(0.5)(cost), arrayMap(x -> x + 1, [1, 2]) FROM spend",
      'SELECT tenant, cost, row_number() OVER (PARTITION BY tenant ORDER BY cost DESC) AS r FROM spend',
      'SELECT toStartOfDay(now()) AS d, INTERVAL 1 DAY + d, CASE WHEN 1 THEN 2 ELSE 3 END, if(1, 2, 3), 1 IN (1, 2), tenant IN (SELECT tenant FROM spend) FROM spend',
      'SHOW TABLES', 'SHOW DATABASES', 'SHOW COLUMNS FROM spend', 'SHOW CREATE TABLE spend', 'DESCRIBE TABLE spend', 'EXISTS TABLE spend',
      'EXPLAIN SELECT 1', 'EXPLAIN PLAN header = 1 SELECT 1', 'EXPLAIN AST SELECT 1', 'EXPLAIN PIPELINE SELECT sum(number) FROM numbers(10)',
      'SELECT * FROM numbers(3) SETTINGS max_threads = 1, output_format_json_quote_64bit_integers = 0 FORMAT JSONEachRow',
    ];
    for (const sql of everyday) {
      const { stream } = await w.analystQuery(sql, { t: 'spend' }, { format: 'TSV' });
      stream.resume();
      await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
    }
  });
});

describe('a property: nothing refused ever runs', () => {
  type Part = readonly [text: string, refused: boolean];
  const parts = {
    call: fc.constantFrom<Part>(['toString(1)', false], ["upper('a')", false], ['sumIf(1, 1)', false], ["file('/etc/passwd')", true], ['hostName()', true], ["getServerSetting('path')", true], ['addressToSymbol(toUInt64(1))', true], ["dictGet('d', 'a', 1)", true]),
    from: fc.constantFrom<Part>(['system.one', false], ['numbers(2)', false], ['spend', false], ['system.processes', true], ['system.disks', true], [`url('CANARY', 'CSV', 'a String')`, true], ["file('/etc/passwd', 'LineAsString')", true], ["executable('id', 'LineAsString', 'a String')", true]),
    format: fc.constantFrom<Part | null>(null, ['JSONEachRow', false], ['CSVWithNames', false], ['Template', true], ['Protobuf', true], ['AvroConfluent', true], ['CapnProto', true]),
    setting: fc.constantFrom<Part | null>(null, ['join_use_nulls = 1', false], ['max_threads = 1', false], ["format_template_row = '/etc/passwd'", true], ['allow_introspection_functions = 1', true], ['max_execution_time = 0', true], ["format_avro_schema_registry_url = 'CANARY'", true]),
  };
  const query = fc.record({
    call: parts.call, from: parts.from, format: parts.format, setting: parts.setting,
    wrapper: fc.constantFrom('none', 'cte', 'subquery', 'union', 'explain', 'in'),
    outfile: fc.boolean(), lower: fc.boolean(), comment: fc.boolean(),
  });

  it('random clauses, wrapped every way: refused ones never run, allowed ones do', async () => {
    await fc.assert(fc.asyncProperty(query, async (q) => {
      const inner = `SELECT ${q.comment ? '/* x */ ' : ''}${q.call[0]} AS v FROM ${q.from[0]}`;
      const wrapped = {
        none: inner,
        cte: `WITH t AS (${inner}) SELECT * FROM t`,
        subquery: `SELECT * FROM (${inner})`,
        union: `SELECT toString(1) AS v UNION ALL SELECT toString(v) FROM (${inner})`,
        explain: `EXPLAIN SYNTAX ${inner}`,
        in: `SELECT 1 AS v WHERE 1 IN (SELECT 1 FROM (${inner}))`,
      }[q.wrapper];
      const outfile = join(dir, 'out.txt');
      let sql = `${wrapped}${q.outfile ? ` INTO OUTFILE '${outfile}'` : ''}${q.format ? ` FORMAT ${q.format[0]}` : ''}${q.setting ? ` SETTINGS ${q.setting[0]}` : ''}`;
      sql = sql.replaceAll('CANARY', canaryUrl);
      if (q.lower) sql = sql.replace(/\b(SELECT|FROM|WITH|UNION ALL|FORMAT|SETTINGS|EXPLAIN SYNTAX|INTO OUTFILE|WHERE|IN)\b/g, (k) => k.toLowerCase());
      const refused = q.call[1] || q.from[1] || q.format?.[1] === true || q.setting?.[1] === true || q.outfile;
      const outcome = await run(sql).then(() => 'ran', (err: unknown) => err);
      if (refused) {
        expect(outcome, sql).toBeInstanceOf(ReadOnlyQueryError);
      } else if (q.wrapper === 'explain' && q.setting !== null) {
        // The engine prints the SETTINGS of an EXPLAIN's query where the rules cannot tell whose they are: refused, never run.
        expect(outcome === 'ran' || outcome instanceof ReadOnlyQueryError, sql).toBe(true);
      } else {
        expect(outcome, sql).toBe('ran');
      }
      expect(hits, sql).toEqual([]);
      expect(readdirSync(dir), sql).toEqual([]);
    }), { numRuns: 120, seed: 20261207 });
  });
});
