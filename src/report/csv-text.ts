/**
 * The pack's CSV text, written by csv-stringify (slower than a hand-written
 * loop; `npm run bench:report` measures the whole pack): RFC 4180 quoting (a
 * field holding a quote, comma, CR or LF is quoted, quotes doubled), and
 * lines ending in LF, as packs have always been written (RFC 4180 asks for
 * CRLF; csv-parse, spreadsheets and databases read either).
 *
 * Names in a pack come from request events, so a text cell may start like a
 * formula. A spreadsheet runs a cell starting with `=`, `+`, `-`, `@`, tab
 * or CR (OWASP, CSV injection; also NUL, and the fullwidth `＝＋－＠` some
 * spreadsheets read as those): such text cells get a leading `'`, which
 * spreadsheets take as "this is text". Numeric columns are written as they
 * are, so a credit of -1.50 stays a number; they must hold decimal numbers
 * (or nothing).
 */
import { stringify } from 'csv-stringify/sync';

const FORMULA_START = /^[=+\-@\t\r\0\uff1d\uff0b\uff0d\uff20]/;
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * A text cell as a spreadsheet may show it: with a leading `'` when it would
 * start a formula. Idempotent (a neutralised cell starts with `'`), so text
 * read back from a pack and written again is not changed twice.
 */
export function formulaSafe(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

export interface CsvOptions {
  /** Columns holding numbers: written unchanged. Default: none. */
  numeric?: readonly string[];
}

/** A header line and the rows, every row as long as the header. */
export function csvText(columns: readonly string[], rows: readonly (readonly string[])[], options: CsvOptions = {}): string {
  const numeric = columns.map((c) => options.numeric?.includes(c) ?? false);
  const cells = rows.map((row) => {
    if (row.length !== columns.length) throw new Error(`CSV row of ${row.length} cells under ${columns.length} columns`);
    return row.map((cell, i) => {
      if (!numeric[i]) return formulaSafe(cell);
      if (cell !== '' && !NUMBER.test(cell)) throw new Error(`CSV column ${columns[i] ?? i} is numeric, got ${JSON.stringify(cell)}`);
      return cell;
    });
  });
  // quote_record_delimiter: a lone CR is quoted too (csv-stringify stops doing so once record_delimiter is given).
  return stringify([columns.map(formulaSafe), ...cells], { record_delimiter: 'unix', quote_record_delimiter: true });
}
