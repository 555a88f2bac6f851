/**
 * What a ClickHouse HTTP client asks of the wire beside its query, read as
 * the server reads it, and the answer's encoding: the format and database
 * headers (`X-ClickHouse-Format`, `X-ClickHouse-Database`, which win over
 * their URL parameters, as on the server), `X-ClickHouse-Query-Id`,
 * ClickHouse's compressed blocks both ways (`compress=1`, `decompress=1`,
 * clickhouse-compression.ts) and `wait_end_of_query`. The JDBC driver
 * (com.clickhouse:jdbc-v2) asks for all of them on every query.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { compressStream } from './clickhouse-compression.js';

export interface QueryWire {
  /** `compress=1`: the answer (and an error's text) in ClickHouse's compressed blocks. */
  compress: boolean;
  /** `decompress=1`: the request body arrives in compressed blocks. */
  decompress: boolean;
  /** `wait_end_of_query=1`: the answer is held until the query has ended (up to a bound), so a late error still gets its HTTP status. */
  waitEndOfQuery: boolean;
  /** `X-ClickHouse-Format`, else `default_format`. */
  format: string | undefined;
  /** `X-ClickHouse-Database`, else `database`. */
  database: string | undefined;
  /** `query_id`, else `X-ClickHouse-Query-Id`. */
  queryId: string | undefined;
}

/** A header's value, or undefined when absent or empty (the server ignores an empty one). */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? undefined : text;
}

function param(url: URL, name: string): string | undefined {
  const value = url.searchParams.get(name);
  return value === null || value === '' ? undefined : value;
}

/** A boolean parameter as the server parses it: `1` or `true` turn it on. */
function flag(url: URL, name: string): boolean {
  const value = url.searchParams.get(name)?.toLowerCase();
  return value === '1' || value === 'true';
}

export function queryWire(req: IncomingMessage, url: URL): QueryWire {
  return {
    compress: flag(url, 'compress'),
    decompress: flag(url, 'decompress'),
    waitEndOfQuery: flag(url, 'wait_end_of_query') || flag(url, 'http_wait_end_of_query'),
    format: header(req, 'x-clickhouse-format') ?? param(url, 'default_format'),
    database: header(req, 'x-clickhouse-database') ?? param(url, 'database'),
    queryId: param(url, 'query_id') ?? header(req, 'x-clickhouse-query-id'),
  };
}

/** Whether an error's text goes in compressed blocks: with `compress=1`, except refused credentials, which clients read as plain text. */
export function compressesError(req: IncomingMessage, status: number): boolean {
  if (status === 401 || status === 403) return false;
  try {
    return flag(new URL(`http://localhost${(req.url ?? '/').startsWith('/') ? req.url ?? '/' : '/'}`), 'compress');
  } catch {
    return false;
  }
}

/**
 * The answer as it goes on the wire: in compressed blocks (`compress=1`),
 * each chunk as the engine makes it, then gzip (`enable_http_compression=1`)
 * over that, as the server layers them. An error of the source fails the
 * result; destroying the result destroys the source.
 */
export function encodeAnswer(source: Readable, options: { compress: boolean; gzip: boolean }): Readable {
  let out = options.compress ? Readable.from(compressStream(source), { objectMode: false }) : source;
  if (options.gzip) {
    const gzip = createGzip();
    pipeline(out, gzip, () => undefined);
    out = gzip;
  }
  return out;
}

/**
 * `wait_end_of_query`: read the answer to its end before anything is sent,
 * so an error anywhere in it is answered with its status. At most `maxBytes`
 * are held (queries.maxBufferedResultBytes); a larger answer is sent as it
 * comes from there on, held part first, as with no waiting at all.
 */
export async function holdUntilEnd(source: Readable, maxBytes: number): Promise<Readable> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const held: Buffer[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const step = await chunks.next();
      if (step.done === true) return Readable.from(held, { objectMode: false });
      held.push(step.value);
      bytes += step.value.length;
      if (bytes > maxBytes) break;
    }
  } catch (err) {
    source.destroy();
    throw err;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* held.splice(0);
      for (;;) {
        const step = await chunks.next();
        if (step.done === true) return;
        yield step.value;
      }
    } finally {
      // A reader that stops early stops the query too.
      source.destroy();
    }
  }
  return Readable.from(rest(), { objectMode: false });
}
