/** The Postgres driver passes the shared AccountStore and LedgerStore contract, each test on a fresh database. */
import { runAccountLedgerSuite } from './account-ledger-contract.js';
import { freshPostgresStores, postgresUnavailable } from './pg.js';

const skip = (await postgresUnavailable()) ?? false;

runAccountLedgerSuite('postgres', async () => {
  const stores = await freshPostgresStores();
  return { accounts: stores.accounts, ledger: stores.ledger, close: stores.close };
}, { skip });
