/**
 * `taskgate accounts …` and `taskgate tokens …`: accounts and their tokens, offline on the data
 * dir's store (the admin API does the same on a running gateway). Outputs are the ones scripts
 * and tests rely on: JSON for what is created, tab-separated lines for lists.
 */
import type { Command } from 'commander';
import type { AccountPatch, AccountRecord, TokenPatch, TokenRecord, TokenService } from '../accounts/tokens.js';
import { parseExpiry } from '../accounts/validate.js';

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`${flag} must be a positive integer`);
  return Number(value);
}

interface Flags {
  name?: string;
  services?: string;
  expires?: string;
  rps?: string;
  concurrency?: string;
  account?: string;
  enable?: boolean;
  disable?: boolean;
}

/** A flag's value, with `none` (update only) meaning "clear it" (null). */
function clearable<T>(value: string | undefined, canClear: boolean, parse: (v: string) => T): T | null | undefined {
  if (value === undefined) return undefined;
  return canClear && value === 'none' ? null : parse(value);
}

/** The options of `tokens create` / `tokens update` as a patch (values are checked by TokenService). */
function tokenPatch(values: Flags, update: boolean): TokenPatch {
  const patch: TokenPatch = {};
  if (values.name !== undefined) patch.name = values.name;
  if (values.services !== undefined) patch.allowedServices = values.services.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const expires = clearable(values.expires, update, (v) => parseExpiry(v, '--expires'));
  if (expires !== undefined) patch.expiresAt = expires;
  const rps = clearable(values.rps, update, (v) => positiveInt(v, '--rps')!);
  if (rps !== undefined) patch.rateLimitRps = rps;
  if (values.enable) patch.disabled = false;
  return patch;
}

/** The options of `accounts create` / `accounts update` (and `tokens create --concurrency`) as a patch. */
function accountPatch(values: Flags, update: boolean): AccountPatch {
  const patch: AccountPatch = {};
  if (values.name !== undefined) patch.name = values.name;
  const rps = clearable(values.rps, update, (v) => positiveInt(v, '--rps')!);
  if (rps !== undefined) patch.rateLimitRps = rps;
  const concurrency = clearable(values.concurrency, update, (v) => positiveInt(v, '--concurrency')!);
  if (concurrency !== undefined) patch.maxConcurrency = concurrency;
  if (values.enable) patch.disabled = false;
  if (values.disable) patch.disabled = true;
  return patch;
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
const limit = (v: number | null): string => (v === null ? '-' : String(v));

function tokenLine(t: TokenRecord): string {
  const state = t.disabled ? 'disabled' : 'active';
  return [t.id, t.name, iso(t.createdAt), t.allowedServices.join(','), `expires=${iso(t.expiresAt)}`, state, `account=${t.accountId}`].join('\t');
}

function accountLine(a: AccountRecord): string {
  const state = a.disabled ? 'disabled' : 'active';
  return [a.id, a.name, iso(a.createdAt), `rps=${limit(a.rateLimitRps)}`, `concurrency=${limit(a.maxConcurrency)}`, state].join('\t');
}

const tokenJson = (record: TokenRecord, token: string) => ({
  id: record.id, account_id: record.accountId, name: record.name, allowed_services: record.allowedServices,
  expires_at: record.expiresAt === null ? null : iso(record.expiresAt), token,
});

type WithTokens = (fn: (tokens: TokenService) => Promise<void>) => Promise<void>;
const print = (line: string): void => void process.stdout.write(`${line}\n`);

function addAccountCommands(program: Command, withTokens: WithTokens): void {
  const accounts = program
    .command('accounts')
    .description('manage accounts offline, on the data dir (an account owns tasks, credits, webhook secrets and limits; tokens are its credentials)');
  accounts
    .command('create <name>')
    .description('create an account (printed as a tab-separated line; add tokens with `tokens create --account`)')
    .option('--rps <N>', 'requests per second of all its tokens together')
    .option('--concurrency <N>', 'cap on its running tasks')
    .action(async (name: string, values: Flags) => {
      await withTokens(async (t) => print(accountLine(await t.createAccount({ ...accountPatch(values, false), name }))));
    });
  accounts
    .command('update <id>')
    .description('change an account (`none` clears a limit)')
    .option('--name <N>', 'new name')
    .option('--rps <N|none>', 'requests per second of all its tokens together, or none')
    .option('--concurrency <N|none>', 'cap on its running tasks, or none')
    .option('--disable', 'disable the account (all its tokens answer `disabled`)')
    .option('--enable', 'enable a disabled account')
    .action(async (id: string, values: Flags) => {
      await withTokens(async (t) => {
        const patch = accountPatch(values, true);
        if (Object.keys(patch).length === 0) throw new Error('accounts update: nothing to change');
        const record = await t.updateAccount(id, patch);
        if (!record) throw new Error(`no account ${id}`);
        print(accountLine(record));
      });
    });
  accounts
    .command('list')
    .description('list accounts (tab-separated)')
    .action(async () => withTokens(async (t) => (await t.listAccounts()).forEach((a) => print(accountLine(a)))));
}

function addTokenCommands(program: Command, withTokens: WithTokens): void {
  const tokens = program
    .command('tokens')
    .description('manage API tokens offline, on the data dir (stop the gateway first, or use the admin API)');
  tokens
    .command('create <name>')
    .description('create an API token (printed once, as JSON), optionally scoped; in a new account unless --account')
    .option('--account <id>', 'the account it acts for (default: a new account named after the token)')
    .option('--services <a,b>', 'glob patterns of the services it may use (default: all)')
    .option('--expires <ISO>', 'expiry time, ISO 8601 with a time zone')
    .option('--rps <N>', 'its own requests-per-second limit')
    .option('--concurrency <N>', 'cap on running tasks of the new account (an account setting)')
    .action(async (name: string, values: Flags) => {
      if (values.account !== undefined && values.concurrency !== undefined) {
        throw new Error('--concurrency is an account setting: use `taskgate accounts update <id> --concurrency N`');
      }
      await withTokens(async (t) => {
        const where = values.account !== undefined ? { accountId: values.account } : { account: accountPatch({ concurrency: values.concurrency }, false) };
        const { record, token } = await t.create(name, tokenPatch(values, false), where);
        print(JSON.stringify(tokenJson(record, token)));
      });
    });
  tokens
    .command('update <id>')
    .description('change a token (`none` clears a setting)')
    .option('--name <N>', 'new name')
    .option('--services <a,b>', 'glob patterns of the services it may use')
    .option('--expires <ISO|none>', 'expiry time, or none')
    .option('--rps <N|none>', 'its own requests-per-second limit, or none')
    .option('--enable', 'enable a disabled token')
    .action(async (id: string, values: Flags) => {
      await withTokens(async (t) => {
        const patch = tokenPatch(values, true);
        if (Object.keys(patch).length === 0) throw new Error('tokens update: nothing to change');
        const record = await t.update(id, patch);
        if (!record) throw new Error(`no token ${id}`);
        print(tokenLine(record));
      });
    });
  tokens
    .command('list')
    .description('list tokens (tab-separated; never the token itself)')
    .option('--account <id>', 'only this account’s')
    .action(async (values: Flags) => withTokens(async (t) => (await t.list(values.account)).forEach((r) => print(tokenLine(r)))));
  tokens
    .command('rotate <id>')
    .description('give a token a new secret (printed once, as JSON); the old one stops working at once')
    .action(async (id: string) => {
      await withTokens(async (t) => {
        const rotated = await t.rotate(id);
        if (!rotated) throw new Error(`no token ${id}`);
        print(JSON.stringify(tokenJson(rotated.record, rotated.token)));
      });
    });
  tokens
    .command('disable <id>')
    .description('disable a token')
    .action(async (id: string) => {
      await withTokens(async (t) => {
        if (!(await t.disable(id))) throw new Error(`no token ${id}`);
        print(`disabled ${id}`);
      });
    });
  tokens
    .command('delete <id>')
    .description('delete a token (its account and everything the account owns stay)')
    .action(async (id: string) => {
      await withTokens(async (t) => {
        if (!(await t.delete(id))) throw new Error(`no token ${id}`);
        print(`deleted ${id}`);
      });
    });
}

/** Adds `accounts …` and `tokens …` to `program`, each command working through `withTokens`. */
export function addAccountAndTokenCommands(program: Command, withTokens: WithTokens): void {
  addTokenCommands(program, withTokens);
  addAccountCommands(program, withTokens);
}
