/**
 * The OpenAPI 3.1 document (`GET /openapi.json`) and its docs page (`GET /docs`, swagger-ui served
 * from node_modules: no network), both without a token. @fastify/swagger collects every route as
 * it is registered (so `registerOpenApi` runs before the routes, `registerDocs` after them).
 *
 * The schemas are documentation only, kept out of Fastify's validation on purpose: the dialects
 * validate with their own parsers and providers, and answer in their own envelopes with their own
 * messages (tests pin them). A `schema.body` on a route would make ajv validate first and answer
 * in Fastify's envelope. So routes carry no schema; swagger's `transform` hands the generator
 * each route's documentation (routes.ts), and `transformObject` adds one create path per
 * configured service and dialect, whose body is that service's provider's own validator as JSON
 * Schema (`Provider.inputSchema`) inside the dialect's envelope (envelopes.ts).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { ServiceDefinition, ServiceRegistry } from '../../core/services.js';
import type { JsonObject } from '../../core/types.js';
import { pkg } from '../ops.js';
import { apixoGenerateBody, jsonSchema, queueSubmitQuery, replicateCreateBody, replicatePreferHeader, taskApiCreateFields } from './envelopes.js';
import { routeDocs, type RouteDoc } from './routes.js';

const ANY_INPUT: JsonObject = { type: 'object', additionalProperties: true };
const SECURITY = { token: [{ token: [] }], admin: [{ admin: [] }], none: [] };

const inputOf = (def: ServiceDefinition): JsonObject => ({ title: def.name, ...(def.provider.inputSchema ?? ANY_INPUT) });
/** Fastify's `/:id` and `/*` as OpenAPI path templates. */
export const openapiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}');

function operation(doc: RouteDoc): JsonObject {
  return {
    summary: doc.summary, tags: [doc.tag], security: SECURITY[doc.auth],
    ...(doc.description ? { description: doc.description } : {}),
    ...(doc.body ? { body: doc.body } : {}),
    ...(doc.querystring ? { querystring: doc.querystring } : {}),
    ...(doc.headers ? { headers: doc.headers } : {}),
    ...(doc.params ? { params: doc.params } : {}),
  };
}

/** One create path per service and dialect name, with the body exactly as validated. */
function servicePaths(services: readonly ServiceDefinition[]): Record<string, JsonObject> {
  const paths: Record<string, JsonObject> = {};
  const post = (tag: string, summary: string, requestBody: JsonObject, extra: JsonObject = {}): JsonObject => ({
    post: { tags: [tag], summary, security: SECURITY.token, requestBody: { required: true, content: { 'application/json': { schema: requestBody } } }, responses: { 200: { description: 'The task (or its result)' } }, ...extra },
  });
  const parameters = (schema: JsonObject, where: 'query' | 'header'): JsonObject[] =>
    Object.entries((schema.properties ?? {}) as Record<string, JsonObject>).map(([name, s]) => ({ name, in: where, required: false, schema: s, ...(s.description === undefined ? {} : { description: s.description }) }));
  for (const def of services) {
    const input = inputOf(def);
    paths[`/v1/${def.name}`] = post('task-api', `Create a ${def.name} task`, { allOf: [input, jsonSchema(taskApiCreateFields)] });
    const apixo = jsonSchema(apixoGenerateBody);
    for (const alias of def.aliases.apixo ?? []) {
      paths[`/api/v1/generateTask/${alias}`] = post('apixo', `Create a ${def.name} task (APIXO model ${alias})`, { ...apixo, properties: { ...(apixo.properties as JsonObject), input } });
    }
    for (const alias of def.aliases.queue ?? []) {
      paths[`/v1/queue/${alias}`] = post('queue', `Submit a ${def.name} request (fal endpoint ${alias})`, input, { parameters: parameters(jsonSchema(queueSubmitQuery), 'query') });
    }
    const replicate = jsonSchema(replicateCreateBody(false));
    for (const alias of def.aliases.replicate ?? []) {
      paths[`/v1/models/${alias}/predictions`] = post('replicate', `Create a ${def.name} prediction (Replicate model ${alias})`, { ...replicate, properties: { ...(replicate.properties as JsonObject), input } }, {
        parameters: parameters(jsonSchema(replicatePreferHeader), 'header'),
      });
    }
  }
  return paths;
}

/** Registers the generator; call before any route is added. */
export async function registerOpenApi(app: FastifyInstance, services: ServiceRegistry): Promise<void> {
  const all = services.all();
  const anyService = (f: (d: ServiceDefinition) => JsonObject): JsonObject => ({ anyOf: all.map(f) });
  const docs = routeDocs({
    taskApi: anyService((d) => ({ allOf: [inputOf(d), jsonSchema(taskApiCreateFields)] })),
    queue: anyService(inputOf),
    apixoInput: anyService(inputOf),
    replicateInput: anyService(inputOf),
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'taskgate', version: pkg.version, description: 'A self-hostable gateway for async AI-generation tasks: four wire formats (task API, APIXO, fal queue, Replicate), the account and webhook APIs, and the admin API.' },
      components: {
        securitySchemes: {
          token: { type: 'http', scheme: 'bearer', description: 'An API token (tg_…); fal clients send "Key tg_…".' },
          admin: { type: 'http', scheme: 'bearer', description: 'The admin token (tga_…).' },
        },
      },
    },
    transform: ({ url, route }) => {
      // A route may serve several methods (@fastify/static's HEAD and GET): any one's entry documents it.
      const doc = [route.method].flat().map((method) => docs[`${method} ${url}`]).find(Boolean);
      // Routes their plugin hides (the docs page's assets; @fastify/static's files route) stay
      // hidden unless documented here; an undocumented route shows bare (and fails the route test).
      if (route.schema?.hide && !doc) return { schema: route.schema, url };
      return { schema: doc ? operation(doc) : {}, url: openapiPath(url) };
    },
    transformObject: (documentObject) => {
      const doc = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      return { ...doc, paths: { ...(doc.paths ?? {}), ...servicePaths(all) } } as typeof doc;
    },
  });
}

/** `/openapi.json` and the `/docs` page; call once every route is registered. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', async () => app.swagger());
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
}
