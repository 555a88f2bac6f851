/**
 * Work only the process holding the embedded data directory can do, asked of
 * it by the CLI: a backup (`inferledger backup` while `inferledger run`
 * holds the directory). Served under /admin/ on the query endpoint's address
 * (loopback by default; its checks refuse web pages and rebound host names
 * before any route), and authenticated by a random token the service writes
 * beside its discovery file, readable by its own user only: whoever can read
 * the data directory's files may ask (they could copy them anyway), nobody
 * else.
 *
 * A backup can take longer than an HTTP client waits for headers: the answer
 * starts at once (200), a blank line goes out every 15 s while it runs, and
 * its last line is the outcome as JSON ({"manifest": ...} or {"error": ...}).
 * A client that goes away does not stop a backup already started.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';

export const ADMIN_TOKEN_FILE = 'inferledger-service.admin.json';
export const ADMIN_TOKEN_HEADER = 'x-inferledger-admin-token';
const KEEPALIVE_MS = 15_000;
const MAX_BODY_BYTES = 16 * 1024;

export interface AdminActions {
  /** Take a backup into `dir` (absolute); resolves to its manifest. */
  backup: (dir: string) => Promise<unknown>;
}

/** Answers a request under /admin/ (the query endpoint hands it over). */
export type AdminRoute = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

const tokenFile = z.object({ pid: z.number().int().positive(), token: z.string().regex(/^[0-9a-f]{64}$/) }).strict();
const backupRequest = z.object({ dir: z.string().min(1).refine((d) => isAbsolute(d), 'must be an absolute path') }).strict();
const outcome = z.union([z.object({ manifest: z.unknown() }).strict(), z.object({ error: z.string() }).strict()]);

export function newAdminToken(): string {
  return randomBytes(32).toString('hex');
}

function tokenPath(dataDir: string): string {
  return join(resolve(dataDir), ADMIN_TOKEN_FILE);
}

/** Readable and writable by this user only; written whole (rename). */
export function writeAdminToken(dataDir: string, token: string, pid = process.pid): void {
  const path = tokenPath(dataDir);
  const temporary = `${path}.${pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ pid, token })}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

function readTokenFile(dataDir: string): z.infer<typeof tokenFile> | undefined {
  try {
    const parsed = tokenFile.safeParse(JSON.parse(readFileSync(tokenPath(dataDir), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The token of the service `pid`, if this user may read it; a stale file of another process is no token. */
export function readAdminToken(dataDir: string, pid: number): string | undefined {
  const file = readTokenFile(dataDir);
  return file?.pid === pid ? file.token : undefined;
}

/** Removed only if it is still ours. */
export function removeAdminToken(dataDir: string, pid = process.pid): void {
  if (readTokenFile(dataDir)?.pid === pid) rmSync(tokenPath(dataDir), { force: true });
}

function sameToken(given: string | string[] | undefined, expected: string): boolean {
  const a = Buffer.from(typeof given === 'string' ? given : '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function answer(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' }).end(`${JSON.stringify(body)}\n`);
}

export function adminRoute(token: string, actions: AdminActions, log: (line: string) => void): AdminRoute {
  return async (req, res, path) => {
    if (!sameToken(req.headers[ADMIN_TOKEN_HEADER], token)) {
      req.resume();
      answer(res, 403, { error: `admin requests need the service's token (header ${ADMIN_TOKEN_HEADER}, from ${ADMIN_TOKEN_FILE} in its data directory)` });
      return;
    }
    if (path !== '/admin/backup') {
      req.resume();
      answer(res, 404, { error: `there is no admin route ${path}: use /admin/backup` });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      answer(res, 405, { error: 'use POST' });
      return;
    }
    let dir: string;
    try {
      const parsed = backupRequest.safeParse(await readJson(req));
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
      dir = parsed.data.dir;
    } catch (err) {
      answer(res, 400, { error: `bad backup request: ${(err as Error).message}` });
      return;
    }
    log(`admin: backup into ${dir} asked for by the CLI`);
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=UTF-8' });
    const keepalive = setInterval(() => { if (!res.destroyed) res.write('\n'); }, KEEPALIVE_MS);
    try {
      const manifest = await actions.backup(dir);
      if (!res.destroyed) res.end(`${JSON.stringify({ manifest })}\n`);
    } catch (err) {
      log(`admin: backup into ${dir} failed: ${(err as Error).message}`);
      if (!res.destroyed) res.end(`${JSON.stringify({ error: (err as Error).message })}\n`);
    } finally {
      clearInterval(keepalive);
    }
  };
}

/** The CLI's side: ask the service at `base` for a backup into `dir`; resolves to its manifest, or throws its error. */
export async function requestServiceBackup(base: string, token: string, dir: string): Promise<unknown> {
  const res = await fetch(`${base}/admin/backup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', [ADMIN_TOKEN_HEADER]: token },
    body: JSON.stringify({ dir }),
  });
  const text = await res.text();
  const last = text.split('\n').filter((line) => line.trim() !== '').at(-1);
  let parsed: z.infer<typeof outcome> | undefined;
  try {
    const result = outcome.safeParse(JSON.parse(last ?? ''));
    parsed = result.success ? result.data : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed) throw new Error(`the service answered the backup request with HTTP ${res.status} and no outcome${last === undefined ? '' : `: ${last.slice(0, 200)}`}`);
  if ('error' in parsed) throw new Error(`the running service could not take the backup: ${parsed.error}`);
  return parsed.manifest;
}
