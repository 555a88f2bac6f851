/**
 * A query endpoint on a test warehouse's database, as the service starts one:
 * on a warehouse session of its own (never the writing one), on a free port
 * of 127.0.0.1, under the `queries` defaults and any overrides given.
 */
import { configSchema, type Config } from '../../src/config/config.js';
import { startQueryEndpoint, type QueryEndpoint } from '../../src/service/query-endpoint.js';
import { openWarehouse, type Warehouse } from '../../src/warehouse/warehouse.js';
import { testWarehouseConfig } from './warehouse.js';

export interface TestEndpoint {
  endpoint: QueryEndpoint;
  /** The endpoint's own warehouse session. */
  session: Warehouse;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** What the endpoint logged. */
  log: string[];
  close(): Promise<void>;
}

export async function startTestEndpoint(database: string, options: { password?: string; queries?: Partial<Config['queries']> } = {}): Promise<TestEndpoint> {
  const session = await openWarehouse(testWarehouseConfig(database));
  const log: string[] = [];
  const endpoint = await startQueryEndpoint({
    warehouse: session, host: '127.0.0.1', port: 0, password: options.password,
    queries: configSchema.shape.queries.parse(options.queries ?? {}), log: (line) => { log.push(line); },
  });
  return {
    endpoint, session, log, base: `http://127.0.0.1:${endpoint.port}`,
    close: async () => {
      await endpoint.close();
      await session.close();
    },
  };
}
