/**
 * The query endpoint's wire, as ClickHouse clients use it beside the query:
 * `@clickhouse/client` compressing both ways (HTTP gzip, through
 * enable_http_compression), curl asking for ClickHouse's compressed blocks
 * (compress=1) and sending them (decompress=1), the format, database and
 * query id headers against their URL parameters, and wait_end_of_query.
 */
import { execFile } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityHash128 } from '../src/service/cityhash102.js';
import { CHECKSUM_BYTES, MAX_BLOCK_BYTES, compressBlock, compressBlocks, decompressBlocks, readBlockHeader } from '../src/service/clickhouse-compression.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { tempDir } from './helpers/files.js';
import { startTestEndpoint, type TestEndpoint } from './helpers/query-endpoint.js';
import { discardWarehouse, testWarehouseConfig } from './helpers/warehouse.js';

const run = promisify(execFile);
const dir = tempDir();
let w: Warehouse;
let open: TestEndpoint;
/** With a password, and answers held for wait_end_of_query only up to 1 MiB. */
let locked: TestEndpoint;

beforeAll(async () => {
  w = await openWarehouse(testWarehouseConfig());
  await w.command('CREATE TABLE spend (tenant String, cost Decimal(18, 9), requests UInt64) ENGINE = MergeTree ORDER BY tenant');
  await w.insertObjects('spend', [{ tenant: 'acme', cost: '1.25', requests: '5' }, { tenant: 'globex', cost: '0.5', requests: '1' }]);
  open = await startTestEndpoint(w.database);
  locked = await startTestEndpoint(w.database, { password: 'wire-s3cret', queries: { maxBufferedResultBytes: 1024 * 1024 } });
});

afterAll(async () => {
  await open.close();
  await locked.close();
  await discardWarehouse(w);
});

interface Answer { status: number; headers: Record<string, string>; body: Buffer; curlExit: number }
let requests = 0;
/** One request by curl (run by the shell's own binary, not fetch); `body` is sent as given, bytes and all. */
async function curl(url: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  const n = ++requests;
  const [headerFile, bodyFile, dataFile] = ['headers', 'body', 'data'].map((f) => join(dir, `${f}-${n}`)) as [string, string, string];
  const args = ['-sS', '-D', headerFile, '-o', bodyFile, '-w', '%{http_code}', url];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  if (options.body !== undefined) {
    writeFileSync(dataFile, options.body);
    args.push('--data-binary', `@${dataFile}`);
  }
  // Exit 18: the answer was cut short (an error after the status); its status and body are still there.
  const { stdout, curlExit } = await run('curl', args).then(({ stdout: out }) => ({ stdout: out, curlExit: 0 }), (err: unknown) => ({ stdout: (err as { stdout: string }).stdout, curlExit: (err as { code: number }).code }));
  const headers: Record<string, string> = {};
  for (const line of readFileSync(headerFile, 'utf8').split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(stdout), headers, body: readFileSync(bodyFile), curlExit };
}

/** The blocks of a compressed answer: each one's uncompressed size, checked by decoding the whole answer. */
function blockSizes(body: Buffer): number[] {
  const sizes: number[] = [];
  for (let at = 0; at < body.length;) {
    const header = readBlockHeader(body, at);
    if (!header) throw new Error('cut short');
    sizes.push(header.uncompressedBytes);
    at += header.blockBytes;
  }
  return sizes;
}

/** An HTTP proxy in front of the endpoint that records what a client sends and what comes back. */
async function recordingProxy(target: string): Promise<{ url: string; seen: { url: string; headers: IncomingHttpHeaders; answerEncoding: string | undefined }[]; close: () => Promise<void> }> {
  const seen: { url: string; headers: IncomingHttpHeaders; answerEncoding: string | undefined }[] = [];
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const entry = { url: req.url ?? '', headers: req.headers, answerEncoding: undefined as string | undefined };
    seen.push(entry);
    const forward = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      entry.answerEncoding = answer.headers['content-encoding'];
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () => new Promise((resolve) => { server.close(() => { resolve(); }); }),
  };
}

describe('@clickhouse/client with compression both ways', () => {
  it('reads gzip answers and sends gzip bodies (enable_http_compression), not ClickHouse\'s compressed blocks', async () => {
    const proxy = await recordingProxy(open.base);
    const client = createClient({ url: proxy.url, database: w.database, compression: { response: true, request: true } });
    try {
      const rows = await (await client.query({ query: 'SELECT tenant, requests FROM spend WHERE tenant = {t:String}', query_params: { t: 'acme' }, format: 'JSONEachRow' })).json();
      expect(rows).toEqual([{ tenant: 'acme', requests: '5' }]);
      const many = await (await client.query({ query: 'SELECT number FROM numbers(200000)', format: 'JSONCompactEachRow' })).json<[string]>();
      expect([many.length, many[199_999]]).toEqual([200_000, ['199999']]);
      // The client compresses the bodies of exec, command and insert; a query's text it sends as it is.
      const exec = await client.exec({ query: 'SELECT count() AS n FROM spend FORMAT JSONEachRow' });
      let text = '';
      for await (const chunk of exec.stream) text += String(chunk);
      expect(text).toBe('{"n":"2"}\n');
    } finally {
      await client.close();
      await proxy.close();
    }
    expect(proxy.seen.map((sent) => sent.headers['content-encoding'])).toEqual([undefined, undefined, 'gzip']);
    for (const sent of proxy.seen) {
      const params = new URL(sent.url, 'http://x').searchParams;
      expect([params.get('enable_http_compression'), params.get('compress'), params.get('decompress')]).toEqual(['1', null, null]);
      expect(sent.headers['accept-encoding']).toMatch(/\bgzip\b/);
      expect(sent.answerEncoding).toBe('gzip');
    }
  });
});

describe('curl with ClickHouse\'s compressed blocks and the X-ClickHouse headers', () => {
  it('answers compress=1 in LZ4 blocks of at most 1 MiB, in the format and database the headers name', async () => {
    const text = await curl(`${open.base}/?compress=1&database=nope&default_format=CSV`, {
      headers: { 'X-ClickHouse-Format': 'JSONEachRow', 'X-ClickHouse-Database': w.database },
      body: 'SELECT tenant, requests FROM spend ORDER BY tenant',
    });
    // The headers win over the URL's database and default_format, as on the server.
    expect([text.status, text.headers['x-clickhouse-format'], text.headers['content-encoding']]).toEqual([200, 'JSONEachRow', undefined]);
    expect(decompressBlocks(text.body).toString()).toBe('{"tenant":"acme","requests":"5"}\n{"tenant":"globex","requests":"1"}\n');

    const binary = await curl(`${open.base}/?compress=1&wait_end_of_query=1`, { headers: { 'X-ClickHouse-Format': 'RowBinary' }, body: 'SELECT number FROM numbers(400000)' });
    expect(binary.status).toBe(200);
    const sizes = blockSizes(binary.body);
    expect(sizes.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_BLOCK_BYTES);
    const data = decompressBlocks(binary.body);
    expect([data.length, data.readBigUInt64LE(8 * 399_999)]).toEqual([8 * 400_000, 399_999n]);

    // Beside gzip (enable_http_compression): blocks inside, gzip outside, as the server layers them.
    const both = await fetch(`${open.base}/?compress=1&enable_http_compression=1`, { method: 'POST', headers: { 'Accept-Encoding': 'gzip', 'X-ClickHouse-Format': 'TSV' }, body: 'SELECT 42' });
    expect(both.headers.get('content-encoding')).toBe('gzip');
    expect(decompressBlocks(Buffer.from(await both.arrayBuffer())).toString()).toBe('42\n');
  });

  it('takes a query sent in blocks (decompress=1), gzipped or not, and refuses a corrupted, undecodable, oversized or cut-short one with the server\'s error', async () => {
    const sql = `SELECT count() AS n FROM spend WHERE tenant != '${'x'.repeat(2000)}'`;
    const plain = await curl(`${open.base}/?decompress=1`, { body: Buffer.concat(compressBlocks(Buffer.from(sql))) });
    expect([plain.status, plain.body.toString()]).toEqual([200, '2\n']);
    const gzipped = await curl(`${open.base}/?decompress=1&compress=1`, { headers: { 'Content-Encoding': 'gzip' }, body: gzipSync(compressBlock(Buffer.from('SELECT 7'))) });
    expect([gzipped.status, decompressBlocks(gzipped.body).toString()]).toEqual([200, '7\n']);

    const block = compressBlock(Buffer.from(sql));
    const flipped = Buffer.from(block);
    flipped[CHECKSUM_BYTES + 20] = (flipped[CHECKSUM_BYTES + 20] ?? 0) ^ 4;
    const garbage = Buffer.from(block);
    garbage.fill(0xff, CHECKSUM_BYTES + 9, CHECKSUM_BYTES + 14);
    cityHash128(garbage, CHECKSUM_BYTES, garbage.length).copy(garbage, 0);
    const oversized = Buffer.from(block);
    oversized.writeUInt32LE(2 * 1024 * 1024, CHECKSUM_BYTES + 5);
    const cases: [string, Buffer, number, number, RegExp][] = [
      ['a flipped bit', flipped, 500, 40, /^Code: 40\. DB::Exception: Checksum doesn't match: corrupted data\. Reference: [0-9a-f]{32}\. Actual: [0-9a-f]{32}\. Size of compressed block: \d+\. \(CHECKSUM_DOESNT_MATCH\)/],
      ['LZ4 that decodes to nothing (its checksum right)', garbage, 500, 271, /^Code: 271\. DB::Exception: Cannot decompress LZ4-encoded data/],
      ['a block that would hold 2 MiB', oversized, 400, 62, /^Code: 62\. DB::Exception: Max query size exceeded/],
      ['a block cut short', block.subarray(0, block.length - 3), 500, 33, /^Code: 33\. DB::Exception: Cannot read all data/],
    ];
    for (const [what, body, status, code, message] of cases) {
      const answer = await curl(`${open.base}/?decompress=1`, { body });
      expect([answer.status, answer.headers['x-clickhouse-exception-code']], what).toEqual([status, String(code)]);
      expect(answer.body.toString(), what).toMatch(message);
    }
  });

  it('takes the query id from query_id, else X-ClickHouse-Query-Id, and refuses a database header that is not the warehouse\'s', async () => {
    const byHeader = await curl(`${open.base}/`, { headers: { 'X-ClickHouse-Query-Id': 'wire-header-id' }, body: 'SELECT 1' });
    expect(byHeader.headers['x-clickhouse-query-id']).toBe('wire-header-id');
    const byParam = await curl(`${open.base}/?query_id=wire-param-id`, { headers: { 'X-ClickHouse-Query-Id': 'wire-header-id' }, body: 'SELECT 1' });
    expect(byParam.headers['x-clickhouse-query-id']).toBe('wire-param-id');
    const other = await curl(`${open.base}/?database=${w.database}`, { headers: { 'X-ClickHouse-Database': 'system' }, body: 'SELECT 1' });
    expect([other.status, other.headers['x-clickhouse-exception-code']]).toEqual([404, '81']);
    expect(other.body.toString()).toMatch(/^Code: 81\. DB::Exception: Database system is not served here/);
    const badFormat = await curl(`${open.base}/`, { headers: { 'X-ClickHouse-Format': 'JSON; DROP' }, body: 'SELECT 1' });
    expect([badFormat.status, badFormat.headers['x-clickhouse-exception-code']]).toEqual([400, '73']);
  });
});

describe('wait_end_of_query and errors in compressed answers', () => {
  const late = 'SELECT throwIf(number = 1500000) FROM numbers(2000000) SETTINGS max_block_size = 1000';

  it('holds the answer so an error late in it gets its status; without it the status is already sent and the answer is cut short', async () => {
    const streamed = await curl(`${open.base}/?default_format=TSV`, { body: late });
    expect([streamed.status, streamed.curlExit]).toEqual([200, 18]);
    expect(streamed.body.toString().slice(-400)).toMatch(/Code: 395\. DB::Exception: .*\(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO\)/);
    const held = await curl(`${open.base}/?default_format=TSV&wait_end_of_query=1`, { body: late });
    expect([held.status, held.headers['x-clickhouse-exception-code'], held.curlExit]).toEqual([500, '395', 0]);
    expect(held.body.toString()).toMatch(/^Code: 395\. DB::Exception: /);
    // With compress=1 the error's text comes in blocks too, as the server sends it.
    const compressed = await curl(`${open.base}/?default_format=TSV&wait_end_of_query=1&compress=1`, { body: late });
    expect([compressed.status, compressed.headers['x-clickhouse-exception-code']]).toEqual([500, '395']);
    expect(decompressBlocks(compressed.body).toString()).toMatch(/^Code: 395\. DB::Exception: /);
  });

  it('holds no more than queries.maxBufferedResultBytes: a larger answer streams on, whole; refused credentials are answered in plain text', async () => {
    const auth = { Authorization: `Basic ${Buffer.from('default:wire-s3cret').toString('base64')}` };
    const big = await curl(`${locked.base}/?compress=1&wait_end_of_query=1`, { headers: { ...auth, 'X-ClickHouse-Format': 'RowBinary' }, body: 'SELECT number FROM numbers(300000)' });
    expect(big.status).toBe(200);
    const data = decompressBlocks(big.body);
    expect([data.length, data.readBigUInt64LE(8 * 299_999)]).toEqual([8 * 300_000, 299_999n]);
    const denied = await curl(`${locked.base}/?compress=1`, { headers: { Authorization: `Basic ${Buffer.from('default:wrong').toString('base64')}` }, body: 'SELECT 1' });
    expect(denied.headers['x-clickhouse-exception-code']).toBe('516');
    expect(denied.body.toString()).toMatch(/^Code: 516\. DB::Exception: Authentication failed/);
  });
});
