/** Open CPP and budget alerts (cpp_alerts), as `inferledger alerts list --open` shows them. */
import { listAlerts } from '../alerts/store.js';
import { ok, some, warn, type Check } from './check.js';

export const alertsCheck: Check = {
  name: 'alerts',
  group: 'alerts',
  timeoutMs: 15_000,
  errorFix: 'inferledger migrate (if the schema is behind), else see the warehouse line',
  run: async (ctx) => {
    const { warehouse } = await ctx.warehouse();
    const open = await listAlerts(warehouse, true, 100);
    const unacknowledged = open.filter((a) => !a.acknowledged);
    const data = { open: open.length, unacknowledged: unacknowledged.length, alerts: open.map((a) => ({ id: a.alert_id, key: a.alert_key, metric: a.metric, level: a.level, since: a.opened_day, acknowledged: a.acknowledged })) };
    if (unacknowledged.length > 0) {
      const said = unacknowledged.map((a) => {
        const change = `${a.relative_increase >= 0 ? '+' : ''}${(a.relative_increase * 100).toFixed(0)}%`;
        return a.metric === 'budget' ? `budget ${a.alert_key} ${a.level} (forecast ${change})` : `${a.alert_key} ${a.metric} CPP ${change} since ${a.opened_day}`;
      });
      return warn(
        `${open.length} open alert${open.length === 1 ? '' : 's'}, ${unacknowledged.length} not acknowledged: ${some(said, 2)}`,
        'inferledger alerts list --open; once understood, `inferledger alerts ack <id> --reason expected|planned`',
        data,
      );
    }
    return ok(open.length === 0 ? 'no open alerts' : `${open.length} open alert${open.length === 1 ? '' : 's'}, all acknowledged`, data);
  },
};
