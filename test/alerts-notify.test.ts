/**
 * Notifications: a webhook that fails twice then succeeds shows the alert
 * exactly once (dedupe key), and a delivered notification is never sent again.
 * The webhook is a real local HTTP server (a peer, not one of our engines).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/config.js';
import { evaluateAlerts } from '../src/alerts/evaluate.js';
import { notify } from '../src/alerts/notify.js';
import { latestAlerts } from '../src/alerts/store.js';
import { main } from '../src/cli/main.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { START, writeScenario, type Scenario } from './helpers/alerts-data.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { receiver, type Receiver } from './helpers/webhook.js';
import { DAY_MS } from '../src/util/time.js';

/** 30 days of one key whose GPU-ms per request doubles on the last two: one alert to notify. */
const REGRESSION: Scenario = {
  days: 30,
  pools: [{ id: 'gpu', pricePerGpuHour: () => 2, gpus: () => 16 }],
  keys: [{ model: 'llm', feature: 'chat', requests: () => ({ gpu: 400_000 }), gpuMsPerRequest: (d) => (d >= 28 ? 200 : 100) }],
};

describe('alert notifications', () => {
  let w: Warehouse;
  let peer: Receiver;
  beforeEach(async () => { w = await freshWarehouse(); peer = await receiver(2); });
  afterEach(async () => {
    await peer.close();
    await discardWarehouse(w);
  });

  it('a webhook that fails twice then succeeds delivers exactly once, and is not sent again', { timeout: 60_000 }, async () => {
    await writeScenario(w, REGRESSION);
    const alerts = configSchema.shape.alerts.parse({ webhooks: [{ name: 'oncall', url: peer.url, kind: 'slack' }], retryMinMs: 5, retries: 4 });
    const result = await evaluateAlerts(w, { alerts }, { day: '2026-09-29', now: new Date(START + 40 * DAY_MS) });
    expect(result.transitions.map((t) => t.transition)).toEqual(['opened']);
    expect(result.deliveries).toEqual([expect.objectContaining({ webhook: 'oncall', outcome: 'delivered', attempts: 3 })]);
    expect(peer.received).toHaveLength(3);
    const alert = result.transitions[0]?.alert;
    const key = `${alert?.alert_id ?? ''}:opened`;
    expect(peer.received.map((r) => r.key)).toEqual([key, key, key]);
    expect([...peer.shown.keys()]).toEqual([key]);
    expect(peer.shown.get(key)).toMatch(/CPP regression[\s\S]*llm \/ chat \(USD\): used CPP \+\d+%[\s\S]*GPU-ms per request/);

    // Sent again (a retry after a crash, a second run): the delivery log says it is done.
    const latest = (await latestAlerts(w)).get('llm/chat//USD');
    if (!latest) throw new Error('alert not stored');
    const again = await notify(w, alerts, latest, 'opened');
    expect(again).toEqual([expect.objectContaining({ outcome: 'already-delivered', attempts: 0 })]);
    expect(peer.received).toHaveLength(3);
  });

  it('a run with no day left to evaluate still sends what an earlier run failed to deliver', { timeout: 60_000 }, async () => {
    await writeScenario(w, REGRESSION);
    const alerts = configSchema.shape.alerts.parse({ webhooks: [{ name: 'oncall', url: peer.url, kind: 'json' }], retryMinMs: 5, retries: 1 });
    const now = new Date(START + 40 * DAY_MS);
    const first = await evaluateAlerts(w, { alerts }, { now });
    expect(first.transitions.map((t) => t.transition)).toEqual(['opened', 'updated']);
    expect(first.deliveries).toEqual([expect.objectContaining({ outcome: 'failed', attempts: 2 })]);
    const second = await evaluateAlerts(w, { alerts }, { now });
    expect(second.days).toEqual([]);
    expect(second.deliveries).toEqual([expect.objectContaining({ outcome: 'delivered', attempts: 1 })]);
    expect([...peer.shown.keys()]).toEqual([`${first.transitions[0]?.alert.alert_id ?? ''}:opened`]);
  });

  it('a delivery that failed in one run is sent by the next', { timeout: 60_000 }, async () => {
    await writeScenario(w, REGRESSION);
    const alerts = configSchema.shape.alerts.parse({ webhooks: [{ name: 'oncall', url: peer.url, kind: 'json' }], retryMinMs: 5, retries: 1 });
    const now = new Date(START + 40 * DAY_MS);
    const first = await evaluateAlerts(w, { alerts }, { day: '2026-09-29', now });
    expect(first.deliveries).toEqual([expect.objectContaining({ outcome: 'failed', attempts: 2, error: 'HTTP 503' })]);
    expect(peer.shown.size).toBe(0);
    const second = await evaluateAlerts(w, { alerts }, { now });
    expect(second.transitions.filter((t) => t.transition !== 'updated')).toEqual([]);
    expect(second.deliveries).toEqual([expect.objectContaining({ outcome: 'delivered', attempts: 1 })]);
    expect([...peer.shown.keys()]).toEqual([`${first.transitions[0]?.alert.alert_id ?? ''}:opened`]);
    const third = await evaluateAlerts(w, { alerts }, { now });
    expect(third.deliveries).toEqual([]);
    expect(peer.received).toHaveLength(3);
  });

  it('config check masks webhook URLs', async () => {
    const out: string[] = [];
    const code = await main(['config', 'check'], {
      out: (l) => out.push(l), err: (l) => out.push(l),
      env: { INFERLEDGER_CONFIG: writeConfig({ alerts: { webhooks: [{ name: 'oncall', url: peer.url, kind: 'slack' }] } }) },
    });
    expect(code).toBe(0);
    expect(out.join('\n')).not.toMatch(/SECRET|secret/);
    expect(out.join('\n')).toMatch(/"url": "http:\/\/127\.0\.0\.1:\d+\/\*\*\*"/);
  });
});

function writeConfig(value: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'alerts-config-')), 'config.json');
  writeFileSync(file, JSON.stringify(value));
  return file;
}
