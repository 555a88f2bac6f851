/**
 * The CLI's side of a running service's query endpoint: one query over the
 * ClickHouse HTTP interface, its output text back, or the engine's error as
 * an Error with the message the CLI would have printed running it itself.
 */
import { ADMIN_TOKEN_HEADER } from './admin-route.js';
import type { ServiceInfo } from './service-discovery.js';

export interface ServiceQuery {
  sql: string;
  params: Readonly<Record<string, string>>;
  format: string;
  /** The database the caller means; the service answers only in its own and says so otherwise. */
  database: string;
  password?: string | undefined;
  /** The service's own token (admin-route.ts), sent instead of a password: every row, audited as user (local). */
  token?: string | undefined;
  timeoutMs: number;
}

export class ServiceQueryError extends Error {
  override name = 'ServiceQueryError';
  constructor(message: string, readonly code: number | undefined) {
    super(message);
  }
}

/** Escaped as the HTTP interface reads `param_` values (as in TabSeparated). */
function escapeParam(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

export function serviceUrl(info: ServiceInfo): string | undefined {
  if (info.host === null || info.port === null) return undefined;
  const host = info.host.includes(':') ? `[${info.host}]` : info.host;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${info.port}`;
}

export async function pingService(info: ServiceInfo, timeoutMs = 2_000): Promise<boolean> {
  const base = serviceUrl(info);
  if (!base) return false;
  try {
    const res = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok && (await res.text()) === 'Ok.\n';
  } catch {
    return false;
  }
}

export async function queryService(info: ServiceInfo, query: ServiceQuery): Promise<string> {
  const base = serviceUrl(info);
  if (!base) throw new ServiceQueryError(`the service (pid ${info.pid}) does not answer queries: its query endpoint is off (service.queryPort)`, undefined);
  const url = new URL(`${base}/`);
  url.searchParams.set('default_format', query.format);
  url.searchParams.set('database', query.database);
  for (const [name, value] of Object.entries(query.params)) url.searchParams.set(`param_${name}`, escapeParam(value));
  const res = await fetch(url, {
    method: 'POST',
    body: query.sql,
    headers: query.token !== undefined ? { [ADMIN_TOKEN_HEADER]: query.token } : query.password === undefined ? {} : { 'X-ClickHouse-Key': query.password },
    signal: AbortSignal.timeout(query.timeoutMs),
  });
  const text = await res.text();
  if (res.ok) return text;
  const m = /^Code: (\d+)\. DB::Exception: ([\s\S]*?)(?:\. \([A-Z0-9_]+\))? \(version [^)]*\)\s*$/.exec(text);
  throw new ServiceQueryError(m ? (m[2] as string) : text.trim() || `HTTP ${res.status}`, m ? Number(m[1]) : undefined);
}
