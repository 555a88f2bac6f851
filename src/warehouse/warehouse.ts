/**
 * The warehouse: one narrow interface over `@clickhouse/client`, backed by
 * embedded chDB (default) or a ClickHouse server over HTTP. Same SQL and same
 * results on both, because the JSON output settings are pinned: 64-bit
 * integers and decimals always come back as strings, and rows are checked by
 * a zod schema on the way out.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import type { Session } from 'chdb';
import type { ChdbConnection } from 'chdb/connection';
import type { z } from 'zod';
import { configSchema, type Config } from '../config/config.js';
import { analystSessionSettings, type AnalystLimits } from './analyst-allow-lists.js';
import { runAnalystStatement, STREAMED_FORMATS } from './analyst-session.js';
import { OneLineClientLogger } from './client-log.js';
import { LOCAL_CLICKHOUSE_GUIDE, loadChdb, loadChdbConnection } from './embedded-engine.js';
import { assertFormat, formatClauseOf, readOnlyStatement, withSettingsClause } from './read-only-query.js';
import { checkParams } from './sql-files.js';
import { tableFiltersSetting } from '../access/scope.js';

export type QueryParams = Record<string, unknown>;

/**
 * Rows a query reads as a table of its own, sent in the request body: a
 * ClickHouse server gets them as external data (a multipart part, the
 * query's temporary table), chDB as a temporary table filled by an insert.
 * Either way they never travel in the URL, which a server caps at 1 MiB.
 */
export interface BodyTable {
  /** The query parameter (`{name:Identifier}`) that names the table; its value is chosen here. */
  param: string;
  /** Columns and their types, e.g. `[['request_id', 'String']]`. */
  columns: readonly (readonly [string, string])[];
  /** The rows, JSONCompactEachRow. */
  body: string | Buffer;
}

/** How an analyst's query runs (see Warehouse.analystQuery). */
export interface AnalystQueryOptions {
  /** Output format when the statement names none (no FORMAT clause). */
  format: string;
  /** Allow statements that change data; read-only otherwise. */
  allowWrites?: boolean;
  /** Settings given beside the query: added as its SETTINGS clause, so the read-only rules judge them too. */
  settings?: Readonly<Record<string, string>>;
  queryId?: string;
  /** Limits a read-only query runs under (configuration `queries`); default: that section's defaults. */
  limits?: AnalystLimits;
  /** Aborting stops the query in the engine. */
  signal?: AbortSignal;
  /**
   * A scoped caller's rows (src/access/scope.ts): filters the engine applies to
   * every read of each table (`additional_table_filters`, set on the session,
   * out of the query's reach), and tables refused by name.
   */
  scope?: { filters: Readonly<Record<string, string>>; refused: ReadonlySet<string> };
  /** Filled in as the engine reports them: rows returned and rows read. */
  stats?: AnalystStats;
}

/** What the engine reported of a query, where it did. */
export interface AnalystStats {
  resultRows?: number;
  readRows?: number;
}

/** The `queries` defaults, for callers without a configuration of their own (the demo's printouts). */
export const DEFAULT_ANALYST_LIMITS: AnalystLimits = configSchema.shape.queries.parse(undefined);

export interface AnalystQueryResult {
  stream: Readable;
  /** The format the output is in: the statement's FORMAT clause, else the one asked for. */
  format: string;
  queryId: string;
  /** The engine's counters (read_rows, read_bytes, elapsed_ns, ...), as ClickHouse reports them: strings. */
  summary: Readonly<Record<string, string>> | undefined;
}

export interface Warehouse {
  readonly backend: 'chdb' | 'server';
  readonly database: string;
  /** The embedded data directory (absolute); undefined on a server. */
  readonly dataDir: string | undefined;
  /** Run a SELECT and validate each row. Values reach SQL only as `{name:Type}` parameters. */
  query<S extends z.ZodType>(sql: string, params: QueryParams, row: S): Promise<z.infer<S>[]>;
  /**
   * Run one of the project's own SELECTs and return its whole answer in a
   * binary or text output `format` (e.g. RowBinary), for many rows of a few
   * columns that JavaScript reads without a parse per row.
   */
  queryBytes(sql: string, params: QueryParams, format: 'RowBinary'): Promise<Buffer>;
  /** Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER). */
  command(sql: string, params?: QueryParams, settings?: ClickHouseSettings): Promise<void>;
  /**
   * Run an INSERT whose data, in the statement's own trailing `FORMAT`, is
   * streamed in the request body (e.g. `INSERT ... SELECT ... FROM input(...)
   * FORMAT Parquet`). Server only: chDB's connection takes no body stream.
   */
  commandWithBody(sql: string, params: QueryParams, body: Readable, settings?: ClickHouseSettings): Promise<void>;
  /**
   * Insert rows already serialised as JSONCompactEachRow lines (one array per
   * line, in `columns` order). The fast path for bulk ingestion.
   */
  insertCompact(table: string, columns: readonly string[], body: string | Buffer, settings?: ClickHouseSettings): Promise<void>;
  /**
   * Run an analyst's query and stream its output in a ClickHouse output format
   * (e.g. PrettyCompactMonoBlock, CSVWithNames, JSONEachRow). Read-only unless
   * `allowWrites`: one statement that only reads the warehouse (see
   * read-only-query.ts), in a session refused anything but reads.
   */
  queryText(sql: string, params: QueryParams, format: string, allowWrites?: boolean): Promise<Readable>;
  /** queryText with what an HTTP client gives beside the query, and what it needs back (the format, the summary). */
  analystQuery(sql: string, params: QueryParams, options: AnalystQueryOptions): Promise<AnalystQueryResult>;
  /** Run a SELECT that reads `table` (named by its parameter), whose rows go in the request body; validate each row. */
  queryWithTable<S extends z.ZodType>(sql: string, params: QueryParams, table: BodyTable, row: S): Promise<z.infer<S>[]>;
  /** Insert a few rows given as objects (JSONEachRow); for small, non-hot writes. */
  insertObjects(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Output settings pinned on every request so both backends read back alike.
 * chDB already answers this way; a server does not by default.
 */
export const PINNED_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_decimals: 1,
  output_format_json_quote_64bit_floats: 0,
  date_time_output_format: 'simple',
  date_time_input_format: 'best_effort',
};

/**
 * Over HTTP, progress headers keep a long query's connection from looking
 * idle to a proxy or load balancer in between (the client warns without them).
 */
const SERVER_SETTINGS: ClickHouseSettings = { ...PINNED_SETTINGS, send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '60000' };

/** The client's log: one line per entry, failed requests left to their callers (client-log.ts). */
const CLIENT_LOG = { LoggerClass: OneLineClientLogger };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Column types a body table may use: plain names, e.g. String, UInt32, Nullable(String). */
const PLAIN_TYPE = /^[A-Za-z][A-Za-z0-9_(), ]*$/;
let bodyTables = 0;

function assertIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain identifier: ${JSON.stringify(name)}`);
  return name;
}

/** Open the warehouse the configuration names, creating its database if needed. */
export async function openWarehouse(config: Config['warehouse']): Promise<Warehouse> {
  const database = assertIdentifier(config.database);
  if (config.url) return openServer(config, database);
  return openEmbedded(config.dataDir, database);
}

/** The directory of the embedded data directory that BACKUP and RESTORE may write and read (backups.allowed_path). */
export const BACKUP_STAGING_DIR = 'backup-staging';

async function openEmbedded(dataDir: string, database: string): Promise<Warehouse> {
  // Loaded only here: the native engine is ~200 MB resident before any query, server mode needs none of it, and on a
  // machine chDB has no build for this is where a command stops (one line, naming the way out), before any directory is made.
  const { createChdbConnection } = await loadChdbConnection();
  const { Session } = await loadChdb();
  const path = resolve(dataDir);
  mkdirSync(path, { recursive: true });
  // The first connection to a directory starts the engine with its server settings: the paths a query could read
  // user files, format schemas (and their cache) or scripts from point at an empty directory of ours, never the
  // working directory. Later connections share the engine; this one lives as long as the warehouse.
  // BACKUP and RESTORE may only use files under a directory of ours too (src/backup moves them in and out of it).
  const sandbox = join(path, 'sandbox');
  mkdirSync(sandbox, { recursive: true });
  const engine = new Session(path, {
    connectionArgs: [
      `--user_files_path=${sandbox}/`, `--format_schema_path=${sandbox}/`, `--user_scripts_path=${sandbox}/`, `--user_defined_executable_functions_config=${sandbox}/none.xml`,
      `--backups.allowed_path=${join(path, BACKUP_STAGING_DIR)}/`,
    ],
  });
  const connection = createChdbConnection({ path });
  const client = createClient({ connection, clickhouse_settings: PINNED_SETTINGS, log: CLIENT_LOG } as Parameters<typeof createClient>[0]);
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS {db:Identifier}', query_params: { db: database } });
  // A chDB session keeps its current database, so every later statement runs in it.
  await client.command({ query: `USE ${database}` });
  return new ClientWarehouse('chdb', database, client, connection, undefined, path, engine);
}

/**
 * Read through the query endpoint of a running `inferledger run` (the
 * ClickHouse HTTP interface it serves while it holds the embedded data
 * directory): a server-mode warehouse without the bootstrap, since the
 * endpoint answers read-only queries only and the database exists.
 */
export function openServiceReader(url: string, database: string, password: string, timeoutMs: number, headers: Readonly<Record<string, string>> = {}): Warehouse {
  const db = assertIdentifier(database);
  const client = createClient({ url, username: 'default', password, request_timeout: timeoutMs, clickhouse_settings: SERVER_SETTINGS, database: db, log: CLIENT_LOG, http_headers: { ...headers } });
  return new ClientWarehouse('server', db, client, undefined, { url, user: 'default', password, timeoutMs }, undefined);
}

async function openServer(config: Config['warehouse'], database: string): Promise<Warehouse> {
  const common = {
    url: config.url,
    username: config.user,
    password: config.password,
    request_timeout: config.requestTimeoutMs,
    clickhouse_settings: SERVER_SETTINGS,
    log: CLIENT_LOG,
  };
  const bootstrap = createClient(common);
  try {
    await bootstrap.command({ query: 'CREATE DATABASE IF NOT EXISTS {db:Identifier}', query_params: { db: database } });
  } catch (err) {
    throw unreachable(err, config.url ?? '');
  } finally {
    await bootstrap.close();
  }
  return new ClientWarehouse('server', database, createClient({ ...common, database }), undefined, { url: config.url ?? '', user: config.user, password: config.password, timeoutMs: config.requestTimeoutMs }, undefined);
}

/** Errors of a server that is not there (not running, wrong host or port), as opposed to one that answered. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ETIMEDOUT']);

/** No ClickHouse server answers at the configured URL: a plain message, no stack (the CLI prints it as one line). */
export class ServerUnreachableError extends Error {
  override name = 'ServerUnreachableError';
}

/** A first request that found no server, said with where it looked and what to check; any other error as it is. */
function unreachable(err: unknown, url: string): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (!(err instanceof Error) || typeof code !== 'string' || !UNREACHABLE.has(code)) return err;
  let where = url;
  try {
    where = new URL(url).origin; // never the credentials a URL may hold
  } catch { /* the configuration checked it is a URL */ }
  return new ServerUnreachableError(
    `no ClickHouse server answers at ${where} (CLICKHOUSE_URL): ${err.message.split('\n')[0] ?? code}; start it, or check the URL — see ${LOCAL_CLICKHOUSE_GUIDE}`,
    { cause: err },
  );
}

/** What a body-table query needs to reach a server itself (@clickhouse/client cannot send external data). */
interface ServerAccess {
  url: string;
  user: string;
  password: string;
  timeoutMs: number;
}

class ClientWarehouse implements Warehouse {
  constructor(
    readonly backend: 'chdb' | 'server',
    readonly database: string,
    private readonly client: ClickHouseClient,
    private readonly chdb: ChdbConnection | undefined,
    private readonly server: ServerAccess | undefined,
    readonly dataDir: string | undefined,
    private readonly engine?: Session,
  ) {}

  async query<S extends z.ZodType>(sql: string, params: QueryParams, row: S): Promise<z.infer<S>[]> {
    checkParams(sql, params);
    const result = await this.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
    const rows = await result.json<unknown>();
    return rows.map((r, i) => {
      const parsed = row.safeParse(r);
      if (!parsed.success) {
        throw new Error(`warehouse returned an unexpected row ${i}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
      }
      return parsed.data;
    });
  }

  async queryBytes(sql: string, params: QueryParams, format: 'RowBinary'): Promise<Buffer> {
    checkParams(sql, params);
    const result = await this.client.exec({ query: sql, query_params: params, clickhouse_settings: { default_format: format as ClickHouseSettings['default_format'] } });
    const chunks: Buffer[] = [];
    for await (const chunk of result.stream) chunks.push(chunk as Buffer);
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  }

  async command(sql: string, params: QueryParams = {}, settings?: ClickHouseSettings): Promise<void> {
    checkParams(sql, params);
    await this.client.command({ query: sql, query_params: params, ...(settings ? { clickhouse_settings: settings } : {}) });
  }

  async commandWithBody(sql: string, params: QueryParams, body: Readable, settings?: ClickHouseSettings): Promise<void> {
    if (this.chdb) {
      body.destroy();
      throw new Error('the embedded warehouse takes no request body: read the file with a table function instead');
    }
    checkParams(sql, params);
    // With `values`, the client sends the statement and its parameters in the URL and the stream as the body.
    const result = await this.client.exec({ query: sql, query_params: params, values: body, ...(settings ? { clickhouse_settings: settings } : {}) });
    // The response must be read to its end before the socket is released.
    result.stream.resume();
    await finished(result.stream);
  }

  async insertCompact(table: string, columns: readonly string[], body: string | Buffer, settings?: ClickHouseSettings): Promise<void> {
    if (body.length === 0) return;
    assertIdentifier(table);
    columns.forEach(assertIdentifier);
    if (this.chdb) {
      // Hands the bytes to chDB's own parser without another copy through JS.
      await this.chdb.chdb.rawInsert({
        table,
        columns,
        values: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
        format: 'JSONCompactEachRow',
        ...(settings ? { settings: settings as Record<string, string | number | boolean> } : {}),
      });
      return;
    }
    const result = await this.client.exec({
      query: `INSERT INTO ${table} (${columns.join(', ')}) FORMAT JSONCompactEachRow`,
      values: Readable.from([body]),
      ...(settings ? { clickhouse_settings: settings } : {}),
    });
    result.stream.resume();
    await new Promise<void>((ok, fail) => result.stream.on('end', ok).on('error', fail));
  }

  async queryText(sql: string, params: QueryParams, format: string, allowWrites = false): Promise<Readable> {
    return (await this.analystQuery(sql, params, { format, allowWrites })).stream;
  }

  async analystQuery(sql: string, params: QueryParams, options: AnalystQueryOptions): Promise<AnalystQueryResult> {
    const { format, allowWrites = false, limits = DEFAULT_ANALYST_LIMITS } = options;
    assertIdentifier(format);
    const text = options.settings ? withSettingsClause(sql, options.settings) : sql;
    const reader = { query: this.query.bind(this), explainAst: this.explainAst.bind(this) };
    const statement = allowWrites ? text : await readOnlyStatement(reader, text, params, { database: this.database, limits, refusedTables: options.scope?.refused });
    // The engine reads a map setting from its text form on both backends.
    const filters: Record<string, string> = options.scope && Object.keys(options.scope.filters).length > 0 ? { additional_table_filters: tableFiltersSetting(options.scope.filters) } : {};
    // Pretty formats otherwise annotate a lone large number ("-- 1.25 million") inside the table.
    const shaping: Record<string, number> = format.startsWith('Pretty') ? { output_format_pretty_single_large_number_tip_threshold: 0 } : {};
    const queryId = options.queryId ?? randomUUID();
    const outputFormat = (allowWrites ? undefined : formatClauseOf(statement)) ?? format;
    if (!allowWrites) assertFormat(outputFormat);
    if (!allowWrites && this.dataDir !== undefined) {
      // Embedded: a connection of its own, its output streamed, stopped in the engine when the reader goes away.
      const stream = await runAnalystStatement({
        path: this.dataDir, database: this.database, statement, params, format: outputFormat, signal: options.signal, stats: options.stats,
        settings: { ...PINNED_SETTINGS as Record<string, string | number>, ...shaping, ...filters, ...analystSessionSettings(limits, Object.keys(params).length > 0 || !STREAMED_FORMATS.has(outputFormat)) },
      });
      return { stream, format: outputFormat, queryId, summary: undefined };
    }
    const result = await this.client.exec({
      query: statement,
      query_params: params,
      query_id: queryId,
      ...(options.signal ? { abort_signal: options.signal } : {}),
      // Any ClickHouse output format, not only the ones the client can decode: we pass the text through.
      clickhouse_settings: {
        default_format: format as ClickHouseSettings['default_format'],
        ...shaping,
        // A server stops a read-only query whose client went away only when asked to.
        ...(allowWrites ? {} : { ...filters as ClickHouseSettings, ...analystSessionSettings(limits), cancel_http_readonly_queries_on_client_close: 1 }),
      },
    });
    const summary = 'summary' in result ? (result as { summary?: Record<string, string> }).summary : undefined;
    if (options.stats && summary) {
      if (summary['result_rows'] !== undefined) options.stats.resultRows = Number(summary['result_rows']);
      if (summary['read_rows'] !== undefined) options.stats.readRows = Number(summary['read_rows']);
    }
    return { stream: result.stream, format: outputFormat, queryId: result.query_id, summary };
  }

  /**
   * The analyst's own SQL, already re-printed by the engine as exactly one
   * statement: EXPLAIN AST parses it and runs nothing; values stay parameters.
   */
  private async explainAst(statement: string, params: QueryParams): Promise<string[]> {
    checkParams(statement, params);
    const result = await this.client.exec({
      query: `EXPLAIN AST ${statement}`,
      query_params: params,
      // On a server the setting lasts for this request; chDB's connection would keep it for every later statement, and
      // EXPLAIN AST runs nothing there anyway.
      clickhouse_settings: { default_format: 'TabSeparatedRaw', ...(this.chdb ? {} : { readonly: '2' }) },
    });
    let text = '';
    for await (const chunk of result.stream) text += String(chunk);
    return text.split('\n').filter((line) => line.trim() !== '');
  }

  async queryWithTable<S extends z.ZodType>(sql: string, params: QueryParams, table: BodyTable, row: S): Promise<z.infer<S>[]> {
    // A name of its own per call: two lookups at once in one chDB session must not share a temporary table.
    const name = `body_table_${process.pid}_${++bodyTables}`;
    const all = { ...params, [table.param]: name };
    checkParams(sql, all);
    const names = table.columns.map(([column, type]) => {
      if (!PLAIN_TYPE.test(type)) throw new Error(`not a plain column type: ${JSON.stringify(type)}`);
      return assertIdentifier(column);
    });
    const structure = table.columns.map(([column, type]) => `${column} ${type}`).join(', ');
    if (!this.server) {
      await this.client.command({ query: `CREATE TEMPORARY TABLE ${name} (${structure})` });
      try {
        await this.insertCompact(name, names, table.body);
        return await this.query(sql, all, row);
      } finally {
        await this.client.command({ query: `DROP TEMPORARY TABLE IF EXISTS ${name}` });
      }
    }
    const rows = await this.externalDataQuery(sql, all, name, structure, table.body);
    return rows.map((r, i) => {
      const parsed = row.safeParse(r);
      if (!parsed.success) throw new Error(`warehouse returned an unexpected row ${i}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
      return parsed.data;
    });
  }

  /**
   * One HTTP request carrying the rows as ClickHouse "external data": the
   * query and its small parameters in the URL, the rows as a multipart file
   * part named after the table, read by the server as a temporary table.
   */
  private async externalDataQuery(sql: string, params: QueryParams, name: string, structure: string, body: string | Buffer): Promise<unknown[]> {
    const server = this.server as ServerAccess;
    const url = new URL(server.url);
    url.searchParams.set('database', this.database);
    url.searchParams.set('default_format', 'JSONEachRow');
    for (const [key, value] of Object.entries(PINNED_SETTINGS)) url.searchParams.set(key, String(value));
    for (const [key, value] of Object.entries(params)) url.searchParams.set(`param_${key}`, escapeParam(value));
    url.searchParams.set(`${name}_structure`, structure);
    url.searchParams.set(`${name}_format`, 'JSONCompactEachRow');
    url.searchParams.set('query', sql);
    const form = new FormData();
    form.append(name, new Blob([typeof body === 'string' ? body : new Uint8Array(body.buffer, body.byteOffset, body.byteLength)]), name);
    const response = await fetch(url, {
      method: 'POST',
      body: form,
      headers: { Authorization: `Basic ${Buffer.from(`${server.user}:${server.password}`).toString('base64')}` },
      signal: AbortSignal.timeout(server.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      const code = response.headers.get('x-clickhouse-exception-code') ?? /Code: (\d+)/.exec(text)?.[1];
      throw Object.assign(new Error(text.trim() || `HTTP ${response.status}`), { code });
    }
    return text.split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as unknown);
  }

  async insertObjects(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    await this.client.insert({ table: assertIdentifier(table), values: rows, format: 'JSONEachRow' });
  }

  async close(): Promise<void> {
    await this.client.close();
    this.engine?.close();
  }
}

/** A query parameter value as the HTTP interface reads it (escaped like TSV). */
function escapeParam(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
}
