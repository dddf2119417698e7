/** The SQLite driver passes the shared WebhookStore contract (its task store writes the outbox). */
import { join } from 'node:path';
import { openDatabase } from '../src/store/sqlite/db.js';
import { createSqliteTaskStore } from '../src/store/sqlite/task-store.js';
import { createSqliteWebhookStore } from '../src/store/sqlite/webhook-store.js';
import { tempDir } from './helpers.js';
import { runWebhookStoreSuite } from './webhook-store-contract.js';

runWebhookStoreSuite('sqlite', () => {
  const db = openDatabase(join(tempDir(), 'w.db'));
  const tasks = createSqliteTaskStore(db);
  return { tasks, hooks: createSqliteWebhookStore(db), close: () => tasks.close() };
});
