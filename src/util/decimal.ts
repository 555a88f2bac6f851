/**
 * Exact decimal strings for the cost path. Amounts from bills arrive as text
 * ("12.5", "-0.00000034", "1.2E-7"); they stay text end to end and are
 * normalised here with integer arithmetic, never through a float.
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
