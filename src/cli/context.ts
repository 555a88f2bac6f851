/**
 * What every command group gets: where to print, the global flags, the one
 * configuration, and the flag parsers. Loaded by every command, so it imports
 * nothing heavy (not even zod): the configuration module, which validates
 * everything else, is loaded when a command asks for it.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { Config, loadConfig } from '../config/config.js';
import type { JobDefinition } from '../scheduler/job.js';
import { parseInstant } from '../util/time.js';

/** Exit codes: 0 ok, 1 the work failed (e.g. nothing could be read), 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Environment the configuration is read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** The jobs the service runs (jobs/registry.ts), loaded by `run` and `jobs` only; the entry point passes them. */
  jobs?: () => Promise<readonly JobDefinition[]>;
}

interface GlobalOptions {
  dataDir?: string;
  database?: string;
  config?: string;
}

type ConfigOverrides = NonNullable<Parameters<typeof loadConfig>[0]>;

export interface CommandContext {
  io: CliIo;
  setExitCode: (code: number) => void;
  /** The configuration from file, environment and the global flags, plus a command's own flags. */
  config: (overrides?: ConfigOverrides) => Promise<Config>;
  /** The job registry, or a clear error when this entry point has none. */
  jobs: () => Promise<readonly JobDefinition[]>;
}

export function commandContext(program: Command, io: CliIo, setExitCode: (code: number) => void): CommandContext {
  return {
    io,
    setExitCode,
    config: async (overrides = {}) => {
      const { loadConfig } = await import('../config/config.js');
      const globals = program.opts<GlobalOptions>();
      return loadConfig({
        file: globals.config,
        ...(io.env ? { env: io.env } : {}),
        onWarning: (message) => { io.err(`inferledger: warning: ${message}`); },
        ...overrides,
        overrides: { ...overrides.overrides, warehouse: { ...overrides.overrides?.warehouse, dataDir: globals.dataDir, database: globals.database } },
      });
    },
    jobs: async () => {
      if (!io.jobs) throw new Error('this entry point has no job registry: run the `inferledger` command');
      return io.jobs();
    },
  };
}

/** Decimal digits only: no sign, exponent, hex or blanks slip through as a count. */
const DIGITS = /^\d{1,15}$/;

export const positiveInt = (name: string) => (value: string): number => {
  if (!DIGITS.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return Number(value);
};

export const nonNegativeInt = (name: string) => (value: string): number => {
  if (!DIGITS.test(value)) throw new InvalidArgumentError(`${name} must be an integer >= 0`);
  return Number(value);
};

/** An ISO-8601 date or date-time; a date-time must state its zone, as request timestamps must. */
export const isoInstant = (name: string) => (value: string): Date => {
  const ms = parseInstant(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`${name} must be an ISO-8601 date (2026-10-01) or date-time with a zone (2026-10-01T00:00:00Z)`);
  return new Date(ms);
};

/** `--param name=value`, repeatable; values are bound as ClickHouse query parameters, never spliced. */
export const paramPair = (value: string, previous: Record<string, string> = {}): Record<string, string> => {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  if (!m) throw new InvalidArgumentError('--param takes name=value, with a plain identifier as name');
  return { ...previous, [m[1] as string]: m[2] as string };
};

/**
 * `--set field=value`, repeatable: a top-level event field set before a
 * replayed event is judged again. The value is JSON when it parses as JSON
 * (`gpu_ms=12.5`, `team="42"`), else the text itself (`pool_id=llm-h100`).
 */
export const fieldSet = (value: string, previous: Record<string, unknown> = {}): Record<string, unknown> => {
  const m = /^([A-Za-z_][A-Za-z0-9_.-]{0,127})=(.*)$/s.exec(value);
  if (!m) throw new InvalidArgumentError('--set takes field=value, e.g. --set pool_id=llm-h100 or --set gpu_ms=12.5');
  const text = m[2] as string;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { ...previous, [m[1] as string]: parsed };
};

/** A file named twice is read once. */
export function unique(files: readonly string[]): string[] {
  return [...new Set(files)];
}

/** A usage error for a failure that is the caller's input (an unknown job name, say). */
export function asUsageError(err: unknown): never {
  throw new InvalidArgumentError((err as Error).message);
}
