/**
 * Analysts' queries while the service holds the embedded warehouse: a
 * read-only subset of the ClickHouse HTTP interface, enough for
 * `@clickhouse/client`, Grafana's ClickHouse data source, the JDBC driver
 * (DBeaver, DataGrip) and curl. Queries
 * obey the same rules as `inferledger sql` (read-only-query.ts) and run in a
 * warehouse session of their own, which the engine keeps read-only: the
 * service's own session, which writes, is never touched by them.
 *
 * Supported: GET and POST on `/` (the query in `query` and/or the body),
 * `/ping`, `param_<name>` values, `default_format` or a FORMAT clause (any
 * output format of the engine), `database` (only the warehouse's), `query_id`,
 * query-shaping settings as parameters (judged like a SETTINGS clause),
 * gzip/deflate/br request bodies, gzip responses (`enable_http_compression=1`),
 * the X-ClickHouse-Format/-Database/-Query-Id headers, ClickHouse's own
 * compressed blocks both ways (`compress=1`, `decompress=1`) and
 * `wait_end_of_query` (query-wire.ts, clickhouse-compression.ts), and errors
 * in the server's own text (`Code: N. DB::Exception: ...`).
 * Not supported: writes, sessions (`session_id` is ignored: each request is
 * one query), external data tables, progress headers. Beside the queries,
 * /admin/ is handed to the service's admin route when it gives one
 * (admin-route.ts: work for the CLI, behind a token of its own).
 *
 * No request can knock it over: each is answered inside one error boundary;
 * header values are checked before use; queries run up to
 * `queries.concurrency` at once, the rest wait in line up to
 * `queries.queueTimeoutMs`; output is streamed, and a client that goes away
 * (or the service stopping) stops its query in the engine. Requests from a
 * browser page are refused unless its origin is allowed, and the Host header
 * must name this machine (DNS rebinding).
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { ReadOnlyQueryError } from '../warehouse/read-only-query.js';
import type { AnalystStats, QueryParams, Warehouse } from '../warehouse/warehouse.js';
import { AuthenticationError, createAuthenticator, type Caller } from '../access/authenticate.js';
import { QueryGate, QueryLimitError } from '../access/query-gate.js';
import type { AuditOutcome, QueryAudit } from '../access/query-audit.js';
import { scopeText } from '../access/scope.js';
import { scopeCatalogue } from '../access/scope-tables.js';
import type { AdminRoute } from './admin-route.js';
import { BlockDecoder, compressBlocks } from './clickhouse-compression.js';
import { compressesError, encodeAnswer, holdUntilEnd, queryWire } from './query-wire.js';

export interface QueryEndpointOptions {
  /** A warehouse session of the endpoint's own: the engine leaves it read-only after the first query. */
  warehouse: Warehouse;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Without access.users: when set, every query must carry it (basic auth, X-ClickHouse-Key or `password`). */
  password?: string | undefined;
  /** Users and scopes (configuration `access`); none: one optional password, every row. */
  access?: Config['access'] | undefined;
  /** The service's own token: the CLI on this machine sends it in this header to query as `(local)`, every row. */
  localToken?: { header: string; token: string } | undefined;
  /** Where every request is recorded (src/access/query-audit.ts); none: not recorded. */
  audit?: QueryAudit | undefined;
  /** Limits, concurrency and browser rules (configuration `queries`). */
  queries: Config['queries'];
  log: (line: string) => void;
  /** Requests under /admin/ (the service's own work for the CLI, admin-route.ts), after the same caller checks; none without it. */
  admin?: AdminRoute | undefined;
}

export interface QueryEndpoint {
  readonly host: string;
  readonly port: number;
  /** Queries answered (successfully or not) since start. */
  readonly queries: number;
  /** Queries running now, and waiting in line. */
  readonly running: number;
  readonly waiting: number;
  /** Stop listening, stop every running query in the engine, and wait for them to end. */
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
  constructor(readonly code: number, readonly type: string, readonly status: number, message: string, readonly retryAfterSeconds?: number) {
    super(message);
    this.name = 'EndpointError';
  }
}

/** HTTP statuses as the server gives them for the codes seen here; anything else is 500. */
const STATUS_OF_CODE: Readonly<Record<number, number>> = {
  6: 400, 27: 400, 36: 400, 43: 400, 46: 400, 47: 400, 62: 400, 73: 400, 115: 400, 456: 400, 457: 400,
  60: 404, 81: 404,
  516: 403, 202: 503,
};

function asEndpointError(err: unknown): EndpointError {
  if (err instanceof EndpointError) return err;
  const message = (err as Error).message;
  if (err instanceof AuthenticationError) {
    return err.status === 401 ? new EndpointError(516, 'AUTHENTICATION_FAILED', 401, message) : new EndpointError(36, 'BAD_ARGUMENTS', 400, message);
  }
  if (err instanceof QueryLimitError) return new EndpointError(err.code, err.type, 429, message, err.retryAfterSeconds);
  if (err instanceof ReadOnlyQueryError) {
    // The engine's parser refused it before the rules could: report it as the parse error it is.
    if (/^Syntax error/.test(message)) return new EndpointError(62, 'SYNTAX_ERROR', 400, message);
    return new EndpointError(164, 'READONLY', 500, message);
  }
  if ((err as Error).name === 'AbortError') return new EndpointError(394, 'QUERY_WAS_CANCELLED', 500, 'Query was cancelled');
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

/** The query text of the body: HTTP-decoded (Content-Encoding), then, with `decompress=1`, out of ClickHouse's compressed blocks. */
async function readBody(req: IncomingMessage, decompress = false): Promise<string> {
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  const decoders: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };
  const decoder = decoders[encoding];
  if (encoding !== '' && encoding !== 'identity' && !decoder) throw new EndpointError(36, 'BAD_ARGUMENTS', 400, `Unknown Content-Encoding ${encoding}: send gzip, deflate, br or none`);
  const source: AsyncIterable<Buffer> = decoder ? req.pipe(decoder()) as unknown as AsyncIterable<Buffer> : req;
  const tooLarge = (): EndpointError => new EndpointError(62, 'SYNTAX_ERROR', 400, `Max query size exceeded: this endpoint takes queries up to ${MAX_QUERY_BYTES} bytes`);
  // A block is checked as soon as its header is in: one that would decompress past the limit is refused before its data is read.
  const blocks = decompress ? new BlockDecoder(MAX_QUERY_BYTES, tooLarge) : undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  let received = 0;
  for await (const chunk of source) {
    // Compressed input larger than twice the limit holds no query within it (empty blocks, say).
    received += chunk.length;
    if (received > 2 * MAX_QUERY_BYTES) throw tooLarge();
    for (const data of blocks ? blocks.push(chunk) : [chunk]) {
      size += data.length;
      if (size > MAX_QUERY_BYTES) throw tooLarge();
      chunks.push(data);
    }
  }
  blocks?.end();
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves once the response can take more, or is gone; leaves no listener behind. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The stream as it is, and a count of the bytes read from it so far. */
function countedBytes(source: Readable): { stream: Readable; bytes: () => number } {
  let bytes = 0;
  async function* counting(): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  return { stream: Readable.from(counting(), { objectMode: false }), bytes: () => bytes };
}

/** A query id as a client may give it: printable ASCII, no spaces (it is echoed in a response header). */
const QUERY_ID = /^[\x21-\x7e]{1,128}$/;

/** The host part of a Host header (`127.0.0.1:8124`, `[::1]:8124`, `localhost`). */
function hostOf(header: string): string {
  if (header.startsWith('[')) return header.slice(1, header.indexOf(']'));
  const colon = header.lastIndexOf(':');
  return colon < 0 ? header : header.slice(0, colon);
}

export async function startQueryEndpoint(options: QueryEndpointOptions): Promise<QueryEndpoint> {
  const { warehouse, queries: limits } = options;
  const [row] = await warehouse.query('SELECT version() AS version', {}, z.object({ version: z.string() }));
  const version = row?.version ?? 'unknown';
  let queries = 0;
  const access = options.access ?? { users: [], sharedTables: [] };
  const authenticator = createAuthenticator({
    access, queries: limits, password: options.password,
    localToken: options.localToken?.token, localTokenHeader: options.localToken?.header,
  });
  const gate = new QueryGate({ concurrency: limits.concurrency, totalMemoryBytes: limits.maxTotalMemoryBytes, queueTimeoutMs: limits.queueTimeoutMs });
  const scopes = scopeCatalogue(warehouse, access.sharedTables);
  const inFlight = new Set<{ controller: AbortController; done: Promise<void> }>();
  const allowedHosts = new Set(['localhost', options.host.toLowerCase(), ...limits.allowedHosts.map((h) => h.toLowerCase())]);
  const allowedOrigins = new Set(limits.allowedOrigins.map((o) => new URL(o).origin));

  const errorText = (e: EndpointError): string => `Code: ${e.code}. DB::Exception: ${e.message.trim().replace(/\.$/, '')}. (${e.type}) (version ${version})\n`;
  /** An error's text as the response carries it: in compressed blocks when the client asked for compressed answers (`compress=1`), as the server sends it. */
  const errorBody = (res: ServerResponse, e: EndpointError): string | Buffer => (compressesError(res.req, e.status) ? Buffer.concat(compressBlocks(Buffer.from(errorText(e)))) : errorText(e));

  const fail = (res: ServerResponse, queryId: string, err: unknown): EndpointError => {
    const e = asEndpointError(err);
    if (res.headersSent) {
      // The status is gone already: the error goes in the body, as a server does, and the response is cut short so no client takes it for complete.
      if (!res.destroyed) res.write(errorBody(res, e), () => { res.destroy(); });
      return e;
    }
    res.writeHead(e.status, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Exception-Code': String(e.code),
      'X-ClickHouse-Timezone': 'UTC',
      ...(e.status === 401 ? { 'WWW-Authenticate': 'Basic realm="inferledger", charset="UTF-8"' } : {}),
      ...(e.retryAfterSeconds !== undefined ? { 'Retry-After': String(e.retryAfterSeconds) } : {}),
    }).end(errorBody(res, e));
    return e;
  };

  /** Refuse what a browser page or a rebound DNS name sends; answer CORS for allowed origins. */
  const checkCaller = (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host;
    if (host === undefined || host === '') throw new EndpointError(36, 'BAD_ARGUMENTS', 400, 'The request has no Host header');
    const name = hostOf(host).toLowerCase();
    if (isIP(name) === 0 && !allowedHosts.has(name)) {
      throw new EndpointError(36, 'BAD_ARGUMENTS', 403, `Host ${host} is not this endpoint's: use its IP address or localhost, or list the name in queries.allowedHosts`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!allowedOrigins.has(origin)) throw new EndpointError(36, 'BAD_ARGUMENTS', 403, `Requests from web pages are refused (Origin ${origin}); list the origin in queries.allowedOrigins to allow it`);
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      return;
    }
    // A page's request that carries no Origin (an <img>, a form GET) still says where it comes from.
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'none' && site !== 'same-origin') throw new EndpointError(36, 'BAD_ARGUMENTS', 403, `Requests from web pages are refused (Sec-Fetch-Site ${Array.isArray(site) ? site.join(', ') : site})`);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> => {
    let queryId: string = randomUUID();
    const started = Date.now();
    // What the audit records of this request, filled in as it goes; a request that is no query (ping, admin) has no sql.
    const audited: { caller?: Caller; claimedUser: string; sql?: string; bytes: number; stats: AnalystStats } = { claimedUser: '', bytes: 0, stats: {} };
    let outcome: AuditOutcome = 'ok';
    let failure: EndpointError | undefined;
    try {
      checkCaller(req, res);
      const target = req.url ?? '/';
      // Parsed as a path on this host only: `//x:99999` is a path, never another host.
      const url = new URL(`http://localhost${target.startsWith('/') ? target : `/${target}`}`);
      // Format, database and query id from headers or parameters, compression both ways, waiting: as the server reads them (query-wire.ts).
      const wire = queryWire(req, url);
      const givenId = wire.queryId;
      if (givenId !== undefined) {
        if (!QUERY_ID.test(givenId)) throw new EndpointError(36, 'BAD_ARGUMENTS', 400, 'query_id must be 1-128 printable ASCII characters without spaces');
        queryId = givenId;
      }
      if (options.admin && url.pathname.startsWith('/admin/')) {
        await options.admin(req, res, url.pathname);
        return;
      }
      if (url.pathname === '/ping') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
        return;
      }
      if (url.pathname !== '/') throw new EndpointError(0, 'UNKNOWN_EXCEPTION', 404, `There is no handle ${url.pathname}: use / (queries) or /ping`);
      if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') {
        throw new EndpointError(36, 'BAD_ARGUMENTS', 400, `HTTP method ${req.method ?? ''} is not supported: use GET or POST`);
      }
      // Recorded even when refused before the body is read: the text in the URL is all the audit gets then.
      audited.sql = url.searchParams.get('query') ?? '';
      let caller: Caller;
      try {
        caller = authenticator.authenticate(req, url);
      } catch (err) {
        if (err instanceof AuthenticationError) audited.claimedUser = err.claimedUser;
        // The body of a caller not let in is never read.
        if (req.method === 'POST') req.resume();
        throw err;
      }
      audited.caller = caller;
      const body = req.method === 'POST' ? await readBody(req, wire.decompress) : '';
      const sql = [url.searchParams.get('query') ?? '', body].filter((part) => part.trim() !== '').join('\n');
      audited.sql = sql;
      if (sql === '') {
        delete audited.sql;
        if (req.method === 'POST') throw new EndpointError(62, 'SYNTAX_ERROR', 400, 'Empty query');
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
        return;
      }
      queries++;
      const database = wire.database;
      if (database !== undefined && database !== warehouse.database) {
        throw new EndpointError(81, 'UNKNOWN_DATABASE', 404, `Database ${database} is not served here: this endpoint answers in database ${warehouse.database} (name other tables with their database, e.g. system.tables)`);
      }
      const formatParam = formatName.safeParse(wire.format ?? 'TabSeparated');
      if (!formatParam.success) throw new EndpointError(73, 'UNKNOWN_FORMAT', 400, `default_format (or X-ClickHouse-Format): ${formatParam.error.issues[0]?.message ?? 'invalid'}`);
      const params: QueryParams = {};
      const settings: Record<string, string> = {};
      for (const [name, value] of url.searchParams) {
        if (name.startsWith('param_')) params[name.slice('param_'.length)] = unescapeParam(value);
        else if (!NOT_SETTINGS.has(name) && !IGNORED_PREFIXES.some((p) => name.startsWith(p))) settings[name] = value;
      }
      const rules = await scopes.rulesFor(caller.scope);
      const release = await gate.admit(caller.name, {
        concurrency: caller.limits.userConcurrency, queriesPerMinute: caller.limits.queriesPerMinute, memoryBytes: caller.limits.maxMemoryBytes,
      }, signal, () => new EndpointError(394, 'QUERY_WAS_CANCELLED', 500, 'Query was cancelled while it waited'));
      try {
        const result = await warehouse.analystQuery(sql, params, {
          format: formatParam.data, settings, queryId, limits: caller.limits, signal, scope: rules, stats: audited.stats,
        });
        audited.bytes = await send(req, res, url, result);
      } finally {
        release();
      }
    } catch (err) {
      failure = fail(res, queryId, err);
      outcome = err instanceof AuthenticationError ? 'unauthenticated' : err instanceof QueryLimitError ? 'limited' : failure.code === 394 ? 'cancelled' : 'error';
    } finally {
      if (audited.sql !== undefined) {
        options.audit?.record({
          at: new Date(started), user: audited.caller?.name ?? audited.claimedUser, authenticated: audited.caller !== undefined,
          scope: audited.caller ? scopeText(audited.caller.scope) : '', queryId, query: audited.sql,
          outcome: outcome === 'ok' && signal.aborted ? 'cancelled' : outcome, errorCode: failure?.code ?? 0, error: failure?.message ?? '',
          resultRows: audited.stats.resultRows, resultBytes: audited.bytes, readRows: audited.stats.readRows,
          durationMs: Date.now() - started, client: `${req.socket.remoteAddress ?? ''} ${req.headers['user-agent'] ?? ''}`.trim(),
        });
      }
    }
  };

  /**
   * Stream a result: headers first (the first chunk is already in), then the
   * rest as the engine makes it. Returns the bytes of output sent, before any
   * compression (for the audit).
   */
  const send = async (req: IncomingMessage, res: ServerResponse, url: URL, answered: { stream: Readable; format: string; queryId: string; summary: Readonly<Record<string, string>> | undefined }): Promise<number> => {
    const counted = countedBytes(answered.stream);
    const result = { ...answered, stream: counted.stream };
    const wire = queryWire(req, url);
    // Held before the status is sent, so an error anywhere in the answer still gets its own (bounded: larger answers stream on).
    const body = wire.waitEndOfQuery ? await holdUntilEnd(result.stream, limits.maxBufferedResultBytes) : result.stream;
    const summary = { read_rows: '0', read_bytes: '0', written_rows: '0', written_bytes: '0', total_rows_to_read: '0', result_rows: '0', result_bytes: '0', elapsed_ns: '0', ...result.summary };
    const gzip = url.searchParams.get('enable_http_compression') === '1' && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    res.writeHead(200, {
      'Content-Type': contentType(result.format),
      'X-ClickHouse-Query-Id': result.queryId,
      'X-ClickHouse-Format': result.format,
      'X-ClickHouse-Timezone': 'UTC',
      'X-ClickHouse-Server-Display-Name': 'inferledger',
      'X-ClickHouse-Summary': JSON.stringify(summary),
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
    });
    if (req.method === 'HEAD') {
      answered.stream.destroy();
      res.end();
      return 0;
    }
    const source: AsyncIterable<Buffer> = encodeAnswer(body, { compress: wire.compress, gzip });
    try {
      for await (const chunk of source) {
        if (res.destroyed) break;
        // Backpressure: a slow client slows the engine down instead of filling memory.
        if (!res.write(chunk)) await drained(res);
      }
    } finally {
      if (res.destroyed) {
        result.stream.destroy();
        answered.stream.destroy();
      }
    }
    res.end();
    return counted.bytes();
  };

  const server: Server = createServer((req, res) => {
    const controller = new AbortController();
    // A client that goes away before its answer is complete stops its query.
    res.once('close', () => { if (!res.writableFinished) controller.abort(); });
    const entry = {
      controller,
      done: answer(req, res, controller.signal).catch((err: unknown) => {
        // The last line of defence: whatever escaped is logged, the request ends, the service goes on.
        options.log(`queries: request failed unexpectedly: ${(err as Error).message}`);
        res.destroy();
      }),
    };
    inFlight.add(entry);
    void entry.done.finally(() => { inFlight.delete(entry); });
  });
  server.on('clientError', (_err, socket) => { socket.destroy(); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: options.host,
    port,
    get queries() { return queries; },
    get running() { return gate.runningQueries; },
    get waiting() { return gate.waitingQueries; },
    close: async () => {
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
      for (const entry of inFlight) entry.controller.abort();
      server.closeAllConnections();
      await Promise.all([...inFlight].map((e) => e.done));
      await closed;
    },
  };
}
