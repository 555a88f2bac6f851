/**
 * The warehouse: one narrow interface over `@clickhouse/client`, backed by
 * embedded chDB (default) or a ClickHouse server over HTTP. Same SQL and same
 * results on both, because the JSON output settings are pinned: 64-bit
 * integers and decimals always come back as strings, and rows are checked by
 * a zod schema on the way out.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import type { ChdbConnection } from 'chdb/connection';
import type { z } from 'zod';
import type { Config } from '../config/config.js';
import { readOnlyStatement } from './read-only-query.js';
import { checkParams } from './sql-files.js';

export type QueryParams = Record<string, unknown>;

export interface Warehouse {
  readonly backend: 'chdb' | 'server';
  readonly database: string;
  /** Run a SELECT and validate each row. Values reach SQL only as `{name:Type}` parameters. */
  query<S extends z.ZodType>(sql: string, params: QueryParams, row: S): Promise<z.infer<S>[]>;
  /** Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER). */
  command(sql: string, params?: QueryParams, settings?: ClickHouseSettings): Promise<void>;
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

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

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

async function openEmbedded(dataDir: string, database: string): Promise<Warehouse> {
  const path = resolve(dataDir);
  mkdirSync(path, { recursive: true });
  // Loaded only here: the native engine is ~200 MB resident before any query, and server mode needs none of it.
  const { createChdbConnection } = await import('chdb/connection');
  const connection = createChdbConnection({ path });
  const client = createClient({ connection, clickhouse_settings: PINNED_SETTINGS } as Parameters<typeof createClient>[0]);
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS {db:Identifier}', query_params: { db: database } });
  // A chDB session keeps its current database, so every later statement runs in it.
  await client.command({ query: `USE ${database}` });
  return new ClientWarehouse('chdb', database, client, connection);
}

async function openServer(config: Config['warehouse'], database: string): Promise<Warehouse> {
  const common = {
    url: config.url,
    username: config.user,
    password: config.password,
    request_timeout: config.requestTimeoutMs,
    clickhouse_settings: PINNED_SETTINGS,
  };
  const bootstrap = createClient(common);
  try {
    await bootstrap.command({ query: 'CREATE DATABASE IF NOT EXISTS {db:Identifier}', query_params: { db: database } });
  } finally {
    await bootstrap.close();
  }
  return new ClientWarehouse('server', database, createClient({ ...common, database }), undefined);
}

class ClientWarehouse implements Warehouse {
  constructor(
    readonly backend: 'chdb' | 'server',
    readonly database: string,
    private readonly client: ClickHouseClient,
    private readonly chdb: ChdbConnection | undefined,
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

  async command(sql: string, params: QueryParams = {}, settings?: ClickHouseSettings): Promise<void> {
    checkParams(sql, params);
    await this.client.command({ query: sql, query_params: params, ...(settings ? { clickhouse_settings: settings } : {}) });
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
    assertIdentifier(format);
    const statement = allowWrites ? sql : await readOnlyStatement({ query: this.query.bind(this), explainAst: this.explainAst.bind(this) }, sql, params);
    const result = await this.client.exec({
      query: statement,
      query_params: params,
      // Any ClickHouse output format, not only the ones the client can decode: we pass the text through.
      clickhouse_settings: {
        default_format: format as ClickHouseSettings['default_format'],
        // Pretty formats otherwise annotate a lone large number ("-- 1.25 million") inside the table.
        ...(format.startsWith('Pretty') ? { output_format_pretty_single_large_number_tip_threshold: '0' } : {}),
        ...(allowWrites ? {} : { readonly: '2' }),
      },
    });
    return result.stream;
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
      clickhouse_settings: { default_format: 'TabSeparatedRaw', readonly: '2' },
    });
    let text = '';
    for await (const chunk of result.stream) text += String(chunk);
    return text.split('\n').filter((line) => line.trim() !== '');
  }

  async insertObjects(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    await this.client.insert({ table: assertIdentifier(table), values: rows, format: 'JSONEachRow' });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
