/** The Postgres driver passes the StatsStore contract, each test on a fresh database. */
import { freshPostgresStores, postgresUnavailable } from './pg.js';
import { runStatsSuite } from './stats-contract.js';

const skip = (await postgresUnavailable()) ?? false;

runStatsSuite('postgres', () => freshPostgresStores(), { skip });
