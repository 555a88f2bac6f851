/**
 * `inferledger ingest requests --from-rejects FILE`: the lines of a rejects
 * file (`<input>.rejects.<run>.ndjson`, written by ingest-run.ts) judged
 * again with today's rules (optionally with fields set by the operator), the
 * ones now valid stored once through the request writer, the rest reported
 * by reason. The rejects file is only read: a line still refused stays in it
 * (and in ingest_rejects) as it was; a second replay finds the stored ones
 * and stores nothing twice.
 */
import { basename } from 'node:path';
import { z } from 'zod';
import { REJECT_RAW_CHARS } from '../files/ingest-run.js';
import { openText, readLines } from '../files/line-reader.js';
import { formatDateTime64 } from '../events/request-event.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { ReplayTally, type ReplayReport } from './replay-report.js';
import { ReplayStore } from './replay-store.js';
import { eventOfRefusedRow, judgeValues, withFieldSets, type FieldSets } from './replay-values.js';

export interface RejectsReplayOptions {
  sets: FieldSets;
  dryRun: boolean;
  /** Rows per insert. */
  batchRows: number;
  /** Longer events are refused, as when the input was read. */
  maxLineBytes: number;
  duplicateHorizonHours?: number | undefined;
}

export interface RejectsReplayReport extends ReplayReport {
  rejectsFile: string;
}

/** One line of a rejects file. */
const rejectLine = z.object({
  line: z.number().int().min(0),
  field: z.string(),
  reason: z.string(),
  raw: z.string(),
});
type RejectLine = z.infer<typeof rejectLine>;

/** A rejects line: the raw line at most 4096 characters, its reason and field escaped; 1 MiB is room to spare. */
const REJECTS_LINE_BYTES = 1024 * 1024;

/**
 * Reasons the reader gave (line-reader.ts) for lines it could not read as
 * text: the rejects file holds only their start, or a lossy copy.
 */
const UNREADABLE = /^line (longer than \d+ bytes|is not valid UTF-8|cut off: )/;

/** The input a rejects file was written for: `<input>.rejects.<run id>.ndjson`. */
export function inputOfRejectsFile(path: string): string | undefined {
  return /^(.+)\.rejects\.[0-9a-f-]{36}\.ndjson$/i.exec(path)?.[1];
}

export async function replayRejects(warehouse: Warehouse, rejectsFile: string, options: RejectsReplayOptions): Promise<RejectsReplayReport> {
  const tally = new ReplayTally();
  const store = new ReplayStore(warehouse, options.dryRun, options.duplicateHorizonHours);
  const source = `file:${basename(inputOfRejectsFile(rejectsFile) ?? rejectsFile)}`;
  let pending: { at: string; was: string; value: Buffer }[] = [];

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const records = pending;
    pending = [];
    const values = records.map((r) => r.value);
    const parsed = judgeValues(values, { maxBytes: options.maxLineBytes, source, ingestedAt: formatDateTime64(Date.now()) });
    for (const bad of parsed.rejects) tally.refused(bad.reason, records[bad.record] as (typeof records)[number]);
    const batch = store.newBatch(parsed.ids.length);
    batch.addRows(parsed);
    const outcome = await store.store(batch);
    tally.stored += outcome.stored;
    tally.duplicates += outcome.duplicates;
    for (const r of outcome.refused) tally.refused(r.reason, records[r.origin] as (typeof records)[number]);
  };

  for await (const lines of readLines(await openText(rejectsFile), REJECTS_LINE_BYTES)) {
    for (const line of lines) {
      tally.read++;
      const at = `${rejectsFile}:${line.lineNo}`;
      const reject = line.text === undefined ? undefined : parseRejectLine(line.text);
      if (!reject) {
        tally.refused('not a line of a rejects file (an object with line, field, reason and raw)', { at, was: '', value: line.text ?? line.head });
        continue;
      }
      const origin = { at: `${rejectsFile}:${line.lineNo} (line ${reject.line} of the input)`, was: reject.reason };
      const value = eventValue(reject);
      if (typeof value === 'string') {
        tally.refused(value, { ...origin, value: reject.raw });
        continue;
      }
      pending.push({ ...origin, value: withFieldSets(value, options.sets, options.maxLineBytes) ?? value });
      if (pending.length >= options.batchRows) await flush();
    }
  }
  await flush();
  return { ...tally.report(`rejects of ${rejectsFile}`, options.dryRun), rejectsFile };
}

function parseRejectLine(text: string): RejectLine | undefined {
  try {
    const parsed = rejectLine.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The event to judge again, or why the rejects file cannot give it back. */
function eventValue(reject: RejectLine): Buffer | string {
  if (UNREADABLE.test(reject.reason)) return `the rejects file holds only the start of this line (${reject.reason}): replay it from the input file`;
  // Conflicting duplicates and rows the warehouse refused were recorded as the row they became.
  const row = reject.raw.startsWith('[') ? eventOfRefusedRow(reject.raw) : undefined;
  if (row) return row;
  if (reject.raw.length >= REJECT_RAW_CHARS && !parses(reject.raw)) {
    return `the rejects file holds only the first ${REJECT_RAW_CHARS} characters of this line: replay it from the input file`;
  }
  return Buffer.from(reject.raw);
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
