/**
 * Accounts and tokens. An account owns everything a client makes and pays for: tasks, credits and
 * their ledger, webhook secrets, and the limits that apply to all of it (running tasks, request
 * rate). A token is one credential of an account: it can be replaced, rotated or deleted without
 * touching what the account owns, and it can be narrower than its account (services, expiry,
 * request rate). Task `ownerId`s are account ids.
 */

export interface AccountRecord {
  id: string;
  name: string;
  createdAt: number;
  /** Every token of a disabled account answers `disabled`. */
  disabled: boolean;
  /** Requests per second of all the account's tokens together; null = no account-wide limit. */
  rateLimitRps: number | null;
  /** Most running tasks of the account at once; null = the gateway's default. */
  maxConcurrency: number | null;
}

/** What can be set on an account (create and update). */
export interface AccountPatch {
  name?: string;
  disabled?: boolean;
  rateLimitRps?: number | null;
  maxConcurrency?: number | null;
}

export interface TokenRecord {
  id: string;
  /** The account the token acts for (the owner of the tasks it creates). */
  accountId: string;
  name: string;
  createdAt: number;
  /** Glob patterns over service names (`midjourney/*`, `flux/dev`, `*`); at least one. */
  allowedServices: string[];
  /** Unix ms after which the token answers `token_expired`; null = never. */
  expiresAt: number | null;
  disabled: boolean;
  /** The token's own requests per second; null = the gateway's default. */
  rateLimitRps: number | null;
}

/** What can be set when a token is created. */
export interface TokenSettings {
  allowedServices?: string[];
  expiresAt?: number | null;
  rateLimitRps?: number | null;
}

/** What can be changed afterwards. */
export interface TokenPatch extends TokenSettings {
  name?: string;
  disabled?: boolean;
}

/** Who a request acts as: the token it presented and the account that token belongs to. */
export interface Principal {
  token: TokenRecord;
  account: AccountRecord;
}

/**
 * Account and token persistence, plus the gateway's small settings (the admin token's hash, the
 * callback signing key). Asynchronous, like TaskStore, so network drivers fit the same contract.
 */
export interface AccountStore {
  insertAccount(rec: AccountRecord): Promise<void>;
  getAccount(id: string): Promise<AccountRecord | null>;
  /** Oldest first. */
  listAccounts(): Promise<AccountRecord[]>;
  /** Applies the fields present in `patch`; the updated record, or null if there is no such account. */
  updateAccount(id: string, patch: AccountPatch): Promise<AccountRecord | null>;
  /**
   * Stores a token of `rec.accountId`; with `newAccount`, that account is created in the same
   * transaction. Rejects if the account does not exist.
   */
  insertToken(rec: TokenRecord & { hash: string }, newAccount?: AccountRecord): Promise<void>;
  /** The token with this hash and its account, in one read; null if unknown. */
  findTokenByHash(hash: string): Promise<Principal | null>;
  getToken(id: string): Promise<TokenRecord | null>;
  /** Oldest first; only `accountId`'s when given. */
  listTokens(accountId?: string): Promise<TokenRecord[]>;
  updateToken(id: string, patch: TokenPatch): Promise<TokenRecord | null>;
  /** Replaces the token's secret (its hash); the old secret stops working at once. */
  replaceTokenHash(id: string, hash: string): Promise<TokenRecord | null>;
  deleteToken(id: string): Promise<boolean>;
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
}
