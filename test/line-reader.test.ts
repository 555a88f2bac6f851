import { createReadStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { matching } from './helpers/matchers.js';
import { openText, readLines, type Line } from '../src/files/line-reader.js';
import { tempDir, writeTemp } from './helpers/files.js';

async function collect(input: Readable, maxLineBytes = 1024): Promise<{ lines: Line[]; error?: Error }> {
  const lines: Line[] = [];
  try {
    for await (const batch of readLines(input, maxLineBytes)) lines.push(...batch);
  } catch (err) {
    return { lines, error: err as Error };
  }
  return { lines };
}

/** Split a buffer into small chunks so lines straddle chunk boundaries. */
function chunked(buf: Buffer, size = 7): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

describe('line reader', () => {
  it('numbers lines across chunk boundaries, dropping a BOM, CRs and blank lines', async () => {
    const text = Buffer.from('\ufeff{"a":1}\r\n\r\n{"b":2}\n   \n{"c":3}');
    const { lines } = await collect(chunked(text));
    expect(lines).toEqual([
      { lineNo: 1, text: '{"a":1}' },
      { lineNo: 3, text: '{"b":2}' },
      { lineNo: 5, text: '{"c":3}' },
    ]);
  });

  it('reports an over-long line without holding it, and goes on', async () => {
    const text = Buffer.from(`short\n${'x'.repeat(5000)}\nafter\n`);
    const { lines } = await collect(chunked(text, 100), 1024);
    expect(lines[0]).toEqual({ lineNo: 1, text: 'short' });
    expect(lines[1]).toMatchObject({ lineNo: 2, problem: 'line longer than 1024 bytes' });
    expect((lines[1] as { head: string }).head.length).toBeLessThanOrEqual(256);
    expect(lines[2]).toEqual({ lineNo: 3, text: 'after' });
  });

  it('reports bytes that are not UTF-8', async () => {
    const text = Buffer.concat([Buffer.from('ok\n'), Buffer.from([0xff, 0xfe, 0x41, 0x0a]), Buffer.from('ok2\n')]);
    const { lines } = await collect(chunked(text));
    expect(lines.map((l) => l.text ?? 'problem')).toEqual(['ok', 'problem', 'ok2']);
  });

  it('reads gzip by its magic bytes, and keeps the lines before a truncation', async () => {
    const dir = tempDir();
    const body = Array.from({ length: 5000 }, (_, i) => `{"n":${i},"pad":"${'p'.repeat(40)}"}`).join('\n');
    const whole = gzipSync(body);
    const full = await collect(await openText(writeTemp(dir, 'whole.ndjson.gz', whole)));
    expect(full.error).toBeUndefined();
    expect(full.lines).toHaveLength(5000);

    const cut = await collect(await openText(writeTemp(dir, 'cut.gz', whole.subarray(0, Math.floor(whole.length / 2)))));
    expect(cut.error?.message).toMatch(/unexpected end of file/);
    const good = cut.lines.filter((l) => l.text !== undefined);
    expect(good.length).toBeGreaterThan(100);
    expect(good.every((l, i) => l.text === `{"n":${i},"pad":"${'p'.repeat(40)}"}`)).toBe(true);
    expect(cut.lines.at(-1)).toMatchObject({ problem: matching(/line cut off/) });
  });

  it('reads a plain file as it is', async () => {
    const dir = tempDir();
    const { lines } = await collect(createReadStream(writeTemp(dir, 'p.ndjson', '{"x":1}\n')));
    expect(lines).toEqual([{ lineNo: 1, text: '{"x":1}' }]);
  });
});
