/**
 * Bookkeeping shared by every file ingestion: the run id, the counts, and the
 * rejects, which go both to a `<input>.rejects.ndjson` file next to the input
 * and to the ingest_rejects table, so a refused line is never silently lost.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import type { Warehouse } from '../warehouse/warehouse.js';
import { formatDateTime64 } from '../events/request-event.js';

export type IngestKind = 'requests' | 'billing';

export interface Reject {
  source: string;
  line: number;
  field: string;
  reason: string;
  raw: string;
}

export interface FileSummary {
  file: string;
  accepted: number;
  rejected: number;
  duplicates: number;
  /** Set when the file could not be read to its end (missing, truncated, bad header). */
  error?: string;
  rejectsFile?: string;
}

export interface RunSummary {
  runId: string;
  kind: IngestKind;
  files: FileSummary[];
  accepted: number;
  rejected: number;
  duplicates: number;
}

const REJECT_COLUMNS = ['rejected_at', 'run_id', 'kind', 'source', 'line', 'field', 'reason', 'raw'] as const;
/** A reject keeps at most this much of its line, in the rejects file and table. */
export const REJECT_RAW_CHARS = 4096;
const REJECT_FLUSH_ROWS = 1000;

export class IngestRun {
  readonly runId = randomUUID();
  readonly startedAt = new Date();
  readonly files: FileSummary[] = [];
  private rejectRows: string[] = [];
  private rejectFile: { path: string; stream: WriteStream } | undefined;

  constructor(
    private readonly warehouse: Warehouse,
    readonly kind: IngestKind,
    readonly format: string,
  ) {}

  /** Begin a file: forget rejects a previous run left beside it. */
  startFile(file: string): FileSummary {
    const summary: FileSummary = { file, accepted: 0, rejected: 0, duplicates: 0 };
    this.files.push(summary);
    rmSync(rejectsPathFor(file), { force: true });
    return summary;
  }

  async reject(summary: FileSummary, r: Reject): Promise<void> {
    summary.rejected++;
    const raw = r.raw.length > REJECT_RAW_CHARS ? r.raw.slice(0, REJECT_RAW_CHARS) : r.raw;
    if (this.rejectFile?.path !== rejectsPathFor(summary.file)) {
      await this.closeRejectFile();
      const path = rejectsPathFor(summary.file);
      this.rejectFile = { path, stream: createWriteStream(path, { flags: 'w' }) };
      summary.rejectsFile = path;
    }
    this.rejectFile.stream.write(`${JSON.stringify({ line: r.line, field: r.field, reason: r.reason, raw })}\n`);
    this.rejectRows.push(
      JSON.stringify([formatDateTime64(Date.now()), this.runId, this.kind, r.source, r.line, r.field, r.reason, raw]),
    );
    if (this.rejectRows.length >= REJECT_FLUSH_ROWS) await this.flushRejects();
  }

  async flushRejects(): Promise<void> {
    if (this.rejectRows.length === 0) return;
    const body = `${this.rejectRows.join('\n')}\n`;
    this.rejectRows = [];
    await this.warehouse.insertCompact('ingest_rejects', REJECT_COLUMNS, body);
  }

  /** Flush rejects, close the rejects file and record the run in ingest_runs. */
  async finish(): Promise<RunSummary> {
    await this.flushRejects();
    await this.closeRejectFile();
    const summary: RunSummary = {
      runId: this.runId,
      kind: this.kind,
      files: this.files,
      accepted: sum(this.files, 'accepted'),
      rejected: sum(this.files, 'rejected'),
      duplicates: sum(this.files, 'duplicates'),
    };
    await this.warehouse.insertObjects('ingest_runs', [
      {
        run_id: this.runId,
        kind: this.kind,
        format: this.format,
        sources: this.files.map((f) => f.file),
        started_at: this.startedAt.toISOString(),
        finished_at: new Date().toISOString(),
        accepted: summary.accepted,
        rejected: summary.rejected,
        duplicates: summary.duplicates,
      },
    ]);
    return summary;
  }

  private async closeRejectFile(): Promise<void> {
    const current = this.rejectFile;
    this.rejectFile = undefined;
    if (!current) return;
    await new Promise<void>((ok, fail) => {
      current.stream.end((err?: Error | null) => {
        if (err) fail(err);
        else ok();
      });
    });
  }
}

export function rejectsPathFor(file: string): string {
  return `${file}.rejects.ndjson`;
}

function sum(files: FileSummary[], key: 'accepted' | 'rejected' | 'duplicates'): number {
  return files.reduce((acc, f) => acc + f[key], 0);
}

/** Exit status of an ingestion: failure only when no line of any file could be read. */
export function nothingRead(summary: RunSummary): boolean {
  return summary.files.every((f) => f.accepted + f.rejected + f.duplicates === 0);
}

/** A warehouse failure: unlike a bad line, it stops the run. */
export class WarehouseWriteError extends Error {
  constructor(cause: unknown) {
    super(`writing to the warehouse failed: ${(cause as Error).message}`, { cause });
    this.name = 'WarehouseWriteError';
  }
}

/** A reader's failure, said for a person. */
export function readErrorMessage(err: unknown, file: string): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return `cannot read ${file}: no such file`;
  if (e.code === 'EISDIR') return `cannot read ${file}: is a directory`;
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message)) return 'gzip data is truncated: the file ends early';
  if (e.code?.startsWith('Z_')) return `gzip data is damaged: ${e.message}`;
  return `cannot read ${file}: ${e.message}`;
}
