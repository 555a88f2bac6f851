/**
 * Compact memory of request ids already written: two 32-bit hashes per id
 * in an open-addressing table (16 bytes an id) instead of the id strings in
 * a Set (~100 bytes an id). A hit means "maybe seen": the batch writer
 * confirms it against storage before calling a row a duplicate, so a hash
 * collision can cost a lookup, never a lost event.
 */

/** The two hashes of an id (FNV-1a and a murmur-style mix over its UTF-16 units, each finalised). */
export function fingerprintId(id: string, out: Uint32Array, at: number): void {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  out[at] = mix(h1);
  out[at + 1] = mix(h2);
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class FingerprintSet {
  /** Slot i holds (keys[2i], keys[2i+1]); (0, 0) is empty. */
  private keys: Uint32Array;
  private count = 0;

  /** @param expected how many ids it will likely hold: room for them from the start, no rehashing on the way. */
  constructor(expected = 512) {
    let slots = 1024;
    while (slots < expected * 2) slots *= 2;
    this.keys = new Uint32Array(2 * slots);
  }

  get size(): number {
    return this.count;
  }

  has(h1: number, h2: number): boolean {
    const a = h1;
    const b = secondKey(h1, h2);
    const mask = this.keys.length / 2 - 1;
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      const k1 = this.keys[2 * slot] as number;
      const k2 = this.keys[2 * slot + 1] as number;
      if (k1 === a && k2 === b) return true;
      if (k1 === 0 && k2 === 0) return false;
    }
  }

  /** Adds the fingerprint; false when it was there already. */
  add(h1: number, h2: number): boolean {
    if ((this.count + 1) * 2 > this.keys.length / 2) this.grow();
    if (!this.insert(h1, secondKey(h1, h2))) return false;
    this.count++;
    return true;
  }

  private insert(a: number, b: number): boolean {
    const mask = this.keys.length / 2 - 1;
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      const k1 = this.keys[2 * slot] as number;
      const k2 = this.keys[2 * slot + 1] as number;
      if (k1 === a && k2 === b) return false;
      if (k1 === 0 && k2 === 0) {
        this.keys[2 * slot] = a;
        this.keys[2 * slot + 1] = b;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i] as number;
      const b = old[i + 1] as number;
      if (a !== 0 || b !== 0) this.insert(a, b);
    }
  }
}

/** (0, 0) marks an empty slot, so an id hashing to it is stored as (0, 1). (Two numbers, not a tuple: no allocation per lookup.) */
function secondKey(h1: number, h2: number): number {
  return h1 === 0 && h2 === 0 ? 1 : h2;
}

/**
 * Fingerprints of ids with the event hour of their first copy: one entry per
 * id whatever hours and pools its copies carry (12 bytes an id), so a copy
 * of an id in another hour is still recognised. Forgetting hours (to bound
 * memory) rebuilds the table without them.
 */
export class FingerprintHours {
  /** Slot i holds (keys[3i], keys[3i+1]) and the hour keys[3i+2]; (0, 0) is empty. */
  private keys: Uint32Array;
  private count = 0;
  private readonly perHourCounts = new Map<number, number>();
  /** The run of adds in one hour not yet in perHourCounts: counted once per run (rows mostly come in time order). */
  private lastHour = -1;
  private lastHourAdds = 0;

  constructor(expected = 512) {
    let slots = 1024;
    while (slots < expected * 2) slots *= 2;
    this.keys = new Uint32Array(3 * slots);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Adds the fingerprint with its hour and returns undefined, or, when it is
   * there already, returns the hour of its first copy and changes nothing:
   * one probe of the table for both questions (it outgrows the CPU caches).
   */
  addOrFirstHour(h1: number, h2: number, hour: number): number | undefined {
    if ((this.count + 1) * 2 > this.keys.length / 3) this.grow(this.keys.length / 3 * 2);
    const first = this.insert(h1, secondKey(h1, h2), hour);
    if (first !== undefined) return first;
    this.count++;
    this.countHour(hour);
    return undefined;
  }

  private countHour(hour: number): void {
    if (hour === this.lastHour) {
      this.lastHourAdds++;
      return;
    }
    this.flushHourCount();
    this.lastHour = hour;
    this.lastHourAdds = 1;
  }

  private flushHourCount(): void {
    if (this.lastHourAdds > 0) this.perHourCounts.set(this.lastHour, (this.perHourCounts.get(this.lastHour) ?? 0) + this.lastHourAdds);
    this.lastHourAdds = 0;
  }

  /** Entries per hour, to choose what to forget. */
  get perHour(): ReadonlyMap<number, number> {
    this.flushHourCount();
    return this.perHourCounts;
  }

  /** Forget every entry of these hours. */
  forget(hours: ReadonlySet<number>): void {
    this.flushHourCount();
    for (const hour of hours) {
      this.count -= this.perHourCounts.get(hour) ?? 0;
      this.perHourCounts.delete(hour);
    }
    this.grow(this.keys.length / 3, hours);
  }

  /** Inserts and returns undefined, or returns the stored hour of an equal key. */
  private insert(a: number, b: number, hour: number): number | undefined {
    const keys = this.keys;
    const mask = keys.length / 3 - 1;
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      const k1 = keys[3 * slot] as number;
      const k2 = keys[3 * slot + 1] as number;
      if (k1 === a && k2 === b) return keys[3 * slot + 2];
      if (k1 === 0 && k2 === 0) {
        keys[3 * slot] = a;
        keys[3 * slot + 1] = b;
        keys[3 * slot + 2] = hour;
        return undefined;
      }
    }
  }

  /** Rehash into `slots` slots, leaving out the given hours. */
  private grow(slots: number, without?: ReadonlySet<number>): void {
    const old = this.keys;
    this.keys = new Uint32Array(3 * slots);
    for (let i = 0; i < old.length; i += 3) {
      const a = old[i] as number;
      const b = old[i + 1] as number;
      const hour = old[i + 2] as number;
      if ((a !== 0 || b !== 0) && !without?.has(hour)) this.insert(a, b, hour);
    }
  }
}
