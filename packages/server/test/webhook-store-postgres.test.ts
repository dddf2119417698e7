/** The Postgres driver passes the shared WebhookStore and retention contracts, each test on a fresh database. */
import { freshPostgresStores, postgresUnavailable } from './pg.js';
import { runRetentionSuite } from './retention-contract.js';
import { runWebhookStoreSuite, type WebhookStores } from './webhook-store-contract.js';

const skip = (await postgresUnavailable()) ?? false;

/** The task and webhook stores of fresh Postgres stores; closing them drops the database. */
async function open(): Promise<WebhookStores> {
  const stores = await freshPostgresStores();
  return { tasks: stores.tasks, hooks: stores.webhooks, close: stores.close };
}

runWebhookStoreSuite('postgres', open, { skip });
runRetentionSuite('postgres', open, { skip });
