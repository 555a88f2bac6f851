/**
 * Whether the engine may parse a unit of NDJSON request lines itself
 * (staged-units.ts), decided in JavaScript before the engine sees it.
 *
 * The engine's typed JSONEachRow read is laxer than JSON.parse in ways its
 * values cannot show afterwards: it reads `"1"`, `01`, `+1`, `.5` and `1.`
 * as numbers, keeps raw control characters and unknown escapes (`\'`,
 * `\x41`) inside strings, matches keys without regard to case, skips a BOM,
 * and reads two objects on one line (or one object over two) as it finds
 * them. A unit holding any of these goes to the JavaScript parser whole, so
 * the engine only ever reads what JSON.parse would read the same way. False
 * alarms only cost speed: the JavaScript parser judges everything.
 */
import { isUtf8 } from 'node:buffer';
import { forEachLine } from '../files/line-reader.js';

const NEWLINE = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Forms JSON.parse refuses or reads differently from the engine, found on
 * the unit as latin1 text (one character per byte):
 * - a control character other than a line end (raw in a string, JSON.parse refuses it; the engine keeps it, and
 *   reads a form feed or vertical tab between values as a space);
 * - a key of letters with an upper-case one (the engine would take `"GPU_MS"` for `gpu_ms`);
 * - a value of a number field that is not a JSON number or null (the engine reads `"1"`, `01`, `+1`, `.5`, `1.`).
 * A CR, a backslash and a BOM are found byte by byte (Buffer#indexOf is far
 * cheaper than a pattern): see {@link oddByte}.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const ODD_FORMS = /[\x00-\x09\x0b\x0c\x0e-\x1f]|[A-Z][A-Za-z_]*" *:|"(?:gpu_ms|input_tokens|output_tokens|latency_ms)" *: *(?!(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|null) *[,}])/;

/** Bytes of text matched against {@link ODD_FORMS} at a time. */
const SLICE_BYTES = 1 << 20;
const BACKSLASH = 0x5c;
/** Escapes JSON.parse and the engine read alike: \" \\ \/ \b \f \n \r \t. */
const PLAIN_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The first byte the engine would read otherwise than JSON.parse, or -1:
 * - a CR not ending a line (raw in a string, JSON.parse refuses it; the engine keeps it);
 * - an escape other than the plain ones (the engine takes `\'` or `\x41`; `\u` escapes go to JavaScript
 *   too, as one may be half a surrogate pair);
 * - a BOM (the engine skips one inside a line).
 */
function oddByte(unit: Buffer): number {
  for (let at = unit.indexOf(CR); at !== -1; at = unit.indexOf(CR, at + 1)) {
    if (unit[at + 1] !== NEWLINE) return at;
  }
  for (let at = unit.indexOf(BACKSLASH); at !== -1; at = unit.indexOf(BACKSLASH, at + 2)) {
    if (!PLAIN_ESCAPES.has(unit[at + 1] as number)) return at;
  }
  return unit.indexOf(BOM);
}

export interface EngineScan {
  /** Lines in the unit, blank ones included (they count for line numbers), as parseRecords counts them. */
  records: number;
  /** Blank lines among them. */
  blank: number;
  /** The line (index in the unit, from 0) of each event, in order: the engine's rows, one per non-blank line. */
  rowRecords: Uint32Array<ArrayBuffer>;
}

/**
 * The unit's lines, when the engine may parse it; otherwise why not (said
 * for logs and tests). `unit` holds whole lines, the last may lack its newline.
 */
export function scanForEngine(unit: Buffer, maxLineBytes: number): EngineScan | { refused: string } {
  if (!isUtf8(unit)) return { refused: 'not UTF-8' };
  const byte = oddByte(unit);
  if (byte !== -1) return { refused: `odd form at byte ${byte}: ${JSON.stringify(unit.toString('latin1', byte, byte + 2))}` };
  // Every odd form lies within a line: the text is matched a slice of whole lines at a time, so that no copy
  // of the whole unit is made as a string.
  for (let start = 0; start < unit.length;) {
    let end = Math.min(unit.length, start + SLICE_BYTES);
    if (end < unit.length) end = unit.indexOf(NEWLINE, end) + 1 || unit.length;
    const odd = ODD_FORMS.exec(unit.toString('latin1', start, end));
    if (odd) return { refused: `odd form at byte ${start + odd.index}: ${JSON.stringify(odd[0])}` };
    start = end;
  }
  const rows: number[] = [];
  let blank = 0;
  let refused: string | undefined;
  // Lines as the parser threads split them (a trailing CR dropped), so both count the same lines.
  const records = forEachLine(unit, (line, index) => {
    if (refused !== undefined) return;
    if (line.length > maxLineBytes) {
      refused = `line ${index + 1} is longer than ${maxLineBytes} bytes`;
      return;
    }
    let first = 0;
    while (first < line.length && line[first] === SPACE) first++;
    if (first === line.length) {
      blank++;
      return;
    }
    let last = line.length - 1;
    while (line[last] === SPACE) last--;
    // One object per line: with no line end inside any text value (the stage statement checks), no object
    // can span lines.
    if (line[first] !== OPEN_BRACE || line[last] !== CLOSE_BRACE) refused = `line ${index + 1} is not one JSON object`;
    else rows.push(index);
  });
  if (refused !== undefined) return { refused };
  return { records, blank, rowRecords: Uint32Array.from(rows) };
}

/**
 * A unit of Kafka message values, each followed by a newline (lengths beside,
 * -1 for a tombstone), scanned as lines: the engine may parse it only when
 * every message is one line of its own, so that line i is message i. A
 * tombstone, an empty or oversized value, or a value holding a line end
 * sends the unit to the JavaScript parser.
 */
export function scanMessagesForEngine(unit: Buffer, lengths: Int32Array, maxValueBytes: number): EngineScan | { refused: string } {
  for (let i = 0; i < lengths.length; i++) {
    const length = lengths[i] as number;
    if (length <= 0 || length > maxValueBytes) return { refused: `message ${i} is a tombstone, empty or longer than ${maxValueBytes} bytes` };
  }
  const scanned = scanForEngine(unit, maxValueBytes);
  if ('refused' in scanned) return scanned;
  if (scanned.records !== lengths.length || scanned.blank > 0) return { refused: 'a message value is blank or holds a line end' };
  return scanned;
}
