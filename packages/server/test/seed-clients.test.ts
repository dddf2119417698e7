/**
 * The seeds' own client code against a local gateway: seed 001's Python polling loop, verbatim but
 * for the base URL and token (skipped only where python3 + requests are missing).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway, tempDir } from './helpers.js';

const hasRequests = spawnSync('python3', ['-c', 'import requests'], { timeout: 10_000 }).status === 0;

const SEED_001_LOOP = (api: string, token: string) => `import time, requests

API = "${api}"
headers = {"Authorization": "Bearer ${token}"}

# 1. Create the task
r = requests.post(
    f"{API}/midjourney/imagine",
    headers=headers,
    json={"prompt": "A cat sitting on a table"},
).json()
task_id = r["task_id"]

# 2. Poll
while True:
    info = requests.post(
        f"{API}/midjourney/tasks",
        headers=headers,
        json={"action": "retrieve", "task_id": task_id},
    ).json()

    # Once finished_at is present, the task is done
    if info.get("finished_at"):
        print(info["response"])
        break

    time.sleep(5)
`;

test('seed 001 Python polling loop works with only the base URL and token changed', { skip: hasRequests ? false : 'python3 with requests not installed' }, async () => {
  const t = await startGateway();
  try {
    const file = join(tempDir(), 'seed001.py');
    writeFileSync(file, SEED_001_LOOP(`${t.url}/v1`, t.token));
    // Async: the gateway runs in this process and must keep serving while python polls it.
    const run = await promisify(execFile)('python3', [file], { encoding: 'utf8', timeout: 30_000 });
    assert.match(run.stdout, /'success': True/);
    assert.match(run.stdout, /'image_url': 'http:\/\/127\.0\.0\.1:\d+\/files\/[0-9a-f]{32}\/image\.png\?exp=\d+&kid=[A-Za-z0-9_-]+&sig=[A-Za-z0-9_-]{43}'/);
  } finally {
    await t.close();
  }
});
