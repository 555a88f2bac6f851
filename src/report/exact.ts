/**
 * Exact money for reports: amounts are bigint counts of 1e-12 units (the
 * warehouse's Decimal(38, 12)), parsed from and printed to decimal text,
 * never through a float. Derived ratios (CPP, cost per 1K tokens, GPU-hours)
 * are rounded once, half to even, at a stated number of decimals.
 */
import { MONEY_SCALE, toScaled } from '../util/decimal.js';

export const UNIT = 10n ** BigInt(MONEY_SCALE);

/** Units of a decimal text from the warehouse (e.g. "12.5", "-0.000000000001"). */
export function units(text: string): bigint {
  return toScaled(text, MONEY_SCALE);
}

/** numerator / denominator rounded half to even (denominator > 0). */
export function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new Error('divideHalfEven: denominator must be positive');
  const negative = numerator < 0n;
  const n = negative ? -numerator : numerator;
  let q = n / denominator;
  const r2 = (n % denominator) * 2n;
  if (r2 > denominator || (r2 === denominator && q % 2n === 1n)) q += 1n;
  return negative ? -q : q;
}

/** A count of 10^-scale units as plain decimal text with exactly `scale` decimals ("12.500000000000"). */
export function fixed(value: bigint, scale = MONEY_SCALE): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** Money units rounded (half even) to cents, for people: "1,234.57". */
export function cents(value: bigint): string {
  const c = divideHalfEven(value, UNIT / 100n);
  const negative = c < 0n;
  const abs = negative ? -c : c;
  const int = (abs / 100n).toLocaleString('en-US');
  return `${negative ? '-' : ''}${int}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/**
 * Split `total` over `weights` exactly: cumulative rounding in the given
 * order, share_i = floor(T x W_upto / W) - floor(T x W_before / W), so the
 * shares sum to `total` to the last unit and each is within one unit of
 * T x w / W. A negative total (a credit) is split by magnitude and keeps its
 * sign. Weights must be >= 0 with a positive sum.
 */
export function splitExact(total: bigint, weights: readonly bigint[]): bigint[] {
  const sum = weights.reduce((a, w) => a + w, 0n);
  if (sum <= 0n || weights.some((w) => w < 0n)) throw new Error('splitExact: weights must be >= 0 with a positive sum');
  const sign = total < 0n ? -1n : 1n;
  const magnitude = total * sign;
  let upto = 0n;
  let given = 0n;
  return weights.map((w) => {
    upto += w;
    const through = (magnitude * upto) / sum;
    const share = through - given;
    given = through;
    return share * sign;
  });
}
