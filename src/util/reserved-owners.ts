/**
 * The owner names a chargeback report gives its idle and untagged lines. A
 * team or tenant of the same name would be read as one of those lines (or
 * pass for one in a spreadsheet), so request events and the configuration
 * refuse such names and reports stop when the warehouse still holds one.
 */
export const IDLE_OWNER = '(idle)';
export const UNALLOCATED_OWNER = '(unallocated)';

const RESERVED = new Set([IDLE_OWNER, UNALLOCATED_OWNER]);

/** Only these can spell a reserved name: a parenthesis or a non-ASCII look-alike (fullwidth, zero-width...). */
const MAY_BE_RESERVED = /[(\u0080-\uffff]/;

/**
 * The reserved name `name` passes for, or undefined. Case, spacing (any
 * Unicode space, zero-width characters) and compatibility forms (NFKC:
 * fullwidth parentheses) do not make a name different. Plain ASCII names
 * without a parenthesis return at once: this runs on every request event.
 */
export function reservedOwner(name: string): string | undefined {
  if (!MAY_BE_RESERVED.test(name)) return undefined;
  const folded = name.normalize('NFKC').replace(/[\s\p{Cf}]/gu, '').toLowerCase();
  return RESERVED.has(folded) ? folded : undefined;
}

/** Why `name` cannot be an owner, or undefined when it can. */
export function reservedOwnerReason(name: string): string | undefined {
  return reservedOwner(name) === undefined
    ? undefined
    : `${JSON.stringify(name)} is reserved: "${IDLE_OWNER}" and "${UNALLOCATED_OWNER}" name the idle and untagged lines of chargeback reports`;
}
