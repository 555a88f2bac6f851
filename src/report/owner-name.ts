/**
 * The owner of an owner pack (`report chargeback --owner NAME`): which names
 * may be asked for, and the form a name takes in the pack's directory name.
 * Light on purpose (no zod, no engine): the CLI checks `--owner` with it.
 */
import { createHash } from 'node:crypto';
import { IDLE_OWNER, reservedOwner } from '../util/reserved-owners.js';

/** Why `name` cannot be the owner of an owner pack, or undefined when it can. */
export function ownerNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must name a team or tenant';
  const reserved = reservedOwner(name);
  // The (idle) and (unallocated) lines are the bill's, charged to no owner.
  if (reserved === undefined) return undefined;
  return `${JSON.stringify(name)} is the report's ${reserved === IDLE_OWNER ? 'idle' : 'untagged'} line (${reserved}), not a team or tenant: it has no owner pack`;
}

/** Names used as they are: lower case (case-insensitive file systems), no separator, no leading or trailing dot. */
const PLAIN = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?$/;
const SLUG_CHARS = 48;

/**
 * The owner's part of a directory name, safe on every file system and one
 * per owner: a plain name (`search`, `tenant-42`) as it is; any other name
 * (upper case, `/`, spaces, non-ASCII, too long) as a readable slug, `~` and
 * 16 hex digits of the SHA-256 of the exact name (`equipe_donnees~1f0c...`).
 * A plain name never holds `~`, so it cannot pass for another owner's slug,
 * and names that differ only in case never share a directory (where the
 * file system folds case, one would be taken for the other's existing pack).
 */
export function ownerDirName(owner: string): string {
  if (PLAIN.test(owner)) return owner;
  const slug = owner.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, SLUG_CHARS);
  const hash = createHash('sha256').update(owner, 'utf8').digest('hex').slice(0, 16);
  return `${slug}~${hash}`;
}
