/**
 * What a doctor check is: a name, the group `--skip` knows it by, a time
 * limit, and a function that looks at one thing and says OK, WARN or FAIL,
 * with a short detail and the command (or configuration key) that fixes it.
 * Checks share what they open (the warehouse, Redis, the job runtime) through
 * the DoctorContext, which opens each once, when first asked, and says so
 * when it could not.
 */
import type { Config } from '../config/config.js';
import type { JobRuntime, JobStatus } from '../scheduler/runtime.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, HOUR_MS } from '../util/time.js';

export const STATUSES = ['OK', 'WARN', 'FAIL'] as const;
/** OK: nothing to do. WARN: worth a look, nothing is broken yet. FAIL: something needs a person now. */
export type Status = (typeof STATUSES)[number];

export interface CheckOutcome {
  status: Status;
  /** One short line: what was seen. */
  detail: string;
  /** The command or configuration key that fixes it; empty when OK. */
  fix?: string;
  /** What was measured, for `--json`. */
  data?: Record<string, unknown>;
}

export interface CheckResult {
  name: string;
  group: string;
  status: Status;
  detail: string;
  fix: string;
  /** How long the check took (ms). */
  ms: number;
  data: Record<string, unknown>;
}

/** The warehouse as the doctor reads it, and how it got there. */
export interface WarehouseAccess {
  warehouse: Warehouse;
  /** E.g. `embedded chDB at /srv/.inferledger, database inferledger`. */
  via: string;
  /** Reading through the query endpoint of a running `inferledger run`. */
  throughService: boolean;
}

export interface DoctorContext {
  config: Config;
  /** The instant every check judges by (epoch ms). */
  now: number;
  /** Opened once, for every check; rejects with a Finding when it cannot be reached. */
  warehouse(): Promise<WarehouseAccess>;
  /** The job runtime over Redis (only its reads are used); rejects when Redis does not answer or there is no job registry. */
  runtime(): Promise<JobRuntime>;
  /** `runtime().list()`, asked once for every check. */
  jobStatuses(): Promise<JobStatus[]>;
}

export interface Check {
  name: string;
  /** What `--skip` also accepts, e.g. `coverage` for its four lines. */
  group: string;
  /** Longest the check may take; a check still running then is a FAIL. */
  timeoutMs: number;
  /** Said as the fix when the check cannot run at all (an error, a timeout). */
  errorFix: string;
  run(ctx: DoctorContext): Promise<CheckOutcome>;
}

/**
 * A problem found on the way, with its fix: thrown by a check or by opening
 * what checks share, it becomes the check's FAIL (or WARN) line as it is.
 */
export class Finding extends Error {
  override name = 'Finding';
  constructor(readonly detail: string, readonly fix: string, readonly status: Status = 'FAIL', readonly data: Record<string, unknown> = {}) {
    super(detail);
  }
}

/** What a check depends on was not reached: the check says so, pointing at the line that says why and what fixes it. */
export class Unavailable extends Error {
  override name = 'Unavailable';
  constructor(readonly what: string, readonly line: string, readonly found: unknown) {
    super(`${what} is not reachable`);
  }

  get fix(): string {
    return `see the ${this.line} line`;
  }
}

export const ok = (detail: string, data: Record<string, unknown> = {}): CheckOutcome => ({ status: 'OK', detail, data });
export const warn = (detail: string, fix: string, data: Record<string, unknown> = {}): CheckOutcome => ({ status: 'WARN', detail, fix, data });
export const fail = (detail: string, fix: string, data: Record<string, unknown> = {}): CheckOutcome => ({ status: 'FAIL', detail, fix, data });

/** The worst of some statuses (OK when none). */
export function worst(statuses: readonly Status[]): Status {
  return statuses.includes('FAIL') ? 'FAIL' : statuses.includes('WARN') ? 'WARN' : 'OK';
}

/** An age as `42s`, `4m12s`, `3h05m` or `2d07h`. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < HOUR_MS / 1000) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < DAY_MS / 1000) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / (DAY_MS / 1000))}d${two(Math.floor((s % (DAY_MS / 1000)) / 3600))}h`;
}

/** Bytes as `812 B`, `3.4 KiB`, `1.2 GiB`. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit] ?? ''}`;
}

/** A count with thousands separators. */
export const count = (n: number | bigint): string => n.toLocaleString('en-US');

/** The first line of an error's message, without a stack. */
export function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? '').trim() || (err instanceof Error ? err.name : 'error');
}

/** A list of names, the first few of them and how many more. */
export function some(items: readonly string[], shown = 3): string {
  return items.length <= shown ? items.join(', ') : `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}
