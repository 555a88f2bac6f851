/** The report's exact arithmetic and CSV text, without the engine. */
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { csvText } from '../src/report/csv-text.js';
import { cents, divideHalfEven, fixed, splitExact } from '../src/util/decimal.js';
import { pct } from '../src/report/html.js';

describe('report arithmetic', () => {
  it('rounds half to even', () => {
    expect([5n, 15n, 25n, -5n, -15n, 14n, 16n].map((n) => divideHalfEven(n, 10n))).toEqual([0n, 2n, 2n, 0n, -2n, 1n, 2n]);
    expect(fixed(-1n)).toBe('-0.000000000001');
    expect(fixed(1234n, 2)).toBe('12.34');
    expect(cents(1_234_565_000_000_000n)).toBe('1,234.56');
    expect(cents(1_234_575_000_000_000n)).toBe('1,234.58');
  });

  it('splits any total over any weights exactly, each share within one unit', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }),
      fc.array(fc.bigInt({ min: 0n, max: 10n ** 9n }), { minLength: 1, maxLength: 30 }).filter((w) => w.some((x) => x > 0n)),
      (total, weights) => {
        const shares = splitExact(total, weights);
        expect(shares.reduce((a, s) => a + s, 0n)).toBe(total);
        const sum = weights.reduce((a, w) => a + w, 0n);
        shares.forEach((s, i) => {
          const exact = total * (weights[i] ?? 0n);
          const diff = s * sum - exact;
          expect(diff < 0n ? -diff : diff).toBeLessThanOrEqual(sum);
        });
      },
    ));
  });

  it('writes CSV that csv-parse reads back as written, formulas neutralised', () => {
    fc.assert(fc.property(fc.array(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 20 }), (rows) => {
      const text = csvText(['a', 'b'], rows);
      const safe = (cell: string): string => (/^[=+\-@\t\r\0\uff1d\uff0b\uff0d\uff20]/.test(cell) ? `'${cell}` : cell);
      expect(parse(text, { columns: true })).toEqual(rows.map(([a = '', b = '']) => ({ a: safe(a), b: safe(b) })));
    }));
  });

  it('quotes as RFC 4180 does, lines ending in LF, byte for byte', () => {
    const rows = [['2026-10', 'a,b', '1.5'], ['2026-10', 'say "hi"', ''], ['', 'x\ry', '0'], ['東京', 'l1\nl2', '-2']];
    expect(csvText(['month', 'owner', 'cost'], rows, { numeric: ['cost'] })).toBe('month,owner,cost\n2026-10,"a,b",1.5\n2026-10,"say ""hi""",\n,"x\ry",0\n東京,"l1\nl2",-2\n');
  });

  it('neutralises cells that a spreadsheet would run as a formula, only in text columns', () => {
    const rows = [
      ['=HYPERLINK("http://x","y")', '-1.50'], ['+1', '-0.000000000001'], ['@SUM(A1)', '12'], ['-2+3', ''], ['\t=1', '3'], ['\r=1', '4'],
      ["'=already", '5'], ['\uff1d1+1', '6'], ['plain', '7'],
    ];
    const parsed = z.array(z.array(z.string())).parse(parse(csvText(['name', 'amount'], rows, { numeric: ['amount'] }), { from_line: 2 }));
    expect(parsed).toEqual([
      ['\'=HYPERLINK("http://x","y")', '-1.50'], ["'+1", '-0.000000000001'], ["'@SUM(A1)", '12'], ["'-2+3", ''], ["'\t=1", '3'], ["'\r=1", '4'],
      ["'=already", '5'], ["'\uff1d1+1", '6'], ['plain', '7'],
    ]);
    // Written again (a delta built from a published pack), a cell is not neutralised twice.
    expect(parse(csvText(['name', 'amount'], parsed, { numeric: ['amount'] }), { from_line: 2 })).toEqual(parsed);
    // A numeric column holds numbers only.
    expect(() => csvText(['amount'], [['=1+1']], { numeric: ['amount'] })).toThrow('CSV column amount is numeric, got "=1+1"');
  });
});

describe('report page figures', () => {
  it('prints shares as percentages', () => {
    expect(pct(296_000n)).toBe('29.60 %');
    expect(pct(1_000_000n)).toBe('100.00 %');
    expect(pct(4n)).toBe('0.00 %');
  });
});
