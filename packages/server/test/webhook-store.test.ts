/** The SQLite driver passes the shared WebhookStore contract (its task store writes the outbox) and the retention one. */
import { join } from 'node:path';
import { openDatabase } from '../src/store/sqlite/db.js';
import { createSqliteTaskStore } from '../src/store/sqlite/task-store.js';
import { createSqliteWebhookStore } from '../src/store/sqlite/webhook-store.js';
import { tempDir } from './helpers.js';
import { runRetentionSuite } from './retention-contract.js';
import { runWebhookStoreSuite, type WebhookStores } from './webhook-store-contract.js';

const open = (cacheSize = 0) => (): WebhookStores => {
  const db = openDatabase(join(tempDir(), 'w.db'));
  const tasks = createSqliteTaskStore(db, { cacheSize });
  return { tasks, hooks: createSqliteWebhookStore(db), close: () => tasks.close() };
};

runWebhookStoreSuite('sqlite', open());
runRetentionSuite('sqlite', open());
runRetentionSuite('sqlite with task cache', open(100));
