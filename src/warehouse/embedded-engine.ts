/**
 * Loads the embedded engine (chDB), and only when a command opens the
 * embedded warehouse: the native engine is large, a server warehouse needs
 * none of it, and it does not exist everywhere. chDB ships native builds for
 * some platforms only (at this version, Linux x64 with glibc); elsewhere
 * importing it fails, and a command that needs it stops with one line that
 * says so and what works instead: a ClickHouse server (CLICKHOUSE_URL).
 * Nothing imports chDB at module level, so commands that need no warehouse
 * (--help, config check, jobs ...) run on any machine.
 */
import type * as Chdb from 'chdb';
import type * as ChdbConnection from 'chdb/connection';

/** Where the way out is written up, step by step. */
export const LOCAL_CLICKHOUSE_GUIDE = 'docs/local-clickhouse.md';
/** The oldest ClickHouse server the warehouse supports. */
export const MIN_SERVER_VERSION = '24.8';

/** The embedded engine cannot run on this machine: a plain message, no stack (the CLI prints it as one line). */
export class EmbeddedEngineUnavailableError extends Error {
  override name = 'EmbeddedEngineUnavailableError';
  constructor(
    /** `<platform>-<arch>`, e.g. darwin-arm64. */
    readonly platform: string,
    /** Why loading failed, when the engine exists for this platform but would not load; undefined when there is none. */
    readonly reason: string | undefined,
    options?: ErrorOptions,
  ) {
    const what = reason === undefined ? `is not available on ${platform}` : `could not be loaded on ${platform} (${reason})`;
    super(
      `the embedded ClickHouse engine (chDB) ${what}; run a ClickHouse server (${MIN_SERVER_VERSION} or newer) ` +
        `and set CLICKHOUSE_URL=http://localhost:8123 — see ${LOCAL_CLICKHOUSE_GUIDE}`,
      options,
    );
  }
}

const REASON_CHARS = 300;

/** Errors that mean chDB has no build here (or is not installed), as opposed to a build that failed to load. */
function missing(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return err.name === 'ChdbPlatformUnsupportedError' || code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/** An import of chDB that failed, as the error a command stops with. */
export function engineUnavailable(err: unknown, platform = `${process.platform}-${process.arch}`): EmbeddedEngineUnavailableError {
  if (err instanceof EmbeddedEngineUnavailableError) return err;
  if (missing(err)) return new EmbeddedEngineUnavailableError(platform, undefined, { cause: err });
  // One line, however the loader worded it (a dlopen error, a version mismatch ...).
  const text = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'unknown error';
  const reason = text.length > REASON_CHARS ? `${text.slice(0, REASON_CHARS - 3)}...` : text;
  return new EmbeddedEngineUnavailableError(platform, reason, { cause: err });
}

let engine: Promise<typeof Chdb> | undefined;
let connection: Promise<typeof ChdbConnection> | undefined;

/** The `chdb` module (Session, ...), or EmbeddedEngineUnavailableError. */
export function loadChdb(): Promise<typeof Chdb> {
  engine ??= import('chdb').catch((err: unknown) => {
    engine = undefined;
    throw engineUnavailable(err);
  });
  return engine;
}

/** The `chdb/connection` module (the @clickhouse/client connection over chDB), or EmbeddedEngineUnavailableError. */
export function loadChdbConnection(): Promise<typeof ChdbConnection> {
  connection ??= import('chdb/connection').catch((err: unknown) => {
    connection = undefined;
    throw engineUnavailable(err);
  });
  return connection;
}
