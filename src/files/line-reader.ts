/**
 * Streams a text file (plain or gzip, detected by its magic bytes) as numbered
 * lines, in batches, with bounded memory: a line longer than `maxLineBytes` is
 * skipped unread and reported instead of being held whole. Node's readline has
 * no such bound, which is why this small reader exists.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type Line =
  | { lineNo: number; text: string }
  /** The line could not be read as text: too long, not UTF-8, or cut off by a damaged file. */
  | { lineNo: number; text?: undefined; problem: string; head: string };

const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** A line that cannot be read is reported with at most this much of its start. */
const HEAD_BYTES = 256;

export async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** The file's bytes, decompressed when it is gzip. */
export async function openText(path: string): Promise<Readable> {
  // Probing first also surfaces a missing file as a rejected promise, not a stream error event.
  const gzip = await isGzip(path);
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (!gzip) return raw;
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  raw.on('error', (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

/** A piece of the input: whole lines, or one line that could not be read (it counts as one line). */
export type Segment = { lines: Buffer; problem?: undefined } | { lines?: undefined; problem: string; head: string };

/**
 * Yield `input` as segments of whole lines (about one read chunk each), for
 * a caller that splits them itself, possibly in another thread. A line that
 * grows past `maxLineBytes` across chunks is dropped as it streams by and
 * yielded as a problem; a BOM at the start is dropped. A read error (e.g.
 * truncated gzip) yields the partial last line as a problem and is rethrown.
 */
export async function* readSegments(input: Readable, maxLineBytes: number): AsyncGenerator<Segment> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  /** Head of a carried line that grew too long; the rest of it is being skipped. */
  let overlongHead: Buffer | undefined;
  let first = true;

  const carried = (): Buffer => (carry.length === 1 ? (carry[0] as Buffer) : Buffer.concat(carry));
  const tooLong = (head: Buffer): Segment => ({ problem: `line longer than ${maxLineBytes} bytes`, head: head.toString('utf8') });

  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let body = chunk;
      if (first) {
        first = false;
        if (body.subarray(0, 3).equals(BOM)) body = body.subarray(3);
      }
      let lastNewline = body.lastIndexOf(NEWLINE);
      if (overlongHead !== undefined) {
        if (lastNewline === -1) continue;
        // The skipped line ends at this chunk's first newline.
        const end = body.indexOf(NEWLINE);
        yield tooLong(overlongHead);
        overlongHead = undefined;
        body = body.subarray(end + 1);
        lastNewline -= end + 1;
      }
      if (lastNewline === -1) {
        carry.push(body);
        carryBytes += body.length;
        if (carryBytes > maxLineBytes) {
          overlongHead = Buffer.from(carried().subarray(0, HEAD_BYTES));
          carry = [];
          carryBytes = 0;
        }
        continue;
      }
      const whole = body.subarray(0, lastNewline + 1);
      const segment = carryBytes > 0 ? Buffer.concat([...carry, whole]) : whole;
      // Copy the partial last line so the big chunk it points into can be freed.
      const rest = body.subarray(lastNewline + 1);
      carry = rest.length > 0 ? [Buffer.from(rest)] : [];
      carryBytes = rest.length;
      yield { lines: segment };
    }
  } catch (err) {
    if (overlongHead !== undefined || carryBytes > 0) {
      yield { problem: `line cut off: ${(err as Error).message}`, head: (overlongHead ?? carried().subarray(0, HEAD_BYTES)).toString('utf8') };
    }
    throw err;
  }
  if (overlongHead !== undefined) yield tooLong(overlongHead);
  else if (carryBytes > 0) yield { lines: carried() };
}

/** What a line needs before it is parsed: its text, nothing (blank), or why it cannot be read. */
export type LineText = { text: string } | { blank: true } | { problem: string; head: string };

/**
 * Call `visit` for every line of `segment` (whole lines; the last may lack its
 * newline), in order, with a trailing CR dropped. Returns the number of lines.
 */
export function forEachLine(segment: Buffer, visit: (line: Buffer, index: number) => void): number {
  let count = 0;
  let start = 0;
  while (start < segment.length) {
    const newline = segment.indexOf(NEWLINE, start);
    let end = newline === -1 ? segment.length : newline;
    if (end > start && segment[end - 1] === CR) end--;
    visit(segment.subarray(start, end), count++);
    start = newline === -1 ? segment.length : newline + 1;
  }
  return count;
}

/** A line's text, unless it is blank, longer than `maxLineBytes` or not UTF-8. */
export function lineText(line: Buffer, maxLineBytes: number): LineText {
  if (line.length > maxLineBytes) return { problem: `line longer than ${maxLineBytes} bytes`, head: line.subarray(0, HEAD_BYTES).toString('utf8') };
  if (isBlank(line)) return { blank: true };
  if (!isUtf8(line)) return { problem: 'line is not valid UTF-8', head: line.subarray(0, HEAD_BYTES).toString('utf8') };
  return { text: line.toString('utf8') };
}

/**
 * Yield the lines of `input` in batches (one per segment), numbered from 1.
 * Empty lines are skipped; a BOM on the first line and CR before LF are dropped.
 * A read error (e.g. truncated gzip) ends the stream with a final problem line
 * and is then rethrown so the caller can report it.
 */
export async function* readLines(input: Readable, maxLineBytes: number): AsyncGenerator<Line[]> {
  let lineNo = 0;
  for await (const segment of readSegments(input, maxLineBytes)) {
    const out: Line[] = [];
    if (segment.lines === undefined) {
      out.push({ lineNo: ++lineNo, problem: segment.problem, head: segment.head });
    } else {
      const base = lineNo;
      lineNo += forEachLine(segment.lines, (line, i) => {
        const read = lineText(line, maxLineBytes);
        if ('text' in read) out.push({ lineNo: base + i + 1, text: read.text });
        else if ('problem' in read) out.push({ lineNo: base + i + 1, problem: read.problem, head: read.head });
      });
    }
    if (out.length > 0) yield out;
  }
}

function isBlank(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const byte = buf[i];
    if (byte !== 0x20 && byte !== 0x09 && byte !== CR) return false;
  }
  return true;
}
