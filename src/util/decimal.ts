/**
 * Exact decimal strings for the cost path. Amounts from bills arrive as text
 * ("12.5", "-0.00000034", "1.2E-7"); they stay text end to end and are
 * normalised here with integer arithmetic, never through a float. Exact sums
 * and splits work on bigint counts of 1e-12 units (Decimal(38, 12)); derived
 * ratios (CPP, cost per 1K tokens) are rounded once, half to even.
 */

const DECIMAL = /^([+-])?(\d+)?(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$/;

/** Fractional digits stored for money and quantities: Decimal(38, 12). */
export const MONEY_SCALE = 12;

/**
 * Normalise a decimal (plain or scientific notation) to plain notation with at
 * most `scale` fractional digits, rounding half away from zero. Returns
 * undefined when the text is not a decimal number.
 */
export function normalizeDecimal(text: string, scale = MONEY_SCALE): string | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, sign, intPart = '', fracPart = '', exp = '0'] = m;
  if (intPart === '' && fracPart === '') return undefined;
  // value = digits * 10^(exponent - fracPart.length)
  let digits = BigInt(`${intPart}${fracPart}` || '0');
  const shift = Number(exp) - fracPart.length + scale;
  if (shift >= 0) {
    digits *= 10n ** BigInt(shift);
  } else {
    const div = 10n ** BigInt(-shift);
    const rest = digits % div;
    digits /= div;
    if (rest * 2n >= div) digits += 1n;
  }
  return formatScaled(sign === '-' ? -digits : digits, scale);
}

/** Digits before the point that Decimal(38, 12) can hold. */
export const MONEY_INTEGER_DIGITS = 38 - MONEY_SCALE;

/**
 * Why a normalised decimal does not fit Decimal(38, 12), or undefined when it
 * does. Checked per line, so one huge amount (1E100) is refused with a reason
 * instead of failing the insert of its whole batch.
 */
export function moneyOverflow(normal: string): string | undefined {
  const int = normal.replace('-', '').split('.')[0] ?? '';
  return int.length > MONEY_INTEGER_DIGITS ? `does not fit Decimal(38, 12): more than ${MONEY_INTEGER_DIGITS} digits before the point` : undefined;
}

/** Render an integer count of 10^-scale units as a plain decimal string. */
export function formatScaled(units: bigint, scale = MONEY_SCALE): string {
  const negative = units < 0n;
  const abs = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const int = abs.slice(0, abs.length - scale);
  const frac = abs.slice(abs.length - scale).replace(/0+$/, '');
  const out = frac ? `${int}.${frac}` : int;
  return negative && out !== '0' ? `-${out}` : out;
}

/** Integer count of 10^-scale units of a decimal string (which must be valid). */
export function toScaled(text: string, scale = MONEY_SCALE): bigint {
  const normal = normalizeDecimal(text, scale);
  if (normal === undefined) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  const [int = '0', frac = ''] = normal.replace('-', '').split('.');
  const units = BigInt(int) * 10n ** BigInt(scale) + BigInt(frac.padEnd(scale, '0') || '0');
  return normal.startsWith('-') ? -units : units;
}

// --- Exact arithmetic on money units (bigint counts of 10^-12): reports, budgets, tie-outs ---

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
