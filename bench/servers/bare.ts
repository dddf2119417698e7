/**
 * The baseline: a bare Fastify 5 hello-world. `POST /` parses the JSON body and answers with a
 * small JSON object the size of the gateway's create answer. Logger off. Listens on 127.0.0.1,
 * port 0, and prints `{"url": …}` as one JSON line on stdout.
 */
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';

const app = Fastify({ logger: false });

app.post('/', async (req, reply) => {
  if (typeof req.body !== 'object' || req.body === null) return reply.code(400).send({ success: false });
  return { success: true, task_id: randomUUID(), trace_id: randomUUID() };
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  await app.close();
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
// The parent holds our stdin open; when it goes away (even killed), so do we.
process.stdin.on('end', () => void stop());
process.stdin.resume();

const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
