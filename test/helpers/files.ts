import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory for files a test writes. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'inferledger-files-'));
}

export function writeTemp(dir: string, name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/** A valid request event, with overrides. */
export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request_id: 'req-1',
    ts: '2026-10-01T10:15:00Z',
    model_id: 'llama-3-70b',
    feature_id: 'chat',
    tenant_id: 'acme',
    pool_id: 'llm-h100',
    gpu_ms: 850.5,
    ...overrides,
  };
}

export function ndjson(events: readonly unknown[]): string {
  return `${events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n')}\n`;
}
