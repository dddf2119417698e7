/** The SQLite driver of the AccountStore contract (accounts, their tokens, gateway settings). */
import type { AccountPatch, AccountRecord, AccountStore, TokenPatch, TokenRecord } from '../../accounts/records.js';
import {
  ACCOUNT_COLUMNS, PRINCIPAL_COLUMNS, TOKEN_COLUMNS, principalAccount, toAccount, toToken, type AccountRow, type PrincipalRow, type TokenRow,
} from '../rows.js';
import type { Db } from './db.js';

type Value = string | number | null;

/** Present fields → `column = ?` assignments (null clears an optional one). */
function assignments(fields: Array<[string, Value | boolean | undefined]>): { sql: string; values: Value[] } {
  const present = fields.filter((f): f is [string, Value | boolean] => f[1] !== undefined);
  return {
    sql: present.map(([column]) => `${column} = ?`).join(', '),
    values: present.map(([, v]) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)),
  };
}

const tokenFields = (p: TokenPatch): Array<[string, Value | boolean | undefined]> => [
  ['name', p.name],
  ['allowed_services', p.allowedServices && JSON.stringify(p.allowedServices)],
  ['expires_at', p.expiresAt],
  ['disabled', p.disabled],
  ['rate_limit_rps', p.rateLimitRps],
];

const accountFields = (p: AccountPatch): Array<[string, Value | boolean | undefined]> => [
  ['name', p.name],
  ['disabled', p.disabled],
  ['rate_limit_rps', p.rateLimitRps],
  ['max_concurrency', p.maxConcurrency],
];

export function createSqliteAccountStore(db: Db): AccountStore {
  const insertAccount = db.prepare<[string, string, number, number, number | null, number | null]>(
    `INSERT INTO accounts (owner_id, name, created_at, disabled, rate_limit_rps, max_concurrency) VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const accountById = db.prepare<[string], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.owner_id = ?`);
  // Ledger rows may exist for owners that never had a token (created_at 0): they are listed too.
  const allAccounts = db.prepare<[], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.created_at, a.owner_id`);
  const insertToken = db.prepare<[string, string, string, string, number, string, number | null, number, number | null]>(
    `INSERT INTO tokens (id, account_id, name, token_hash, created_at, allowed_services, expires_at, disabled, rate_limit_rps)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const byHash = db.prepare<[string], PrincipalRow>(
    `SELECT ${PRINCIPAL_COLUMNS}
     FROM tokens k JOIN accounts a ON a.owner_id = k.account_id WHERE k.token_hash = ?`,
  );
  const tokenById = db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens k WHERE k.id = ?`);
  const allTokens = db.prepare<[], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens k ORDER BY k.created_at, k.id`);
  const accountTokens = db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens k WHERE k.account_id = ? ORDER BY k.created_at, k.id`);
  const setHash = db.prepare<[string, string]>('UPDATE tokens SET token_hash = ? WHERE id = ?');
  const del = db.prepare<[string]>('DELETE FROM tokens WHERE id = ?');
  const getSetting = db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck();
  const setSetting = db.prepare<[string, string]>(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const findToken = (id: string): TokenRecord | null => {
    const row = tokenById.get(id);
    return row ? toToken(row) : null;
  };
  const findAccount = (id: string): AccountRecord | null => {
    const row = accountById.get(id);
    return row ? toAccount(row) : null;
  };
  const addAccount = (a: AccountRecord): void =>
    void insertAccount.run(a.id, a.name, a.createdAt, a.disabled ? 1 : 0, a.rateLimitRps, a.maxConcurrency);
  const update = <T>(table: string, key: string, fields: Array<[string, Value | boolean | undefined]>, read: (id: string) => T) =>
    db.transaction((id: string): T => {
      const { sql, values } = assignments(fields);
      if (sql !== '') db.prepare(`UPDATE ${table} SET ${sql} WHERE ${key} = ?`).run(...values, id);
      return read(id);
    });
  const addToken = db.transaction((rec: TokenRecord & { hash: string }, account?: AccountRecord) => {
    if (account) addAccount(account);
    if (!accountById.get(rec.accountId)) throw new Error(`no account ${rec.accountId}`);
    insertToken.run(
      rec.id, rec.accountId, rec.name, rec.hash, rec.createdAt, JSON.stringify(rec.allowedServices), rec.expiresAt,
      rec.disabled ? 1 : 0, rec.rateLimitRps,
    );
  });
  return {
    insertAccount: async (rec) => addAccount(rec),
    getAccount: async (id) => findAccount(id),
    listAccounts: async () => allAccounts.all().map(toAccount),
    updateAccount: async (id, patch) => update('accounts', 'owner_id', accountFields(patch), findAccount)(id),
    insertToken: async (rec, account) => addToken(rec, account),
    findTokenByHash: async (hash) => {
      const row = byHash.get(hash);
      if (!row) return null;
      return { token: toToken(row), account: principalAccount(row) };
    },
    getToken: async (id) => findToken(id),
    listTokens: async (accountId) => (accountId === undefined ? allTokens.all() : accountTokens.all(accountId)).map(toToken),
    updateToken: async (id, patch) => update('tokens', 'id', tokenFields(patch), findToken)(id),
    replaceTokenHash: async (id, hash) => (setHash.run(hash, id).changes === 1 ? findToken(id) : null),
    deleteToken: async (id) => del.run(id).changes === 1,
    getSetting: async (key) => getSetting.get(key) ?? null,
    setSetting: async (key, value) => void setSetting.run(key, value),
  };
}
