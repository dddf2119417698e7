/** The Postgres driver of the AccountStore contract (accounts, their tokens, gateway settings). */
import type { AccountPatch, AccountRecord, AccountStore, TokenPatch, TokenRecord } from '../../accounts/records.js';
import type { QueryResultRow } from 'pg';
import {
  ACCOUNT_COLUMNS, PRINCIPAL_COLUMNS, TOKEN_COLUMNS, principalAccount, toAccount, toToken, type AccountRow, type PrincipalRow, type TokenRow,
} from '../rows.js';
import { transaction, type Pool } from './db.js';
import type { Queryable } from './parts.js';

/** The same columns without their table alias (for statements on the table alone). */
const bare = (columns: string): string => columns.replace(/\b[ak]\./g, '');

type Value = string | number | boolean | null;

const tokenFields = (p: TokenPatch): Array<[string, Value | undefined]> => [
  ['name', p.name],
  ['allowed_services', p.allowedServices && JSON.stringify(p.allowedServices)],
  ['expires_at', p.expiresAt],
  ['disabled', p.disabled],
  ['rate_limit_rps', p.rateLimitRps],
];

const accountFields = (p: AccountPatch): Array<[string, Value | undefined]> => [
  ['name', p.name],
  ['disabled', p.disabled],
  ['rate_limit_rps', p.rateLimitRps],
  ['max_concurrency', p.maxConcurrency],
];

/**
 * Applies the present fields (null clears an optional one) and returns the row as it is after,
 * in one statement; with no field present, just reads it. Null if there is no such row.
 */
async function patchRow<Row extends QueryResultRow>(pool: Pool, table: string, key: string, columns: string, id: string, fields: Array<[string, Value | undefined]>): Promise<Row | null> {
  const present = fields.filter((f): f is [string, Value] => f[1] !== undefined);
  const values = present.map(([, v]) => v);
  const { rows } = present.length === 0
    ? await pool.query<Row>(`SELECT ${bare(columns)} FROM ${table} WHERE ${key} = $1`, [id])
    : await pool.query<Row>(
      `UPDATE ${table} SET ${present.map(([column], i) => `${column} = $${i + 1}`).join(', ')}
       WHERE ${key} = $${present.length + 1} RETURNING ${bare(columns)}`,
      [...values, id],
    );
  return rows[0] ?? null;
}

async function addAccount(c: Queryable, a: AccountRecord): Promise<void> {
  await c.query(
    'INSERT INTO accounts (owner_id, name, created_at, disabled, rate_limit_rps, max_concurrency) VALUES ($1, $2, $3, $4, $5, $6)',
    [a.id, a.name, a.createdAt, a.disabled, a.rateLimitRps, a.maxConcurrency],
  );
}

export function createPostgresAccountStore(pool: Pool): AccountStore {
  const findToken = async (id: string): Promise<TokenRecord | null> => {
    const { rows } = await pool.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens k WHERE k.id = $1`, [id]);
    return rows[0] ? toToken(rows[0]) : null;
  };
  const findAccount = async (c: Queryable, id: string): Promise<AccountRecord | null> => {
    const { rows } = await c.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.owner_id = $1`, [id]);
    return rows[0] ? toAccount(rows[0]) : null;
  };

  return {
    insertAccount: (rec) => addAccount(pool, rec),
    getAccount: (id) => findAccount(pool, id),

    async listAccounts() {
      // Ledger rows may exist for owners that never had a token (created_at 0): they are listed too.
      const { rows } = await pool.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.created_at, a.owner_id COLLATE "C"`);
      return rows.map(toAccount);
    },

    async updateAccount(id, patch) {
      const row = await patchRow<AccountRow>(pool, 'accounts', 'owner_id', ACCOUNT_COLUMNS, id, accountFields(patch));
      return row ? toAccount(row) : null;
    },

    insertToken: (rec, account) =>
      transaction(pool, async (c) => {
        if (account) await addAccount(c, account);
        if (!(await findAccount(c, rec.accountId))) throw new Error(`no account ${rec.accountId}`);
        await c.query(
          `INSERT INTO tokens (id, account_id, name, token_hash, created_at, allowed_services, expires_at, disabled, rate_limit_rps)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [rec.id, rec.accountId, rec.name, rec.hash, rec.createdAt, JSON.stringify(rec.allowedServices), rec.expiresAt, rec.disabled, rec.rateLimitRps],
        );
      }),

    async findTokenByHash(hash) {
      const { rows } = await pool.query<PrincipalRow>(
        `SELECT ${PRINCIPAL_COLUMNS}
         FROM tokens k JOIN accounts a ON a.owner_id = k.account_id WHERE k.token_hash = $1`,
        [hash],
      );
      const row = rows[0];
      if (!row) return null;
      return { token: toToken(row), account: principalAccount(row) };
    },

    getToken: (id) => findToken(id),

    async listTokens(accountId) {
      const { rows } = accountId === undefined
        ? await pool.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens k ORDER BY k.created_at, k.id COLLATE "C"`)
        : await pool.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens k WHERE k.account_id = $1 ORDER BY k.created_at, k.id COLLATE "C"`, [accountId]);
      return rows.map(toToken);
    },

    async updateToken(id, patch) {
      const row = await patchRow<TokenRow>(pool, 'tokens', 'id', TOKEN_COLUMNS, id, tokenFields(patch));
      return row ? toToken(row) : null;
    },

    async replaceTokenHash(id, hash) {
      const { rows } = await pool.query<TokenRow>(`UPDATE tokens SET token_hash = $1 WHERE id = $2 RETURNING ${bare(TOKEN_COLUMNS)}`, [hash, id]);
      return rows[0] ? toToken(rows[0]) : null;
    },

    async deleteToken(id) {
      return (await pool.query('DELETE FROM tokens WHERE id = $1', [id])).rowCount === 1;
    },

    async getSetting(key) {
      const { rows } = await pool.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
      return rows[0]?.value ?? null;
    },

    async setSetting(key, value) {
      await pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
    },
  };
}
