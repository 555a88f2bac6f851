/**
 * ClickHouse's own compressed format, as its HTTP interface speaks it with
 * `compress=1` (responses) and `decompress=1` (request bodies), and as its
 * MergeTree column files are written: a sequence of blocks, each
 *
 *   16 bytes  CityHash128 v1.0.2 (cityhash102.ts) of the rest of the block
 *    1 byte   method: 0x82 LZ4, 0x02 none, 0x90 ZSTD
 *    4 bytes  compressed size, these 9 header bytes included (UInt32 LE)
 *    4 bytes  uncompressed size (UInt32 LE)
 *   the compressed data
 *
 * Blocks are written with LZ4 (what every client reads), at most 1 MiB
 * uncompressed each (the server's max_compress_block_size). LZ4 itself is
 * lz4-napi's (lz4_flex, prebuilt for each platform, on Node-API); its block
 * functions prefix the uncompressed size, which is added or cut off here.
 * ZSTD blocks are read where the runtime's zlib has zstd (Node >= 22.15).
 */
import * as zlib from 'node:zlib';
import { compressSync, uncompressSync } from 'lz4-napi';
import { cityHash128 } from './cityhash102.js';

export const METHOD_NONE = 0x02;
export const METHOD_LZ4 = 0x82;
export const METHOD_ZSTD = 0x90;
export const CHECKSUM_BYTES = 16;
/** Method byte and the two sizes. */
export const HEADER_BYTES = 9;
/** Largest uncompressed block written (ClickHouse's max_compress_block_size default). */
export const MAX_BLOCK_BYTES = 1024 * 1024;
/** Largest block accepted, compressed or not (ClickHouse's DBMS_MAX_COMPRESSED_SIZE, 1 GiB). */
const MAX_ACCEPTED_BYTES = 0x4000_0000;

/** A block refused, with ClickHouse's error code and name for the same fault. */
export class CompressedBlockError extends Error {
  override name = 'CompressedBlockError';
  constructor(readonly code: number, readonly type: string, message: string) {
    super(message);
  }
}

type ZstdDecompress = (data: Buffer, options: { maxOutputLength: number }) => Buffer;
const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: ZstdDecompress }).zstdDecompressSync;

/** Whether this runtime reads ZSTD blocks (its zlib has zstd: Node >= 22.15). */
export const ZSTD_READABLE = zstdDecompressSync !== undefined;

/** One block of `data` (at most MAX_BLOCK_BYTES is sensible), LZ4-compressed, with its header and checksum. */
export function compressBlock(data: Uint8Array): Buffer {
  // lz4-napi writes the uncompressed size first (4 bytes LE), then the raw LZ4 block.
  const packed = compressSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const size = HEADER_BYTES + packed.length - 4;
  const block = Buffer.allocUnsafe(CHECKSUM_BYTES + size);
  block[CHECKSUM_BYTES] = METHOD_LZ4;
  block.writeUInt32LE(size, CHECKSUM_BYTES + 1);
  block.writeUInt32LE(data.byteLength, CHECKSUM_BYTES + 5);
  packed.copy(block, CHECKSUM_BYTES + HEADER_BYTES, 4);
  cityHash128(block, CHECKSUM_BYTES, block.length).copy(block, 0);
  return block;
}

/** `data` as blocks of at most `blockBytes` uncompressed bytes each (none for empty data). */
export function compressBlocks(data: Uint8Array, blockBytes = MAX_BLOCK_BYTES): Buffer[] {
  const blocks: Buffer[] = [];
  for (let at = 0; at < data.byteLength; at += blockBytes) blocks.push(compressBlock(data.subarray(at, at + blockBytes)));
  return blocks;
}

/**
 * A byte stream as blocks, made one at a time as they are read (each chunk
 * cut at `blockBytes`), so a streamed answer stays streamed and a large one
 * is never compressed all at once.
 */
export async function* compressStream(source: AsyncIterable<Buffer>, blockBytes = MAX_BLOCK_BYTES): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length; at += blockBytes) yield compressBlock(chunk.subarray(at, at + blockBytes));
  }
}

/** A checksum as ClickHouse prints it: its second 64-bit half, then its first, each as a number in 16 hex digits. */
export function checksumHex(checksum: Buffer): string {
  const half = (at: number): string => checksum.readBigUInt64LE(at).toString(16).padStart(16, '0');
  return half(8) + half(0);
}

export interface BlockHeader {
  method: number;
  /** The whole block's size: checksum, header and data. */
  blockBytes: number;
  uncompressedBytes: number;
}

/**
 * The header of the block at `at`, checked as the server checks it (sizes in
 * range); undefined when fewer than its 25 bytes are there yet.
 */
export function readBlockHeader(data: Uint8Array, at: number): BlockHeader | undefined {
  if (data.byteLength - at < CHECKSUM_BYTES + HEADER_BYTES) return undefined;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const method = view[at + CHECKSUM_BYTES] ?? 0;
  const compressed = view.readUInt32LE(at + CHECKSUM_BYTES + 1);
  const uncompressedBytes = view.readUInt32LE(at + CHECKSUM_BYTES + 5);
  if (method !== METHOD_LZ4 && method !== METHOD_NONE && method !== METHOD_ZSTD) {
    throw new CompressedBlockError(432, 'UNKNOWN_CODEC', `Unknown codec family code: ${method} (method byte 0x${method.toString(16).padStart(2, '0')}; this endpoint reads LZ4 0x82, none 0x02 and ZSTD 0x90 blocks)`);
  }
  if (compressed < HEADER_BYTES) {
    throw new CompressedBlockError(246, 'CORRUPTED_DATA', `Can't decompress data: the compressed data size (${compressed}, this should include header size) is less than the header size (${HEADER_BYTES})`);
  }
  if (compressed > MAX_ACCEPTED_BYTES || uncompressedBytes > MAX_ACCEPTED_BYTES) {
    throw new CompressedBlockError(39, 'TOO_LARGE_SIZE_COMPRESSED', `Too large size_compressed_without_checksum: ${compressed} (uncompressed ${uncompressedBytes}). Most likely corrupted data`);
  }
  return { method, blockBytes: CHECKSUM_BYTES + compressed, uncompressedBytes };
}

/**
 * The data of the complete block at `at` (its header read by readBlockHeader):
 * the checksum verified first, then decompressed to exactly the size the
 * header gives.
 */
export function decodeBlock(data: Uint8Array, at: number, header: BlockHeader): Buffer {
  const block = Buffer.from(data.buffer, data.byteOffset + at, header.blockBytes);
  const actual = cityHash128(block, CHECKSUM_BYTES, block.length);
  if (!actual.equals(block.subarray(0, CHECKSUM_BYTES))) {
    throw new CompressedBlockError(40, 'CHECKSUM_DOESNT_MATCH', `Checksum doesn't match: corrupted data. Reference: ${checksumHex(block)}. Actual: ${checksumHex(actual)}. Size of compressed block: ${header.blockBytes - CHECKSUM_BYTES}`);
  }
  const payload = block.subarray(CHECKSUM_BYTES + HEADER_BYTES);
  const wrongSize = (what: string, got: number): CompressedBlockError =>
    new CompressedBlockError(271, 'CANNOT_DECOMPRESS', `Cannot decompress ${what} data: the block holds ${got} bytes, its header says ${header.uncompressedBytes}`);
  if (header.method === METHOD_NONE) {
    if (payload.length !== header.uncompressedBytes) throw wrongSize('uncompressed', payload.length);
    return Buffer.from(payload);
  }
  if (header.method === METHOD_ZSTD) {
    if (!zstdDecompressSync) throw new CompressedBlockError(271, 'CANNOT_DECOMPRESS', `Cannot decompress ZSTD-encoded data on Node ${process.versions.node} (its zlib has no zstd before Node 22.15): send LZ4 blocks`);
    let out: Buffer;
    try {
      out = zstdDecompressSync(payload, { maxOutputLength: Math.max(1, header.uncompressedBytes) });
    } catch (err) {
      throw new CompressedBlockError(271, 'CANNOT_DECOMPRESS', `Cannot decompress ZSTD-encoded data: ${(err as Error).message}`);
    }
    if (out.length !== header.uncompressedBytes) throw wrongSize('ZSTD-encoded', out.length);
    return out;
  }
  const sized = Buffer.allocUnsafe(4 + payload.length);
  sized.writeUInt32LE(header.uncompressedBytes, 0);
  payload.copy(sized, 4);
  let out: Buffer;
  try {
    out = uncompressSync(sized);
  } catch (err) {
    throw new CompressedBlockError(271, 'CANNOT_DECOMPRESS', `Cannot decompress LZ4-encoded data: ${(err as Error).message}`);
  }
  if (out.length !== header.uncompressedBytes) throw wrongSize('LZ4-encoded', out.length);
  return out;
}

/**
 * Reads blocks as their bytes arrive (a request body), holding at most one
 * block. `maxBytes` bounds the data decompressed in all: a block whose header
 * says more than is left is refused by `tooLarge` before its data is read.
 */
export class BlockDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private decoded = 0;
  constructor(private readonly maxBytes: number, private readonly tooLarge: (bytes: number) => Error) {}

  /** The data of every block completed by `chunk`. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      const header = readBlockHeader(this.pending, at);
      if (!header) break;
      if (this.decoded + header.uncompressedBytes > this.maxBytes) throw this.tooLarge(this.decoded + header.uncompressedBytes);
      // LZ4 and ZSTD never grow data by more than this; a larger block is not one.
      if (header.blockBytes > CHECKSUM_BYTES + HEADER_BYTES + header.uncompressedBytes + Math.ceil(header.uncompressedBytes / 128) + 1024) {
        throw new CompressedBlockError(39, 'TOO_LARGE_SIZE_COMPRESSED', `Too large size_compressed_without_checksum: ${header.blockBytes - CHECKSUM_BYTES} for ${header.uncompressedBytes} uncompressed bytes. Most likely corrupted data`);
      }
      if (this.pending.length - at < header.blockBytes) break;
      out.push(decodeBlock(this.pending, at, header));
      this.decoded += header.uncompressedBytes;
      at += header.blockBytes;
    }
    this.pending = this.pending.subarray(at);
    return out;
  }

  /** The input ended: refuse a block cut short. */
  end(): void {
    if (this.pending.length === 0) return;
    const header = readBlockHeader(this.pending, 0);
    const expected = header ? header.blockBytes : CHECKSUM_BYTES + HEADER_BYTES;
    throw new CompressedBlockError(33, 'CANNOT_READ_ALL_DATA', `Cannot read all data: the compressed input ends inside a block. Bytes read: ${this.pending.length}. Bytes expected: ${expected}`);
  }
}

/** Every block of `data`, checked and decompressed, as one buffer. */
export function decompressBlocks(data: Uint8Array, maxBytes = MAX_ACCEPTED_BYTES): Buffer {
  const decoder = new BlockDecoder(maxBytes, (bytes) => new CompressedBlockError(39, 'TOO_LARGE_SIZE_COMPRESSED', `Decompressed data would exceed ${maxBytes} bytes (${bytes})`));
  const out = decoder.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  decoder.end();
  return Buffer.concat(out);
}
