/**
 * Analysts' queries while the service holds the embedded warehouse: a
 * read-only subset of the ClickHouse HTTP interface, enough for
 * `@clickhouse/client`, Grafana's ClickHouse data source and curl. Queries
 * obey the same rules as `inferledger sql` (read-only-query.ts) and run in a
 * warehouse session of their own, which the engine keeps read-only: the
 * service's own session, which writes, is never touched by them.
 *
 * Supported: GET and POST on `/` (the query in `query` and/or the body),
 * `/ping`, `param_<name>` values, `default_format` or a FORMAT clause (any
 * output format of the engine), `database` (only the warehouse's), `query_id`,
 * query-shaping settings as parameters (judged like a SETTINGS clause),
 * gzip/deflate/br request bodies, gzip responses (`enable_http_compression=1`),
 * and errors in the server's own text (`Code: N. DB::Exception: ...`).
 * Not supported: writes, sessions (`session_id` is ignored: each request is
 * one query), external data tables, progress headers.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { ReadOnlyQueryError } from '../warehouse/read-only-query.js';
import type { QueryParams, Warehouse } from '../warehouse/warehouse.js';

export interface QueryEndpointOptions {
  /** A warehouse session of the endpoint's own: the engine leaves it read-only after the first query. */
  warehouse: Warehouse;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, every query must carry it (basic auth, X-ClickHouse-Key or `password`). */
  password?: string | undefined;
  log: (line: string) => void;
}

export interface QueryEndpoint {
  readonly host: string;
  readonly port: number;
  /** Queries answered (successfully or not) since start. */
  readonly queries: number;
  close(): Promise<void>;
}

/** Largest query text accepted (URL parameter plus body, after decompression). */
const MAX_QUERY_BYTES = 1024 * 1024;

/**
 * Parameters that are not engine settings: the HTTP interface's own, and
 * settings that only steer the HTTP layer (progress headers, compression,
 * buffering), which this endpoint answers its own way. Input-format settings
 * are accepted too: nothing is parsed from the request here.
 */
const NOT_SETTINGS = new Set([
  'query', 'query_id', 'database', 'default_format', 'user', 'password', 'quota_key', 'role', 'session_id', 'session_timeout', 'session_check',
  'compress', 'decompress', 'readonly', 'wait_end_of_query', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms',
  'enable_http_compression', 'http_zlib_compression_level', 'http_response_buffer_size', 'buffer_size', 'add_http_cors_header',
  'cancel_http_readonly_queries_on_client_close', 'http_wait_end_of_query', 'date_time_input_format', 'extremes',
]);
const IGNORED_PREFIXES = ['input_format_'];

const formatName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must be a format name, e.g. JSONEachRow');

/** An error answered in ClickHouse's terms: its code, its name and the HTTP status the server gives it. */
class EndpointError extends Error {
  constructor(readonly code: number, readonly type: string, readonly status: number, message: string) {
    super(message);
    this.name = 'EndpointError';
  }
}

/** HTTP statuses as the server gives them for the codes seen here; anything else is 500. */
const STATUS_OF_CODE: Readonly<Record<number, number>> = {
  6: 400, 27: 400, 36: 400, 43: 400, 46: 400, 47: 400, 62: 400, 73: 400, 115: 400, 456: 400, 457: 400,
  60: 404, 81: 404,
  516: 403,
};

function asEndpointError(err: unknown): EndpointError {
  if (err instanceof EndpointError) return err;
  const message = (err as Error).message;
  if (err instanceof ReadOnlyQueryError) {
    // The engine's parser refused it before the rules could: report it as the parse error it is.
    if (/^Syntax error/.test(message)) return new EndpointError(62, 'SYNTAX_ERROR', 400, message);
    return new EndpointError(164, 'READONLY', 500, message);
  }
  const { code, type } = err as { code?: unknown; type?: unknown };
  const n = Number(code);
  if (Number.isInteger(n) && n > 0) return new EndpointError(n, typeof type === 'string' && type !== '' ? type : 'UNKNOWN_EXCEPTION', STATUS_OF_CODE[n] ?? 500, message);
  return new EndpointError(1002, 'UNKNOWN_EXCEPTION', 500, message);
}

/** `param_` values arrive escaped as in TabSeparated (`\t`, `\n`, `\\`); the engine binds the plain value. */
export function unescapeParam(value: string): string {
  const named: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\x07', v: '\v' };
  return value.replace(/\\(.)/gs, (_, c: string) => named[c] ?? c);
}

function contentType(format: string): string {
  if (/^(TabSeparated|TSV)/.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (format.startsWith('CSV')) return `text/csv; charset=UTF-8; header=${format.includes('WithNames') ? 'present' : 'absent'}`;
  if (format === 'JSONEachRow' || format === 'JSONLines' || format === 'NDJSON') return 'application/x-ndjson; charset=UTF-8';
  if (format.startsWith('JSON')) return 'application/json; charset=UTF-8';
  if (/^(Native|RowBinary|Parquet|Arrow|ORC|Avro|Protobuf|MsgPack|CapnProto)/.test(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

async function readBody(req: IncomingMessage): Promise<string> {
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  const decoders: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };
  const decoder = decoders[encoding];
  if (encoding !== '' && encoding !== 'identity' && !decoder) throw new EndpointError(36, 'BAD_ARGUMENTS', 400, `Unknown Content-Encoding ${encoding}: send gzip, deflate, br or none`);
  const source: AsyncIterable<Buffer> = decoder ? req.pipe(decoder()) as unknown as AsyncIterable<Buffer> : req;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > MAX_QUERY_BYTES) throw new EndpointError(62, 'SYNTAX_ERROR', 400, `Max query size exceeded: this endpoint takes queries up to ${MAX_QUERY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The password a request carries, the ways ClickHouse clients send it. */
function passwordOf(req: IncomingMessage, url: URL): string | undefined {
  const key = req.headers['x-clickhouse-key'];
  if (typeof key === 'string') return key;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice('Basic '.length), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? '' : decoded.slice(colon + 1);
  }
  return url.searchParams.get('password') ?? undefined;
}

function samePassword(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startQueryEndpoint(options: QueryEndpointOptions): Promise<QueryEndpoint> {
  const { warehouse } = options;
  const [row] = await warehouse.query('SELECT version() AS version', {}, z.object({ version: z.string() }));
  const version = row?.version ?? 'unknown';
  let queries = 0;

  const fail = (res: ServerResponse, queryId: string, err: unknown): void => {
    const e = asEndpointError(err);
    const message = e.message.trim().replace(/\.$/, '');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(e.status, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Exception-Code': String(e.code),
      'X-ClickHouse-Timezone': 'UTC',
    }).end(`Code: ${e.code}. DB::Exception: ${message}. (${e.type}) (version ${version})\n`);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const queryId = url.searchParams.get('query_id') || randomUUID();
    try {
      if (url.pathname === '/ping') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
        return;
      }
      if (url.pathname !== '/') throw new EndpointError(0, 'UNKNOWN_EXCEPTION', 404, `There is no handle ${url.pathname}: use / (queries) or /ping`);
      if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') {
        throw new EndpointError(36, 'BAD_ARGUMENTS', 400, `HTTP method ${req.method ?? ''} is not supported: use GET or POST`);
      }
      const body = req.method === 'POST' ? await readBody(req) : '';
      const sql = [url.searchParams.get('query') ?? '', body].filter((part) => part.trim() !== '').join('\n');
      if (sql === '') {
        if (req.method === 'POST') throw new EndpointError(62, 'SYNTAX_ERROR', 400, 'Empty query');
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
        return;
      }
      queries++;
      if (options.password !== undefined && !samePassword(passwordOf(req, url), options.password)) {
        throw new EndpointError(516, 'AUTHENTICATION_FAILED', 403, 'Authentication failed: password is incorrect (set it as the client\'s password)');
      }
      const database = url.searchParams.get('database');
      if (database !== null && database !== '' && database !== warehouse.database) {
        throw new EndpointError(81, 'UNKNOWN_DATABASE', 404, `Database ${database} is not served here: this endpoint answers in database ${warehouse.database} (name other tables with their database, e.g. system.tables)`);
      }
      const formatParam = formatName.safeParse(url.searchParams.get('default_format') ?? 'TabSeparated');
      if (!formatParam.success) throw new EndpointError(73, 'UNKNOWN_FORMAT', 400, `default_format: ${formatParam.error.issues[0]?.message ?? 'invalid'}`);
      const params: QueryParams = {};
      const settings: Record<string, string> = {};
      for (const [name, value] of url.searchParams) {
        if (name.startsWith('param_')) params[name.slice('param_'.length)] = unescapeParam(value);
        else if (!NOT_SETTINGS.has(name) && !IGNORED_PREFIXES.some((p) => name.startsWith(p))) settings[name] = value;
      }
      const result = await warehouse.analystQuery(sql, params, { format: formatParam.data, settings, queryId });
      // The engine hands over its whole result at once, so the summary can go in the headers.
      const output = Buffer.concat(await result.stream.toArray() as Buffer[]);
      const summary = { read_rows: '0', read_bytes: '0', written_rows: '0', written_bytes: '0', total_rows_to_read: '0', result_rows: '0', result_bytes: String(output.length), elapsed_ns: '0', ...result.summary };
      const gzip = url.searchParams.get('enable_http_compression') === '1' && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
      const payload = gzip ? gzipSync(output) : output;
      res.writeHead(200, {
        'Content-Type': contentType(result.format),
        'X-ClickHouse-Query-Id': result.queryId,
        'X-ClickHouse-Format': result.format,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Server-Display-Name': 'inferledger',
        'X-ClickHouse-Summary': JSON.stringify(summary),
        'Content-Length': String(payload.length),
        ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
      });
      if (req.method === 'HEAD') res.end();
      else Readable.from([payload]).pipe(res);
    } catch (err) {
      fail(res, queryId, err);
    }
  };

  const server: Server = createServer((req, res) => { void answer(req, res); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: options.host,
    port,
    get queries() { return queries; },
    close: () => new Promise<void>((resolve) => {
      server.close(() => { resolve(); });
      server.closeAllConnections();
    }),
  };
}
