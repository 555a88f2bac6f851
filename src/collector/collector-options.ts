/**
 * The request collector's settings and run counts: the types every part of
 * the collector reads, in a module of their own so the parts depend on it
 * rather than on the coordinator (request-collector.ts) that wires them.
 */

export interface CollectorOptions {
  topic: string;
  /** Dead-letter topic; `<topic>.dlq` when empty. */
  dlqTopic: string;
  groupId: string;
  batchRows: number;
  batchBytes: number;
  batchAgeMs: number;
  maxMessageBytes: number;
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
  stuckAfterMs: number;
  shutdownTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** Parser threads; one less than the cores when unset. */
  parserThreads?: number | undefined;
  /** Hours around an event within which a second copy of its id is a duplicate or a conflict; default 48. */
  duplicateHorizonHours?: number | undefined;
  /** Embedded warehouse: let the engine parse and check each sealed unit of valid events itself (unit-rows.ts); default on. */
  engineUnits?: boolean | undefined;
}

/** What a run did, printed by the CLI and read by tests. */
export interface CollectorStats {
  messages: number;
  written: number;
  duplicates: number;
  deadLettered: number;
  commits: number;
  writeFailures: number;
}

export function emptyStats(): CollectorStats {
  return { messages: 0, written: 0, duplicates: 0, deadLettered: 0, commits: 0, writeFailures: 0 };
}
