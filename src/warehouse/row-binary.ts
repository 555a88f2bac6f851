/**
 * Reads ClickHouse's RowBinary output: the cheapest way for many rows of a
 * few columns to reach JavaScript (no text to parse, no object per row).
 * Numbers are little-endian; a String is its length as unsigned LEB128, then
 * its bytes.
 */
export class RowBinaryReader {
  private at = 0;

  constructor(private readonly bytes: Buffer) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  uint8(): number {
    return this.bytes.readUInt8(this.advance(1));
  }

  uint32(): number {
    return this.bytes.readUInt32LE(this.advance(4));
  }

  int32(): number {
    return this.bytes.readInt32LE(this.advance(4));
  }

  string(): string {
    let length = 0;
    let shift = 0;
    for (;;) {
      const byte = this.bytes.readUInt8(this.advance(1));
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
      shift += 7;
    }
    const start = this.advance(length);
    return this.bytes.toString('utf8', start, start + length);
  }

  /** Where the next value starts; throws when the bytes end inside it (a truncated answer is a bug, not data). */
  private advance(length: number): number {
    const start = this.at;
    if (start + length > this.bytes.length) throw new Error(`RowBinary answer ends inside a value (byte ${start} of ${this.bytes.length})`);
    this.at = start + length;
    return start;
  }
}
