/**
 * The dashboard's task, service and identity routes (docs/dashboard-api.md), registered twice:
 * under `/admin` for the operator (every account) and under `/v1/account` for an account's own
 * tokens (its own tasks only: another account's task answers exactly as an unknown one).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify';
import { Readable } from 'node:stream';
import { serviceAllowed } from '../../accounts/tokens.js';
import { GatewayError } from '../../core/errors.js';
import type { LedgerStore, LiveCount, TaskFilter, WebhookStore } from '../../core/ports.js';
import type { JsonObject, Task } from '../../core/types.js';
import type { ChannelView } from '../../dispatch/channels.js';
import { accountView, tokenView } from '../admin-views.js';
import { ownerOf } from '../auth.js';
import { scopeHook, scopeOf } from './scope.js';
import type { DialectContext } from '../context.js';
import { baseUrl } from '../request.js';
import { serviceEntry } from '../ops.js';
import { renderDelivery } from '../webhooks-api.js';
import { MAX_DELIVERIES, taskDetail } from './detail.js';
import { taskFilter } from './query.js';
import { taskSummary, type DashboardScope } from './views.js';

export interface DashboardDeps {
  webhooks: WebhookStore;
  ledger: LedgerStore;
  /** Relay channels with their health and caps (admin only). */
  channels: () => Promise<ChannelView[]>;
  /** Tells this process's delivery workers to look now (a redelivery goes out at once). */
  wakeWebhooks: () => void;
  /** The task as its dialect renders it for its client (its webhook payload's shape), file links under `base`. */
  render: (task: Task, base: string) => Promise<JsonObject>;
}

/** Most rows one CSV export holds; read from the store in pages of EXPORT_PAGE. */
export const EXPORT_MAX_ROWS = 100_000;
const EXPORT_PAGE = 1000;
const MAX_ID = 200;

export const CSV_COLUMNS = [
  'id', 'account_id', 'service', 'dialect', 'state', 'channel', 'price', 'attempts', 'error_code', 'error_message',
  'created_at', 'started_at', 'finished_at', 'duration_ms',
] as const;

const notFound = (id: string): GatewayError => new GatewayError('not_found', `Task ${id} not found`);

/**
 * The routes for one kind of caller: `admin` (mounted at /admin) or `account` (mounted at
 * /v1/account). The scope of a request is the admin's, or the account of the token it presented.
 */
export function dashboardTasksPlugin(ctx: DialectContext, kind: DashboardScope['kind'], deps: DashboardDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', scopeHook(ctx, kind));
    const taskOf = async (req: FastifyRequest, id: string): Promise<Task> => {
      const scope = scopeOf(req, kind);
      const task = id.length > MAX_ID ? null : scope.kind === 'admin' ? await ctx.tasks.getUnscoped(id) : await ctx.tasks.get(scope.accountId, id);
      if (!task) throw notFound(id);
      return task;
    };

    if (kind === 'admin') {
      app.get('/whoami', async () => ({ role: 'admin' }));
    } else {
      app.get('/', async (req) => {
        const { account, token } = ownerOf(req);
        return { role: 'account', account: accountView(account, await deps.ledger.account(account.id)), token: tokenView(token) };
      });
      app.get('/tokens', async (req) => {
        const items = (await ctx.tokens.list(ownerOf(req).account.id)).map(tokenView);
        return { items, count: items.length };
      });
    }

    app.get('/tasks', async (req) => {
      const filter = taskFilter(req.query, scopeOf(req, kind), true);
      const found = await ctx.tasks.search({ ...filter, limit: filter.limit + 1 });
      const shown = found.slice(0, filter.limit);
      return {
        items: shown.map((l) => taskSummary(l.task, l.channel)),
        count: shown.length,
        next_before: found.length > filter.limit ? shown.at(-1)!.task.id : null,
      };
    });

    app.get('/tasks/export.csv', async (req, reply) => exportCsv(reply, taskFilter(req.query, scopeOf(req, kind), false)));

    app.get<{ Params: { id: string } }>('/tasks/:id', async (req) => {
      const task = await taskOf(req, req.params.id);
      const base = baseUrl(req, ctx.config.publicUrl);
      return taskDetail(task, ctx.fileLinks(base), {
        webhooks: deps.webhooks, ledger: deps.ledger, logs: (t) => ctx.tasks.logs(t), upstream: (id) => ctx.tasks.upstream.get(id),
        response: (t) => deps.render(t, base),
      });
    });

    app.post<{ Params: { id: string; delivery: string } }>('/tasks/:id/deliveries/:delivery/redeliver', async (req) => {
      const task = await taskOf(req, req.params.id);
      const id = req.params.delivery;
      // The delivery must be this task's before anything is queued (the store redelivers by owner and id).
      const known = (await deps.webhooks.listDeliveries(task.ownerId, { taskId: task.id, limit: MAX_DELIVERIES })).find((d) => d.id === id);
      const delivery = known ? await deps.webhooks.redeliver(task.ownerId, id, ctx.tasks.now()) : null;
      if (!known || !delivery) throw new GatewayError('not_found', `Delivery ${id} of task ${task.id} not found`);
      req.log.info({ delivery_id: id, task_id: task.id, by: kind }, 'webhook redelivery requested');
      deps.wakeWebhooks();
      return renderDelivery(delivery, known.log);
    });

    app.get('/services', async (req) => {
      const defs = ctx.tasks.services.all();
      if (kind === 'account') {
        const token = ownerOf(req).token;
        const items = defs.filter((d) => serviceAllowed(token, d.name)).map(serviceEntry);
        return { items, count: items.length };
      }
      const [live, channels] = await Promise.all([ctx.tasks.countLive(), deps.channels()]);
      const count = (service: string, state: LiveCount['state']) => live.find((l) => l.service === service && l.state === state)?.count ?? 0;
      const items = defs.map((d) => ({
        ...serviceEntry(d), concurrency: d.concurrency, timeout_ms: d.timeoutMs, queued: count(d.name, 'queued'), running: count(d.name, 'running'),
        channels: channels.filter((c) => c.service === d.name),
      }));
      return { items, count: items.length };
    });

    /**
     * Every matching task as CSV, newest first, read page by page while the answer streams out. A
     * cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` …, e.g. an upstream's error
     * text) is quoted as text.
     */
    async function exportCsv(reply: FastifyReply, filter: TaskFilter): Promise<FastifyReply> {
      // The first page is read before answering, so a store error is still a clean error answer.
      let page = await ctx.tasks.search({ ...filter, limit: EXPORT_PAGE });
      let sent = 0;
      const rows = async function* () {
        while (page.length > 0) {
          for (const { task, channel } of page) {
            if (sent === EXPORT_MAX_ROWS) return;
            sent++;
            const s = taskSummary(task, channel);
            yield [s.id, s.account_id, s.service, s.dialect, s.state, s.channel, s.price, s.attempts, task.error?.code ?? null,
              task.error?.message ?? null, s.created_at, s.started_at, s.finished_at, s.duration_ms];
          }
          if (page.length < EXPORT_PAGE) return;
          page = await ctx.tasks.search({ ...filter, limit: EXPORT_PAGE, before: page.at(-1)!.task.id });
        }
      };
      const csv = Readable.from(rows()).pipe(stringify({ header: true, columns: [...CSV_COLUMNS], escape_formulas: true }));
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="tasks.csv"')
        .header('cache-control', 'no-store')
        .send(csv);
    }
  };
}
