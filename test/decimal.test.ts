import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatScaled, normalizeDecimal, toScaled } from '../src/util/decimal.js';

describe('decimal strings', () => {
  it.each([
    ['12.5', '12.5'],
    ['-0.00000034', '-0.00000034'],
    ['1.2E-7', '0.00000012'],
    ['3e2', '300'],
    ['+7', '7'],
    ['.5', '0.5'],
    ['5.', '5'],
    ['0.0000000000004', '0'],
    ['0.0000000000005', '0.000000000001'],
    ['-0.0000000000005', '-0.000000000001'],
    ['-0', '0'],
    ['98.320000', '98.32'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeDecimal(input)).toBe(expected);
  });

  it.each(['', 'abc', '1,5', '1.2.3', 'NaN', 'Infinity', '$3', '1e', '--1', '0x10'])('refuses %j', (input) => {
    expect(normalizeDecimal(input)).toBeUndefined();
  });

  it('round-trips any integer count of nano-units exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (units) => {
        expect(toScaled(formatScaled(units))).toBe(units);
      }),
    );
  });
});
