/**
 * ClickHouse's compressed block format and its CityHash128 v1.0.2, proved
 * against the engine itself: MergeTree column files are written in exactly
 * this format, so every block the engine wrote must verify and decompress
 * here, and every file's hash in the part's checksums.txt (the same CityHash,
 * chained per 2 KiB) must come out equal. The other way round, a part whose
 * column file and checksums.txt are this module's output is attached by the
 * engine, passes CHECK TABLE and reads back.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cityHash128, cityHash128WithSeeds } from '../src/service/cityhash102.js';
import {
  BlockDecoder, CHECKSUM_BYTES, checksumHex, CompressedBlockError, HEADER_BYTES, MAX_BLOCK_BYTES, METHOD_LZ4, METHOD_NONE, METHOD_ZSTD, ZSTD_READABLE,
  compressBlock, compressBlocks, compressStream, decodeBlock, decompressBlocks, readBlockHeader,
} from '../src/service/clickhouse-compression.js';
import { openWarehouse, type Warehouse } from '../src/warehouse/warehouse.js';
import { testWarehouseConfig } from './helpers/warehouse.js';

let w: Warehouse;
beforeAll(async () => { w = await openWarehouse(testWarehouseConfig()); });
afterAll(async () => {
  await w.command('DROP DATABASE IF EXISTS {db:Identifier} SYNC', { db: w.database });
  await w.close();
});

/** Wide parts with plain marks: one file per column stream, every file in the block format. */
const PART_SETTINGS = 'min_bytes_for_wide_part = 0, compress_marks = 0, compress_primary_key = 0';

async function activePart(table: string): Promise<string> {
  const rows = await w.query('SELECT path FROM system.parts WHERE database = currentDatabase() AND table = {t:String} AND active', { t: table }, z.object({ path: z.string() }));
  expect(rows).toHaveLength(1);
  return rows[0]?.path ?? '';
}

interface Block { method: number; hashed: number; data: Buffer }
/** Every block of a file, each verified and decompressed. */
function blocksOf(file: Buffer): Block[] {
  const blocks: Block[] = [];
  for (let at = 0; at < file.length;) {
    const header = readBlockHeader(file, at);
    if (!header) throw new Error(`a block cut short at ${at}`);
    blocks.push({ method: header.method, hashed: header.blockBytes - CHECKSUM_BYTES, data: decodeBlock(file, at, header) });
    at += header.blockBytes;
  }
  return blocks;
}

/** A file's hash as checksums.txt keeps it: CityHash128WithSeed over 2 KiB pieces, each seeded with the hash so far. */
function fileHash(data: Buffer): Buffer {
  let state: Buffer = Buffer.alloc(16);
  let at = 0;
  for (; at + 2048 <= data.length; at += 2048) state = cityHash128WithSeeds(data, at, at + 2048, state);
  return at < data.length ? cityHash128WithSeeds(data, at, data.length, state) : state;
}

interface FileSum { name: string; size: number; hash: Buffer; compressed: boolean; uncompressedSize: number; uncompressedHash: Buffer }
/** checksums.txt: a version line, then one compressed stream of varint counts, names and hashes. */
function readChecksums(file: Buffer): FileSum[] {
  const newline = file.indexOf(10);
  expect(file.subarray(0, newline).toString()).toBe('checksums format version: 4');
  const body = decompressBlocks(file.subarray(newline + 1));
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = body[at++] ?? 0;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  const take = (n: number): Buffer => { at += n; return body.subarray(at - n, at); };
  const sums: FileSum[] = [];
  for (let n = varint(); n > 0; n--) {
    const name = take(varint()).toString();
    const size = varint();
    const hash = take(16);
    const compressed = take(1)[0] === 1;
    sums.push({ name, size, hash, compressed, uncompressedSize: compressed ? varint() : 0, uncompressedHash: compressed ? take(16) : Buffer.alloc(16) });
  }
  expect(at).toBe(body.length);
  return sums;
}

function writeChecksums(sums: readonly FileSum[]): Buffer {
  const parts: Buffer[] = [];
  const varint = (value: number): void => {
    const bytes: number[] = [];
    do {
      bytes.push((value % 128) | (value >= 128 ? 0x80 : 0));
      value = Math.floor(value / 128);
    } while (value > 0);
    parts.push(Buffer.from(bytes));
  };
  varint(sums.length);
  for (const s of sums) {
    varint(Buffer.byteLength(s.name));
    parts.push(Buffer.from(s.name));
    varint(s.size);
    parts.push(s.hash, Buffer.from([s.compressed ? 1 : 0]));
    if (s.compressed) {
      varint(s.uncompressedSize);
      parts.push(s.uncompressedHash);
    }
  }
  return Buffer.concat([Buffer.from('checksums format version: 4\n'), compressBlock(Buffer.concat(parts))]);
}

/** Byte-for-byte equal (toEqual walks large buffers one element at a time, for minutes). */
function expectSame(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

function refusal(run: () => unknown): { code: number; type: string; message: string } {
  try {
    run();
  } catch (err) {
    if (err instanceof CompressedBlockError) return { code: err.code, type: err.type, message: err.message };
    throw err;
  }
  throw new Error('not refused');
}

describe('CityHash128 v1.0.2 and the block format, on the engine\'s own files', () => {
  it('verifies and decompresses every block of the column files the engine wrote, of every hashed length', async () => {
    // One granule per row and a block per granule: blocks of 10 to ~310 hashed bytes, every path of the hash.
    await w.command(`CREATE TABLE lengths (k UInt32, s String CODEC(NONE), l String CODEC(LZ4)) ENGINE = MergeTree ORDER BY k
      SETTINGS ${PART_SETTINGS}, index_granularity = 1, min_compress_block_size = 1`);
    await w.command('INSERT INTO lengths SELECT number, randomString(number), randomString(number % 40) FROM numbers(300)');
    // And a column of several 1 MiB blocks.
    await w.command(`CREATE TABLE big (n UInt64) ENGINE = MergeTree ORDER BY n SETTINGS ${PART_SETTINGS}`);
    await w.command('INSERT INTO big SELECT number * 7 FROM numbers(400000)');

    const strings = await w.query('SELECT hex(s) AS s, hex(l) AS l FROM lengths ORDER BY k', {}, z.object({ s: z.string(), l: z.string() }));
    const lengths = await activePart('lengths');
    const sBlocks = blocksOf(readFileSync(join(lengths, 's.bin')));
    expect(sBlocks.every((b) => b.method === METHOD_NONE)).toBe(true);
    expectSame(Buffer.concat(sBlocks.map((b) => b.data)), Buffer.from(strings.map((r) => r.s).join(''), 'hex'));
    const hashed = sBlocks.map((b) => b.hashed);
    // Each branch of CityHash128: 8-15 bytes, 16-143 (CityMurmur), 144 and more (the 128-byte loop, then tails of every length).
    expect(hashed.filter((n) => n < 16).length).toBeGreaterThan(3);
    expect(hashed.filter((n) => n >= 16 && n < 144).length).toBeGreaterThan(100);
    expect(new Set(hashed.filter((n) => n >= 144).map((n) => (n - 16) % 128)).size).toBeGreaterThan(100);
    const lBlocks = blocksOf(readFileSync(join(lengths, 'l.bin')));
    expect(lBlocks.every((b) => b.method === METHOD_LZ4)).toBe(true);
    expectSame(Buffer.concat(lBlocks.map((b) => b.data)), Buffer.from(strings.map((r) => r.l).join(''), 'hex'));

    const bigPart = await activePart('big');
    const nBlocks = blocksOf(readFileSync(join(bigPart, 'n.bin')));
    expect(nBlocks.length).toBeGreaterThanOrEqual(3);
    expect(nBlocks.every((b) => b.method === METHOD_LZ4 && b.data.length <= MAX_BLOCK_BYTES)).toBe(true);
    const expected = Buffer.alloc(400000 * 8);
    for (let i = 0; i < 400000; i++) expected.writeBigUInt64LE(BigInt(i * 7), i * 8);
    expectSame(Buffer.concat(nBlocks.map((b) => b.data)), expected);

    // checksums.txt: every file's hash (the seeded CityHash, chained), and of compressed files the uncompressed data's.
    for (const part of [lengths, bigPart]) {
      const sums = readChecksums(readFileSync(join(part, 'checksums.txt')));
      expect(sums.length).toBeGreaterThanOrEqual(4);
      for (const sum of sums) {
        const file = readFileSync(join(part, sum.name));
        expect([sum.name, file.length, fileHash(file).toString('hex')]).toEqual([sum.name, sum.size, sum.hash.toString('hex')]);
        if (sum.compressed) {
          const data = decompressBlocks(file);
          expect([sum.name, data.length, fileHash(data).toString('hex')]).toEqual([sum.name, sum.uncompressedSize, sum.uncompressedHash.toString('hex')]);
        }
      }
    }
  });

  it('makes blocks the engine reads: a part with this module\'s column file and checksums.txt attaches, passes CHECK TABLE and reads back', async () => {
    await w.command(`CREATE TABLE ours (x UInt64 CODEC(LZ4)) ENGINE = MergeTree ORDER BY tuple() SETTINGS ${PART_SETTINGS}`);
    await w.command('INSERT INTO ours SELECT number * 3 FROM numbers(5000)');
    const part = await activePart('ours');
    const name = part.replace(/\/$/, '').split('/').pop() ?? '';
    const theirs = readFileSync(join(part, 'x.bin'));
    // One block, so the marks (offset 0 in the file) stay right when it is replaced by a block of the same data.
    expect(blocksOf(theirs)).toHaveLength(1);
    const mine = compressBlock(decompressBlocks(theirs));
    expect(mine.equals(theirs)).toBe(false);

    await w.command('ALTER TABLE ours DETACH PART {p:String}', { p: name });
    const detached = join(dirname(part.replace(/\/$/, '')), 'detached', name);
    const sums = readChecksums(readFileSync(join(detached, 'checksums.txt')));
    writeFileSync(join(detached, 'x.bin'), mine);
    writeFileSync(join(detached, 'checksums.txt'), writeChecksums(sums.map((s) => (s.name === 'x.bin' ? { ...s, size: mine.length, hash: fileHash(mine) } : s))));
    await w.command('ALTER TABLE ours ATTACH PART {p:String}', { p: name });

    const check = z.object({ part_path: z.string(), is_passed: z.coerce.number(), message: z.string() });
    expect(await w.query('CHECK TABLE ours SETTINGS check_query_single_value_result = 0', {}, check)).toEqual([{ part_path: expect.any(String) as unknown, is_passed: 1, message: '' }]);
    expect(await w.query('SELECT count() AS n, sum(x) AS total FROM ours', {}, z.object({ n: z.coerce.number(), total: z.coerce.number() }))).toEqual([{ n: 5000, total: 3 * 4999 * 5000 / 2 }]);
    expect(readFileSync(join(await activePart('ours'), 'x.bin')).equals(mine)).toBe(true);

    // The control: one bit of the block's checksum flipped, and the engine refuses the block, naming as actual the checksum this module wrote.
    const reattached = (await activePart('ours')).replace(/\/$/, '').split('/').pop() ?? '';
    await w.command('ALTER TABLE ours DETACH PART {p:String}', { p: reattached });
    const flipped = Buffer.from(mine);
    flipped[3] = (flipped[3] ?? 0) ^ 1;
    writeFileSync(join(dirname(part.replace(/\/$/, '')), 'detached', reattached, 'x.bin'), flipped);
    await w.command('ALTER TABLE ours ATTACH PART {p:String}', { p: reattached });
    const refused = await w.query('SELECT sum(x) AS total FROM ours', {}, z.object({ total: z.string() })).then(() => '', (err: unknown) => (err as Error).message);
    const ours = checksumHex(mine);
    expect(refused).toMatch(new RegExp(`Checksum doesn't match: corrupted data\\. Reference: [0-9a-f]{32}\\. Actual: ${ours}\\.`));
    // And this module says the same of the same block.
    expect(refusal(() => decompressBlocks(flipped)).message).toMatch(new RegExp(`^Checksum doesn't match: corrupted data\\. Reference: [0-9a-f]{32}\\. Actual: ${ours}\\. Size of compressed block: ${mine.length - CHECKSUM_BYTES}$`));
  });

  it(`reads the engine's ZSTD blocks ${ZSTD_READABLE ? '(this runtime has zstd)' : 'only where the runtime has zstd (this one does not, and says so)'}`, async () => {
    await w.command(`CREATE TABLE zstd (n UInt64 CODEC(ZSTD(1))) ENGINE = MergeTree ORDER BY n SETTINGS ${PART_SETTINGS}`);
    await w.command('INSERT INTO zstd SELECT number FROM numbers(1000)');
    const file = readFileSync(join(await activePart('zstd'), 'n.bin'));
    expect(file[CHECKSUM_BYTES]).toBe(METHOD_ZSTD);
    if (ZSTD_READABLE) {
      const expected = Buffer.alloc(8000);
      for (let i = 0; i < 1000; i++) expected.writeBigUInt64LE(BigInt(i), i * 8);
      expectSame(decompressBlocks(file), expected);
    } else {
      expect(refusal(() => decompressBlocks(file))).toMatchObject({ code: 271, type: 'CANNOT_DECOMPRESS', message: expect.stringMatching(/^Cannot decompress ZSTD-encoded data on Node 2\d\.\d+\.\d+ .*: send LZ4 blocks$/) as unknown });
    }
  });
});

describe('compressing and decompressing', () => {
  it('round-trips data of any size as LZ4 blocks of at most 1 MiB, whole or streamed in pieces of any size', async () => {
    const data = Buffer.concat([randomBytes(1_200_000), Buffer.alloc(1_500_000, 'inferledger '), randomBytes(3)]);
    const blocks = compressBlocks(data);
    expect(blocks).toHaveLength(3);
    for (const block of blocks) {
      const header = readBlockHeader(block, 0);
      expect(header?.method).toBe(METHOD_LZ4);
      expect(header?.blockBytes).toBe(block.length);
      expect(header?.uncompressedBytes).toBeLessThanOrEqual(MAX_BLOCK_BYTES);
      expect(block.subarray(0, CHECKSUM_BYTES)).toEqual(cityHash128(block, CHECKSUM_BYTES, block.length));
    }
    expectSame(decompressBlocks(Buffer.concat(blocks)), data);
    expect(compressBlocks(Buffer.alloc(0))).toEqual([]);
    for (const size of [0, 1, 7, 8, 15, 16, 17, 127, 128, 129, 1000]) expect(decompressBlocks(compressBlock(randomBytes(size)))).toHaveLength(size);

    // Streamed: the compressor takes chunks as they come; the decoder takes bytes in pieces that cut headers and data anywhere.
    const compressed: Buffer[] = [];
    for await (const block of compressStream(Readable.from([data.subarray(0, 10), data.subarray(10, 2_000_000), data.subarray(2_000_000)]))) compressed.push(block);
    const stream = Buffer.concat(compressed);
    const decoder = new BlockDecoder(data.length, () => new Error('too large'));
    const out: Buffer[] = [];
    let at = 0;
    for (const step of [1, 3, 20, 1, 4096, 300_000]) {
      out.push(...decoder.push(stream.subarray(at, at + step)));
      at += step;
    }
    out.push(...decoder.push(stream.subarray(at)));
    decoder.end();
    expectSame(Buffer.concat(out), data);
  });

  it('refuses corrupted, unknown, lying and cut-short blocks with the server\'s error codes, and blocks beyond the size allowed before reading them', () => {
    const data = Buffer.from('SELECT version() AS server_version, '.repeat(20));
    const block = compressBlock(data);
    const withChecksum = (b: Buffer): Buffer => { cityHash128(b, CHECKSUM_BYTES, b.length).copy(b, 0); return b; };

    const bitFlip = Buffer.from(block);
    bitFlip[40] = (bitFlip[40] ?? 0) ^ 0x10;
    expect(refusal(() => decompressBlocks(bitFlip))).toMatchObject({ code: 40, type: 'CHECKSUM_DOESNT_MATCH', message: expect.stringMatching(/^Checksum doesn't match: corrupted data\. Reference: [0-9a-f]{32}\. Actual: [0-9a-f]{32}\. Size of compressed block: \d+$/) as unknown });
    const checksumFlip = Buffer.from(block);
    checksumFlip[0] = (checksumFlip[0] ?? 0) ^ 1;
    expect(refusal(() => decompressBlocks(checksumFlip)).code).toBe(40);

    const unknown = Buffer.from(block);
    unknown[CHECKSUM_BYTES] = 0x91;
    expect(refusal(() => decompressBlocks(withChecksum(unknown)))).toMatchObject({ code: 432, type: 'UNKNOWN_CODEC' });
    const garbage = Buffer.concat([block.subarray(0, CHECKSUM_BYTES + HEADER_BYTES), Buffer.from([0xf0, 0xff, 0xff, 0x01, 0x02])]);
    garbage.writeUInt32LE(HEADER_BYTES + 5, CHECKSUM_BYTES + 1);
    expect(refusal(() => decompressBlocks(withChecksum(garbage)))).toMatchObject({ code: 271, type: 'CANNOT_DECOMPRESS', message: expect.stringMatching(/^Cannot decompress LZ4-encoded data/) as unknown });
    const lying = Buffer.from(block);
    lying.writeUInt32LE(data.length + 10, CHECKSUM_BYTES + 5);
    expect(refusal(() => decompressBlocks(withChecksum(lying)))).toMatchObject({ code: 271, message: `Cannot decompress LZ4-encoded data: the block holds ${data.length} bytes, its header says ${data.length + 10}` });
    const tiny = Buffer.from(block.subarray(0, CHECKSUM_BYTES + HEADER_BYTES));
    tiny.writeUInt32LE(4, CHECKSUM_BYTES + 1);
    expect(refusal(() => decompressBlocks(tiny))).toMatchObject({ code: 246, type: 'CORRUPTED_DATA' });
    expect(refusal(() => decompressBlocks(block.subarray(0, block.length - 1)))).toMatchObject({ code: 33, type: 'CANNOT_READ_ALL_DATA' });
    expect(refusal(() => decompressBlocks(block.subarray(0, 20)))).toMatchObject({ code: 33 });

    // A header that promises more than is allowed is refused from its 25 bytes alone, before the data is there.
    const decoder = new BlockDecoder(data.length - 1, (bytes) => new CompressedBlockError(62, 'SYNTAX_ERROR', `too large: ${bytes}`));
    expect(refusal(() => decoder.push(block.subarray(0, CHECKSUM_BYTES + HEADER_BYTES)))).toMatchObject({ code: 62, message: `too large: ${data.length}` });
    const inflated = Buffer.from(block.subarray(0, CHECKSUM_BYTES + HEADER_BYTES));
    inflated.writeUInt32LE(100_000_000, CHECKSUM_BYTES + 1);
    expect(refusal(() => new BlockDecoder(1_000_000, () => new Error('too large')).push(inflated))).toMatchObject({ code: 39, type: 'TOO_LARGE_SIZE_COMPRESSED' });
  });
});
