/**
 * CityHash128 as ClickHouse computes it: Google's CityHash v1.0.2 (later
 * versions hash differently), which checksums every block of ClickHouse's
 * compressed format (clickhouse-compression.ts). No maintained npm package
 * implements this version, so it is written here, step for step after the
 * reference `city.cc` v1.0.2; the test proves it against blocks the engine
 * itself wrote (MergeTree column files).
 *
 * 64-bit arithmetic without BigInt (which is ~20 times slower here): each
 * 64-bit value lives in a register, two 32-bit halves of a Uint32Array
 * (`hi` at 2r, `lo` at 2r + 1), and each operation writes its destination
 * register after reading its operands, so a destination may be an operand.
 */

const R = new Uint32Array(2 * 40);
let next = 0;
/** A new register, optionally holding a constant given as hex. */
function reg(hex?: string): number {
  const r = next++;
  if (hex !== undefined) {
    R[2 * r] = parseInt(hex.slice(0, 8), 16);
    R[2 * r + 1] = parseInt(hex.slice(8), 16);
  }
  return r;
}

const K0 = reg('c3a5c85c97cb3127');
const K1 = reg('b492b66fbe98f273');
const K2 = reg('9ae16a3b2f90404f');
const K3 = reg('c949d7c7509e6557');
const KMUL = reg('9ddfea08eb382d69');
// Working registers: the algorithm's own names, then temporaries of each helper (never shared between helpers that call each other).
const A = reg(), B = reg(), C = reg(), D = reg(), X = reg(), Y = reg(), Z = reg(), V0 = reg(), V1 = reg(), W0 = reg(), W1 = reg();
const T = reg(), T2 = reg(), OUT0 = reg(), OUT1 = reg();
const HA = reg(), HB = reg(); // hashLen16
const SA = reg(), SB = reg(), SC = reg(); // hashLen0to16
const WA = reg(), WB = reg(), WC = reg(), WW = reg(), WX = reg(), WY = reg(), WZ = reg(), WT = reg(); // weakHashLen32WithSeeds

function set(d: number, hi: number, lo: number): void { R[2 * d] = hi; R[2 * d + 1] = lo; }
function copy(d: number, a: number): void { set(d, R[2 * a] ?? 0, R[2 * a + 1] ?? 0); }
function small(d: number, n: number): void { set(d, Math.floor(n / 0x1_0000_0000), n >>> 0); }

function add(d: number, a: number, b: number): void {
  const lo = (R[2 * a + 1] ?? 0) + (R[2 * b + 1] ?? 0);
  set(d, ((R[2 * a] ?? 0) + (R[2 * b] ?? 0) + (lo > 0xffffffff ? 1 : 0)) | 0, lo | 0);
}

function sub(d: number, a: number, b: number): void {
  const lo = (R[2 * a + 1] ?? 0) - (R[2 * b + 1] ?? 0);
  set(d, ((R[2 * a] ?? 0) - (R[2 * b] ?? 0) - (lo < 0 ? 1 : 0)) | 0, lo | 0);
}

function xor(d: number, a: number, b: number): void {
  set(d, (R[2 * a] ?? 0) ^ (R[2 * b] ?? 0), (R[2 * a + 1] ?? 0) ^ (R[2 * b + 1] ?? 0));
}

/** d = a * b mod 2^64: the low halves multiplied in 16-bit pieces (exact in doubles), the cross terms need only their low 32 bits. */
function mul(d: number, a: number, b: number): void {
  const ah = R[2 * a] ?? 0, al = R[2 * a + 1] ?? 0, bh = R[2 * b] ?? 0, bl = R[2 * b + 1] ?? 0;
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  set(d, (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0, (mid << 16) | (p00 & 0xffff));
}

/** d = a rotated right by s (0-63). */
function rot(d: number, a: number, s: number): void {
  const h = R[2 * a] ?? 0, l = R[2 * a + 1] ?? 0;
  if (s >= 32) {
    s -= 32;
    if (s === 0) set(d, l, h);
    else set(d, (l >>> s) | (h << (32 - s)), (h >>> s) | (l << (32 - s)));
  } else if (s === 0) set(d, h, l);
  else set(d, (h >>> s) | (l << (32 - s)), (l >>> s) | (h << (32 - s)));
}

/** d = a ^ (a >> 47). */
function shiftMix(d: number, a: number): void {
  const hi = R[2 * a] ?? 0;
  set(d, hi, (R[2 * a + 1] ?? 0) ^ (hi >>> 15));
}

function load32(d: number, s: Uint8Array, p: number): void {
  set(d, 0, (s[p] ?? 0) | ((s[p + 1] ?? 0) << 8) | ((s[p + 2] ?? 0) << 16) | ((s[p + 3] ?? 0) << 24));
}

function load64(d: number, s: Uint8Array, p: number): void {
  set(d,
    (s[p + 4] ?? 0) | ((s[p + 5] ?? 0) << 8) | ((s[p + 6] ?? 0) << 16) | ((s[p + 7] ?? 0) << 24),
    (s[p] ?? 0) | ((s[p + 1] ?? 0) << 8) | ((s[p + 2] ?? 0) << 16) | ((s[p + 3] ?? 0) << 24));
}

/** Hash128to64: d = hash of the pair (u, v). */
function hashLen16(d: number, u: number, v: number): void {
  xor(HA, u, v); mul(HA, HA, KMUL); shiftMix(HA, HA);
  xor(HB, v, HA); mul(HB, HB, KMUL); shiftMix(HB, HB);
  mul(d, HB, KMUL);
}

function hashLen0to16(d: number, s: Uint8Array, p: number, len: number): void {
  if (len > 8) {
    load64(SA, s, p); load64(SB, s, p + len - 8);
    small(SC, len); add(SC, SB, SC); rot(SC, SC, len);
    hashLen16(SC, SA, SC); xor(d, SC, SB);
    return;
  }
  if (len >= 4) {
    const a = ((s[p] ?? 0) | ((s[p + 1] ?? 0) << 8) | ((s[p + 2] ?? 0) << 16) | ((s[p + 3] ?? 0) << 24)) >>> 0;
    set(SA, a >>> 29, a << 3);
    small(SB, len); add(SA, SB, SA);
    load32(SB, s, p + len - 4);
    hashLen16(d, SA, SB);
    return;
  }
  if (len > 0) {
    const y = (s[p] ?? 0) + ((s[p + (len >>> 1)] ?? 0) << 8);
    const z = len + ((s[p + len - 1] ?? 0) << 2);
    small(SA, y); mul(SA, SA, K2); small(SB, z); mul(SB, SB, K3);
    xor(SA, SA, SB); shiftMix(SA, SA); mul(d, SA, K2);
    return;
  }
  copy(d, K2);
}

/** (o1, o2) = WeakHashLen32WithSeeds(s + p, WA, WB): the seeds are read from WA and WB. */
function weakHashLen32WithSeeds(o1: number, o2: number, s: Uint8Array, p: number): void {
  load64(WW, s, p); load64(WX, s, p + 8); load64(WY, s, p + 16); load64(WZ, s, p + 24);
  add(WA, WA, WW);
  add(WB, WB, WA); add(WB, WB, WZ); rot(WB, WB, 21);
  copy(WC, WA);
  add(WA, WA, WX); add(WA, WA, WY);
  rot(WT, WA, 44); add(WB, WB, WT);
  add(o1, WA, WZ); add(o2, WB, WC);
}

/** CityMurmur for inputs under 128 bytes: seeds in A and B, result in OUT0, OUT1. */
function cityMurmur(s: Uint8Array, p: number, len: number): void {
  let l = len - 16;
  if (l <= 0) {
    mul(A, A, K1); shiftMix(A, A); mul(A, A, K1);
    mul(C, B, K1); hashLen0to16(T, s, p, len); add(C, C, T);
    if (len >= 8) load64(T, s, p);
    else copy(T, C);
    add(T, A, T); shiftMix(D, T);
  } else {
    load64(T, s, p + len - 8); add(T, T, K1); hashLen16(C, T, A);
    small(T, len); add(T, B, T); load64(T2, s, p + len - 16); add(T2, C, T2); hashLen16(D, T, T2);
    add(A, A, D);
    do {
      load64(T, s, p); mul(T, T, K1); shiftMix(T, T); mul(T, T, K1);
      xor(A, A, T); mul(A, A, K1); xor(B, B, A);
      load64(T, s, p + 8); mul(T, T, K1); shiftMix(T, T); mul(T, T, K1);
      xor(C, C, T); mul(C, C, K1); xor(D, D, C);
      p += 16;
      l -= 16;
    } while (l > 0);
  }
  hashLen16(A, A, C); hashLen16(B, D, B);
  xor(OUT0, A, B); hashLen16(OUT1, B, A);
}

/** One round of the main loop over 64 bytes at p. */
function round64(s: Uint8Array, p: number): void {
  add(X, X, Y); add(X, X, V0); load64(T, s, p + 16); add(X, X, T); rot(X, X, 37); mul(X, X, K1);
  add(Y, Y, V1); load64(T, s, p + 48); add(Y, Y, T); rot(Y, Y, 42); mul(Y, Y, K1);
  xor(X, X, W1); xor(Y, Y, V0);
  xor(Z, Z, W0); rot(Z, Z, 33);
  mul(WA, V1, K1); add(WB, X, W0); weakHashLen32WithSeeds(V0, V1, s, p);
  add(WA, Z, W1); copy(WB, Y); weakHashLen32WithSeeds(W0, W1, s, p + 32);
  copy(T, Z); copy(Z, X); copy(X, T);
}

/** CityHash128WithSeed: seeds in X and Y, result in OUT0, OUT1. */
function cityHash128WithSeed(s: Uint8Array, p: number, len: number): void {
  if (len < 128) {
    copy(A, X); copy(B, Y);
    cityMurmur(s, p, len);
    return;
  }
  small(Z, len); mul(Z, Z, K1);
  xor(V0, Y, K1); rot(V0, V0, 49); mul(V0, V0, K1); load64(T, s, p); add(V0, V0, T);
  rot(V1, V0, 42); mul(V1, V1, K1); load64(T, s, p + 8); add(V1, V1, T);
  add(W0, Y, Z); rot(W0, W0, 35); mul(W0, W0, K1); add(W0, W0, X);
  load64(T, s, p + 88); add(W1, X, T); rot(W1, W1, 53); mul(W1, W1, K1);
  do {
    round64(s, p);
    p += 64;
    round64(s, p);
    p += 64;
    len -= 128;
  } while (len >= 128);
  rot(T, W0, 37); mul(T, T, K0); add(T, T, Z); add(Y, Y, T);
  add(T, V0, Z); rot(T, T, 49); mul(T, T, K0); add(X, X, T);
  // Up to four 32-byte chunks from the end of the input.
  for (let done = 0; done < len;) {
    done += 32;
    sub(T, Y, X); rot(T, T, 42); mul(T, T, K0); add(Y, T, V1);
    load64(T, s, p + len - done + 16); add(W0, W0, T);
    rot(T, X, 49); mul(T, T, K0); add(X, T, W0);
    add(W0, W0, V0);
    copy(WA, V0); copy(WB, V1); weakHashLen32WithSeeds(V0, V1, s, p + len - done);
  }
  hashLen16(X, X, V0); hashLen16(Y, Y, W0);
  add(T, X, V1); hashLen16(T, T, W1); add(OUT0, T, Y);
  add(T, X, W1); add(T2, Y, V1); hashLen16(OUT1, T, T2);
}

const EMPTY = new Uint8Array(0);

/** The result registers as the 16 bytes ClickHouse stores: the first 64-bit half, then the second, each little-endian. */
function result(): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeUInt32LE(R[2 * OUT0 + 1] ?? 0, 0);
  out.writeUInt32LE(R[2 * OUT0] ?? 0, 4);
  out.writeUInt32LE(R[2 * OUT1 + 1] ?? 0, 8);
  out.writeUInt32LE(R[2 * OUT1] ?? 0, 12);
  return out;
}

/** CityHash128 v1.0.2 of `data[start, end)`, as ClickHouse stores it (16 bytes). */
export function cityHash128(data: Uint8Array, start = 0, end = data.length): Buffer {
  const len = end - start;
  if (len >= 16) {
    load64(X, data, start); xor(X, X, K3); load64(Y, data, start + 8);
    cityHash128WithSeed(data, start + 16, len - 16);
  } else if (len >= 8) {
    small(T, len); mul(T, T, K0); load64(X, data, start); xor(X, X, T);
    load64(Y, data, end - 8); xor(Y, Y, K1);
    cityHash128WithSeed(EMPTY, 0, 0);
  } else {
    copy(X, K0); copy(Y, K1);
    cityHash128WithSeed(data, start, len);
  }
  return result();
}

/**
 * CityHash128WithSeed v1.0.2 of `data[start, end)` with a seed given as
 * ClickHouse stores a hash (16 bytes): how the engine chains the hash of a
 * whole file, 2 KiB at a time (its HashingWriteBuffer, checksums.txt).
 */
export function cityHash128WithSeeds(data: Uint8Array, start: number, end: number, seed: Uint8Array): Buffer {
  load64(X, seed, 0); load64(Y, seed, 8);
  cityHash128WithSeed(data, start, end - start);
  return result();
}
