/**
 * What @clickhouse/client logs, as inferledger prints everything: one line
 * each on stderr, never an object dump or a stack. A request that failed is
 * not logged at all: its error reaches the caller, which says it once (the
 * CLI as `inferledger: <message>`). Warnings and the client's own errors
 * (idle socket housekeeping, decompression) keep a line each.
 */
import type { ErrorLogParams, Logger, WarnLogParams } from '@clickhouse/client';

/** The client's message for a request that failed (the error is thrown to the caller too): "<Operation>: HTTP request error." */
const REQUEST_ERROR = /: HTTP request error\.$/;

function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
}

export class OneLineClientLogger implements Logger {
  trace(): void { /* not logged */ }
  debug(): void { /* not logged */ }
  info(): void { /* not logged */ }

  warn({ module, message, err }: WarnLogParams): void {
    write('warning', module, message, err);
  }

  error({ module, message, err }: ErrorLogParams): void {
    if (REQUEST_ERROR.test(message)) return;
    write('error', module, message, err);
  }
}

function write(level: string, module: string, message: string, err: Error | undefined): void {
  process.stderr.write(`inferledger: ClickHouse client ${level} (${module}): ${oneLine(message)}${err ? ` ${oneLine(err.message)}` : ''}\n`);
}
