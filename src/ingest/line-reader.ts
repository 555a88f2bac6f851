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

/**
 * Yield the lines of `input` in batches (one per chunk read), numbered from 1.
 * Empty lines are skipped; a BOM on the first line and CR before LF are dropped.
 * A read error (e.g. truncated gzip) ends the stream with a final problem line
 * and is then rethrown so the caller can report it.
 */
export async function* readLines(input: Readable, maxLineBytes: number): AsyncGenerator<Line[]> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overlong = false;
  let lineNo = 0;
  let first = true;

  const finish = (parts: Buffer[], out: Line[]): void => {
    lineNo++;
    let buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (first) {
      first = false;
      if (buf.subarray(0, 3).equals(BOM)) buf = buf.subarray(3);
    }
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    if (overlong) {
      out.push({ lineNo, problem: `line longer than ${maxLineBytes} bytes`, head: buf.subarray(0, 256).toString('utf8') });
    } else if (!isUtf8(buf)) {
      out.push({ lineNo, problem: 'line is not valid UTF-8', head: buf.subarray(0, 256).toString('utf8') });
    } else if (buf.length > 0 && !isBlank(buf)) {
      out.push({ lineNo, text: buf.toString('utf8') });
    }
    overlong = false;
  };

  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      const out: Line[] = [];
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, start);
        const end = nl === -1 ? chunk.length : nl;
        const piece = chunk.subarray(start, end);
        if (!overlong) {
          if (pendingBytes + piece.length > maxLineBytes) {
            // Keep only a head for the report; drop the rest of the line as it streams by.
            overlong = true;
            pending.push(piece.subarray(0, Math.max(0, 256 - pendingBytes)));
          } else {
            pending.push(piece);
          }
          pendingBytes += piece.length;
        }
        if (nl === -1) break;
        finish(pending, out);
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
      }
      // Copy a carried-over partial line so the big chunk it points into can be freed.
      pending = pending.map((b) => Buffer.from(b));
      if (out.length > 0) yield out;
    }
  } catch (err) {
    const out: Line[] = [];
    if (pendingBytes > 0) {
      lineNo++;
      out.push({ lineNo, problem: `line cut off: ${(err as Error).message}`, head: Buffer.concat(pending).subarray(0, 256).toString('utf8') });
    }
    if (out.length > 0) yield out;
    throw err;
  }
  if (pendingBytes > 0 || overlong) {
    const out: Line[] = [];
    finish(pending, out);
    if (out.length > 0) yield out;
  }
}

function isBlank(buf: Buffer): boolean {
  for (const byte of buf) if (byte !== 0x20 && byte !== 0x09 && byte !== CR) return false;
  return true;
}
