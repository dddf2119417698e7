/** The SQLite driver passes the shared AccountStore and LedgerStore contract. */
import { join } from 'node:path';
import { openDatabase } from '../src/store/sqlite/db.js';
import { createSqliteAccountStore } from '../src/store/sqlite/account-store.js';
import { createSqliteLedgerStore } from '../src/store/sqlite/ledger.js';
import { tempDir } from './helpers.js';
import { runAccountLedgerSuite } from './account-ledger-contract.js';

runAccountLedgerSuite('sqlite', () => {
  const db = openDatabase(join(tempDir(), 'accounts.db'));
  return { accounts: createSqliteAccountStore(db), ledger: createSqliteLedgerStore(db), close: async () => void db.close() };
});
