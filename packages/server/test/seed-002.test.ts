/**
 * Seed 002's own client code against a local gateway: its `waitForResult` polling function,
 * copied verbatim (the constant below is the seed's text byte for byte); at run time only the
 * base URL is swapped for the gateway's, and the key is our test token, passed as the seed's own
 * `apiKey` argument.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { wavDurationSec } from '../src/providers/demo/render-audio.js';
import { startGateway } from './helpers.js';

/** Seed 002, "Polling Example", verbatim. */
const SEED_002_WAIT_FOR_RESULT = `async function waitForResult(model, taskId, apiKey) {
  const maxAttempts = 60;
  const pollInterval = 3000; // 3 seconds
  
  for (let i = 0; i < maxAttempts; i++) {
    const response = await fetch(
      \`https://api.apixo.ai/api/v1/statusTask/\${model}?taskId=\${taskId}\`,
      { headers: { 'Authorization': \`Bearer \${apiKey}\` } }
    );
    
    const { data } = await response.json();
    
    switch (data.state) {
      case 'success':
        return JSON.parse(data.resultJson).resultUrls;
      case 'failed':
        throw new Error(\`\${data.failCode}: \${data.failMsg}\`);
      default:
        await new Promise(r => setTimeout(r, pollInterval));
    }
  }
  
  throw new Error('Timeout waiting for result');
}`;

type WaitForResult = (model: string, taskId: string, apiKey: string) => Promise<string[]>;

/** The seed's function with only its base URL pointed at `base`. */
function seedWaitForResult(base: string): WaitForResult {
  const parts = SEED_002_WAIT_FOR_RESULT.split('https://api.apixo.ai');
  assert.equal(parts.length, 2, 'the seed names its base URL exactly once');
  const source = parts.join(base);
  return new Function(`${source}\nreturn waitForResult;`)() as WaitForResult;
}

/** Submits as APIXO's docs do (fetch, Bearer key, request_type async); returns the taskId. */
async function generateTask(base: string, apiKey: string, model: string, input: object): Promise<string> {
  const response = await fetch(`${base}/api/v1/generateTask/${model}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ request_type: 'async', input }),
  });
  const { code, message, data } = (await response.json()) as { code: number; message: string; data: { taskId: string } };
  assert.deepEqual([response.status, code, message], [200, 200, 'success']);
  return data.taskId;
}

test("seed 002's waitForResult returns downloadable result URLs, and throws the failCode on failure", { timeout: 30_000 }, async () => {
  const t = await startGateway();
  try {
    const waitForResult = seedWaitForResult(t.url);
    const image = await generateTask(t.url, t.token, 'midjourney', { prompt: 'A futuristic city at sunset', width: 128, height: 72 });
    const audio = await generateTask(t.url, t.token, 'suno', { prompt: 'lofi beat', duration: 1 });
    const refused = await generateTask(t.url, t.token, 'midjourney', { prompt: 'a forbidden-demo-word' });
    const [imageUrls, audioUrls, failure] = await Promise.all([
      waitForResult('midjourney', image, t.token),
      waitForResult('suno', audio, t.token),
      waitForResult('midjourney', refused, t.token).then(() => null, (err: Error) => err),
    ]);

    assert.equal(imageUrls.length, 1);
    assert.ok(imageUrls[0]!.startsWith(`${t.url}/files/`), imageUrls[0]);
    const img = await fetch(imageUrls[0]!);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/png');
    const png = PNG.sync.read(Buffer.from(await img.arrayBuffer()));
    assert.deepEqual([png.width, png.height], [128, 72]);

    assert.equal(audioUrls.length, 1);
    const wav = await fetch(audioUrls[0]!);
    assert.equal(wav.status, 200);
    assert.equal(wav.headers.get('content-type'), 'audio/wav');
    const bytes = Buffer.from(await wav.arrayBuffer());
    assert.equal(bytes.subarray(0, 4).toString(), 'RIFF');
    assert.equal(wavDurationSec(bytes), 1);

    assert.ok(failure instanceof Error, 'a failed task makes the seed function throw');
    assert.match(failure.message, /^CONTENT_VIOLATION: \S/);
  } finally {
    await t.close();
  }
});
