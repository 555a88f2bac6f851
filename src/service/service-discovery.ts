/**
 * How the CLI finds a running service: the embedded engine allows one
 * process per data directory, so `inferledger run` leaves a small file in the
 * directory it holds saying where it answers queries, and removes it on
 * shutdown. A file whose process is gone (a crash, a kill -9) is ignored.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

export const DISCOVERY_FILE = 'inferledger-service.json';

const serviceInfoSchema = z.object({
  pid: z.number().int().positive(),
  /** Where the read-only query endpoint listens; null when it is off or could not listen. */
  host: z.string().min(1).nullable(),
  port: z.number().int().min(1).max(65_535).nullable(),
  database: z.string().min(1),
  startedAt: z.string().min(1),
});

export type ServiceInfo = z.infer<typeof serviceInfoSchema>;

export function discoveryPath(dataDir: string): string {
  return join(resolve(dataDir), DISCOVERY_FILE);
}

/** Written whole or not at all (rename), so a reader never sees half a file. */
export function writeDiscovery(dataDir: string, info: ServiceInfo): void {
  const path = discoveryPath(dataDir);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(info)}\n`);
  renameSync(temporary, path);
}

/** Removed only if it is still ours: a service started after us in the same directory keeps its own. */
export function removeDiscovery(dataDir: string, pid = process.pid): void {
  const current = readDiscovery(dataDir);
  if (current?.pid === pid) rmSync(discoveryPath(dataDir), { force: true });
}

function readDiscovery(dataDir: string): ServiceInfo | undefined {
  let text: string;
  try {
    text = readFileSync(discoveryPath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = serviceInfoSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user; only ESRCH says it is gone.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The service holding this data directory, if one is alive. */
export function findRunningService(dataDir: string): ServiceInfo | undefined {
  const info = readDiscovery(dataDir);
  return info && processAlive(info.pid) ? info : undefined;
}
