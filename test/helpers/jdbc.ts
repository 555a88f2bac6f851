/**
 * The ClickHouse JDBC driver (com.clickhouse:jdbc-v2 0.10.0) run by tests:
 * test/jdbc/JdbcCheck.java in one JVM through test/jdbc/jdbc.sh, its jars
 * from `bash test/jdbc/jdbc.sh install` (CI runs it). One JSON line per check.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';

const JDBC_SH = join(import.meta.dirname, '..', 'jdbc', 'jdbc.sh');

const jdbcResult = z.object({
  check: z.union([z.number(), z.literal('connect')]),
  kind: z.string().optional(),
  ok: z.boolean(),
  driver: z.string().optional(),
  version: z.string().optional(),
  columns: z.array(z.string()).optional(),
  types: z.array(z.string()).optional(),
  rows: z.union([z.array(z.array(z.string().nullable())), z.number()]).optional(),
  sum: z.string().optional(),
  counts: z.record(z.string(), z.number()).optional(),
  error: z.object({ type: z.string(), message: z.string(), code: z.number() }).optional(),
});
export type JdbcResult = z.infer<typeof jdbcResult>;

/** Run JdbcCheck in one JVM; a missing driver or Java fails here with what to do about it. */
export async function runJdbc(url: string, user: string, password: string, checks: readonly (readonly string[])[]): Promise<{ results: JdbcResult[]; stderr: string }> {
  const child = spawn('bash', [JDBC_SH, 'run', url, user, password, ...checks.map((c) => c.join('\n'))], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => { child.kill('SIGKILL'); }, 100_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  // Stack traces of the refusals the driver logs are noise here; the messages stay.
  const messages = stderr.split('\n').filter((line) => !line.startsWith('\tat ')).join('\n');
  if (code !== 0) throw new Error(`test/jdbc/jdbc.sh run exited with ${code ?? 'a signal'}:\n${messages}\n${stdout}`);
  return { results: stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => jdbcResult.parse(JSON.parse(line))), stderr: messages };
}
