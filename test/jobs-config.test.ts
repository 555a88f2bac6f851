import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { alertsEvaluatePayload, attributeDayPayload, jobId, tickPayload } from '../src/scheduler/contract.js';

describe('jobs configuration', () => {
  it('has defaults that need nothing', () => {
    expect(loadConfig({ env: {} }).jobs).toMatchObject({ prefix: 'inferledger', billingPull: true, concurrency: 1, attempts: 5, shutdownGraceMs: 20_000, schedules: {} });
    expect(loadConfig({ env: {} }).service).toMatchObject({ host: '127.0.0.1', collectorMetricsHost: '127.0.0.1' });
    expect(loadConfig({ env: {} }).service.port).toBeUndefined();
  });

  it('reads the environment and names the variable at fault', () => {
    const config = loadConfig({ env: { INFERLEDGER_BILLING_PULL: 'false', INFERLEDGER_BILLING_START: '2026-09-01', INFERLEDGER_SERVICE_PORT: '9470' } });
    expect(config.jobs).toMatchObject({ billingPull: false, billingStart: '2026-09-01' });
    expect(config.service.port).toBe(9470);
    expect(() => loadConfig({ env: { INFERLEDGER_BILLING_PULL: 'maybe' } })).toThrow(/jobs\.billingPull \(from env INFERLEDGER_BILLING_PULL\)/);
    expect(() => loadConfig({ env: { INFERLEDGER_BILLING_START: '2026-9-1' } })).toThrow(ConfigError);
  });

  it('refuses a schedule that is not a cron pattern, or for a job that has none', () => {
    expect(() => loadConfig({ env: {}, overrides: { jobs: { schedules: { attribute: 'hourly' } } } })).toThrow(/jobs\.schedules\.attribute.*cron/);
    expect(() => loadConfig({ env: {}, overrides: { jobs: { schedules: { rollups: '* * * * *' } as never } } })).toThrow(ConfigError);
    expect(loadConfig({ env: {}, overrides: { jobs: { schedules: { 'alerts-evaluate': '*/15 * * * *', 'report-chargeback': '0 7 * * *' } } } }).jobs.schedules)
      .toEqual({ 'alerts-evaluate': '*/15 * * * *', 'report-chargeback': '0 7 * * *' });
  });

  it('builds the team pack by default and refuses a scheduled pack the report refuses, naming the field', () => {
    expect(loadConfig({ env: {} }).report).toEqual({ outDir: 'reports', scheduled: [{ by: 'team', idle: 'spread' }] });
    expect(loadConfig({ env: {}, overrides: { report: { scheduled: [{ by: 'tenant' }] } } }).report.scheduled).toEqual([{ by: 'tenant', idle: 'spread' }]);
    expect(() => loadConfig({ env: {}, overrides: { report: { scheduled: [{ by: 'tenant', idle: 'owner' }] } } })).toThrow(/report\.scheduled\.0\.idle/);
    expect(() => loadConfig({ env: {}, overrides: { report: { scheduled: [{ by: 'team' }, { by: 'team', idle: 'spread' }] } } })).toThrow(/report\.scheduled.*each \(by, idle\) pack once/);
  });
});

describe('job contract', () => {
  it('builds ids BullMQ accepts (no colon) from job, window and input version', () => {
    expect(jobId('attribute-day', '2026-11-30', 'abc')).toBe('attribute-day_2026-11-30_abc');
    expect(jobId('attribute', '2026-11-30T13:00')).toBe('attribute_2026-11-30T13.00');
  });

  it('names the field of a bad payload', () => {
    expect(attributeDayPayload.safeParse({ day: '2026-02-30', inputVersion: '0123456789abcdef' }).error?.issues[0]?.path).toEqual(['day']);
    expect(tickPayload.safeParse({ from: '2026-10-02' }).error?.issues[0]?.path).toEqual(['to']);
    expect(tickPayload.safeParse({ from: '2026-10-02', to: '2026-10-01' }).success).toBe(false);
    expect(alertsEvaluatePayload.safeParse({ days: ['2026-10-31', '2026-10-32'] }).error?.issues[0]?.path).toEqual(['days', 1]);
    expect(alertsEvaluatePayload.safeParse({ from: '2026-10-02' }).error?.issues[0]?.path).toEqual(['to']);
  });
});

describe('jobs commands', () => {
  it('refuse a window with only one end, before touching Redis', async () => {
    const err: string[] = [];
    const code = await main(['jobs', 'run', 'attribute', '--from', '2026-10-01'], { out: () => undefined, err: (l) => { err.push(l); }, env: {} });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('--from and --to go together');
  });
});

describe('usage errors raised by a command', () => {
  it('are printed, not only turned into exit code 2 (attribute --to before --from)', async () => {
    const err: string[] = [];
    const code = await main(['attribute', '--from', '2026-10-02', '--to', '2026-10-01'], { out: () => undefined, err: (l) => { err.push(l); }, env: {} });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('--to must be after --from');
  });
});
