/**
 * Bookkeeping shared by every file ingestion: the run id, the counts, and the
 * rejects, which go both to a `<input>.rejects.<run>.ndjson` file next to the
 * input and to the ingest_rejects table, so a refused line is never silently
 * lost. Each run writes its own rejects file and never deletes or overwrites
 * one: an earlier run's rejects stay where they were reported.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
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

  /** Begin a file. Its rejects file is created on its first reject, under this run's name. */
  startFile(file: string): FileSummary {
    const summary: FileSummary = { file, accepted: 0, rejected: 0, duplicates: 0 };
    this.files.push(summary);
    return summary;
  }

  async reject(summary: FileSummary, r: Reject): Promise<void> {
    summary.rejected++;
    // Well-formed text only: a lone surrogate (from a `\\ud800` escape, or a pair cut in half) would make the engine refuse the whole insert of rejects.
    const raw = cutText(r.raw, REJECT_RAW_CHARS);
    const field = r.field.toWellFormed();
    const reason = r.reason.toWellFormed();
    const path = rejectsPathFor(summary.file, this.runId);
    if (this.rejectFile?.path !== path) {
      await this.closeRejectFile();
      this.rejectFile = { path, stream: openExclusive(path) };
      summary.rejectsFile = path;
    }
    this.rejectFile.stream.write(`${JSON.stringify({ line: r.line, field, reason, raw })}\n`);
    this.rejectRows.push(
      JSON.stringify([formatDateTime64(Date.now()), this.runId, this.kind, r.source, r.line, field, reason, raw]),
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

/** The rejects file of one run for one input: named by the run, so runs never overwrite each other's. */
export function rejectsPathFor(file: string, runId: string): string {
  return `${file}.rejects.${runId}.ndjson`;
}

/**
 * Create a file that must not exist yet ('wx'): the tool never writes over a
 * file it did not create in this run. Opened synchronously so a failure is
 * thrown here, naming the file.
 */
function openExclusive(path: string): WriteStream {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    throw new Error(`cannot create the rejects file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return createWriteStream(path, { fd });
}

/**
 * At most `max` UTF-16 units of `text`, well-formed: the cut never splits a
 * surrogate pair, and any lone surrogate becomes U+FFFD (the engine refuses
 * a JSON string holding one).
 */
export function cutText(text: string, max: number): string {
  let cut = text.length > max ? text.slice(0, max) : text;
  const last = cut.charCodeAt(cut.length - 1);
  if (cut.length < text.length && last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut.isWellFormed() ? cut : cut.toWellFormed();
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
