/**
 * Notifications on open and resolve, and once per budget episode when its
 * forecast escalates from warning to over, to Slack-compatible and generic JSON
 * webhooks. Each carries a dedupe key (alert id + transition) in the payload
 * and the Idempotency-Key header, so a receiver shows a retried delivery
 * once; a delivery log (cpp_alert_deliveries) keeps us from sending again
 * what a webhook already accepted, across retries, runs and crashes. Which
 * webhooks an alert goes to is routing.ts's: the delivery log is per webhook,
 * so each one's retries and dedupe are its own.
 */
import pRetry, { AbortError } from 'p-retry';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { audiencesOf, webhooksFor, type Webhook } from './routing.js';
import { nowText, type AlertRow } from './store.js';

export type Transition = 'opened' | 'escalated' | 'resolved';
export type { Webhook } from './routing.js';

export function dedupeKey(alertId: string, transition: Transition): string {
  return `${alertId}:${transition}`;
}

export function payloadOf(webhook: Webhook, alert: AlertRow, transition: Transition): Record<string, unknown> {
  const key = dedupeKey(alert.alert_id, transition);
  // An escalation asks for attention again, so it says how to acknowledge too.
  const ack = transition !== 'resolved' ? `\nAck: \`inferledger alerts ack ${alert.alert_id} --reason expected|planned\`` : '';
  const text = `${headOf(alert, transition)} · alert ${alert.alert_id}\n${alert.summary}${ack}`;
  if (webhook.kind === 'slack') return { text, dedupe_key: key };
  return {
    dedupe_key: key,
    transition,
    text,
    alert: { ...alert, factors: JSON.parse(alert.factors) as unknown },
  };
}

function headOf(alert: AlertRow, transition: Transition): string {
  if (alert.metric === 'budget') {
    const month = alert.budget_month?.slice(0, 7) ?? '';
    const what = `${alert.budget_by} ${alert.owner}, ${month}`;
    // Resolved for one of three reasons (forecast back under, month over, budget removed): the summary says which.
    if (transition === 'resolved') return `:white_check_mark: Budget alert resolved (${what})`;
    if (transition === 'escalated') return `:money_with_wings: Budget forecast now over (${what})`;
    return alert.level === 'over' ? `:money_with_wings: Budget forecast over (${what})` : `:warning: Budget forecast at warning level (${what})`;
  }
  const metric = `(${alert.metric === 'loaded' ? 'fully loaded' : 'used'} CPP)`;
  return transition === 'opened' ? `:rotating_light: CPP regression ${metric}` : `:white_check_mark: CPP back to normal ${metric}`;
}

export interface DeliveryResult {
  webhook: string;
  dedupeKey: string;
  outcome: 'delivered' | 'already-delivered' | 'failed';
  attempts: number;
  error?: string;
}

const countRow = z.object({ n: z.coerce.number() });

/**
 * Send one transition of one alert to each of its webhooks not yet known to
 * have it: `webhooks` when given (the caller routed it), else those its
 * routes give (alerts.routes, see routing.ts).
 */
export async function notify(
  warehouse: Warehouse, settings: Config['alerts'], alert: AlertRow, transition: Transition, webhooks?: readonly Webhook[],
): Promise<DeliveryResult[]> {
  const results: DeliveryResult[] = [];
  const key = dedupeKey(alert.alert_id, transition);
  const targets = webhooks ?? webhooksFor(settings, (await audiencesOf(warehouse, settings, [alert])).get(alert.alert_id) ?? { teams: [], tenants: [] });
  for (const webhook of targets) {
    const [done] = await warehouse.query(sqlFile('alerts/delivered'), { dedupe_key: key, target: webhook.name }, countRow);
    if ((done?.n ?? 0) > 0) {
      results.push({ webhook: webhook.name, dedupeKey: key, outcome: 'already-delivered', attempts: 0 });
      continue;
    }
    let attempts = 0;
    // fetch refuses user-info in a URL: it becomes a Basic authorization header.
    const target = new URL(webhook.url);
    const auth: Record<string, string> = target.username !== '' || target.password !== ''
      ? { authorization: `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}` }
      : {};
    target.username = '';
    target.password = '';
    try {
      await pRetry(async () => {
        attempts++;
        const response = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-inferledger-dedupe-key': key, ...auth },
          body: JSON.stringify(payloadOf(webhook, alert, transition)),
          signal: AbortSignal.timeout(settings.timeoutMs),
        });
        await response.body?.cancel();
        // 4xx other than 408/429 will not get better by retrying.
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          throw new AbortError(`HTTP ${response.status}`);
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      }, { retries: settings.retries, minTimeout: settings.retryMinMs, factor: 2, randomize: true });
      await warehouse.insertObjects('cpp_alert_deliveries', [{
        dedupe_key: key, target: webhook.name, alert_id: alert.alert_id, transition, attempts, delivered_at: nowText(),
      }]);
      results.push({ webhook: webhook.name, dedupeKey: key, outcome: 'delivered', attempts });
    } catch (err) {
      // The URL is a secret: only the webhook's name and the reason are reported.
      const message = (err as Error).message.replace(/https?:\/\/\S+/g, '<webhook url>');
      results.push({ webhook: webhook.name, dedupeKey: key, outcome: 'failed', attempts, error: message });
    }
  }
  return results;
}
