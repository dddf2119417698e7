/**
 * The CLI through a real terminal: `taskgate submit --wait` runs in a shell inside tmux (a
 * private server socket), against a live gateway on 127.0.0.1. The screen is read with
 * `capture-pane`: the progress bar is seen mid-run, the saved file decodes as a PNG of the
 * requested size, and Ctrl-C asks whether to cancel (y cancels on the gateway, N leaves it
 * running; both exit 130). Set TASKGATE_CLI_CAPTURE=<file> to keep the final screen of the first run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { removeDir, startGateway, tempDir, waitForTask, type TestGateway } from './helpers.js';
import { BIN, cliEnv, readPng } from './cli-run.js';

const exec = promisify(execFile);
const trimScreen = (text: string): string => text.split('\n').map((l) => l.trimEnd()).join('\n').replace(/\n+$/, '\n');
const TMUX = '/usr/bin/tmux';
const SOCKET = `taskgate-cli-${process.pid}-${Date.now()}`;

let t: TestGateway;
let dir: string;

async function tmux(...args: string[]): Promise<string> {
  const { stdout } = await exec(TMUX, ['-L', SOCKET, ...args], { timeout: 10_000 });
  return stdout;
}

/** A shell in a new tmux session (120×30) in `cwd`, with `taskgate` as a shell function running the bin. */
async function shell(name: string, cwd: string): Promise<void> {
  const rc = join(dir, 'bashrc');
  writeFileSync(rc, `PS1='$ '\nunset HISTFILE\ntaskgate() { node ${BIN} "$@"; }\n`);
  const env = cliEnv({ TASKGATE_URL: t.url, TASKGATE_TOKEN: t.token });
  await exec(TMUX, [
    '-L', SOCKET, '-f', '/dev/null', 'new-session', '-d', '-s', name, '-x', '120', '-y', '30', '-c', cwd,
    '-e', `TASKGATE_URL=${t.url}`, '-e', `TASKGATE_TOKEN=${t.token}`, `bash --noprofile --rcfile ${rc} -i`,
  ], { env, timeout: 10_000 });
  await screenMatching(name, /^\$\s*$/m, 10_000);
}

/** The visible screen, wrapped lines joined (-J), trailing spaces trimmed. */
async function screen(name: string): Promise<string> {
  return trimScreen(await tmux('capture-pane', '-p', '-J', '-t', name));
}

/** Polls the screen until `pattern` is on it (bounded); the screen and the match. */
async function screenMatching(name: string, pattern: RegExp, timeoutMs = 30_000): Promise<{ text: string; match: RegExpMatchArray }> {
  const end = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = await screen(name);
    const match = text.match(pattern);
    if (match) return { text, match };
    if (Date.now() > end) throw new Error(`the screen never showed ${pattern} within ${timeoutMs} ms:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Types a command line and presses Enter; `; echo "exit=$?"` reports its exit code on screen. */
async function type(name: string, line: string): Promise<void> {
  await tmux('send-keys', '-t', name, '-l', `${line}; echo "exit=$?"`);
  await tmux('send-keys', '-t', name, 'Enter');
}


before(async () => {
  dir = tempDir('taskgate-cli-tty-');
  t = await startGateway({
    services: {
      // Slow enough that the bar is seen running.
      'flux/dev': {
        provider: 'demo-image', mode: 'wait', shape: 'generic', options: { latencyMs: 3000, steps: 6 },
        aliases: { apixo: ['flux-dev'], queue: ['fal-ai/flux/dev'], replicate: ['black-forest-labs/flux-dev'] },
      },
      'slow/image': { provider: 'demo-image', mode: 'async', shape: 'generic', options: { latencyMs: 120_000, steps: 100, defaultWidth: 64, defaultHeight: 64 } },
    },
  });
});

after(async () => {
  await tmux('kill-server').catch(() => undefined);
  // tmux leaves its socket file behind (in TMUX_TMPDIR, else /tmp, under tmux-<uid>).
  rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, SOCKET), { force: true });
  await t?.close();
  removeDir(dir);
});

test('submit --wait in a terminal: a live progress bar, then the PNG is saved and its path printed', { timeout: 60_000 }, async () => {
  const cwd = tempDir('taskgate-cli-run-');
  try {
    await shell('run', cwd);
    await type('run', `taskgate submit flux/dev --prompt "a red fox" --input '{"width":320,"height":240}' --wait --out out`);
    // Mid-run: the bar is drawn, running, between 1 and 99 % (0 % shows first, while nothing is reported).
    const mid = await screenMatching('run', /^flux\/dev +running +\|([█░]{30})\| +([1-9]\d?)% \| \d+s$/m);
    const pct = Number(mid.match[2]);
    assert.ok(pct > 0 && pct < 100, `a partial progress: ${mid.match[0]}`);
    assert.ok(mid.match[1]!.includes('█') && mid.match[1]!.includes('░'), mid.match[0]);
    assert.ok(!/^exit=/m.test(mid.text), 'seen while still running');

    const end = await screenMatching('run', /^exit=(\d+)$/m);
    assert.equal(end.match[1], '0', end.text);
    const id = /^task (\S+) submitted to flux\/dev \(task-api\)$/m.exec(end.text)?.[1];
    assert.ok(id, end.text);
    assert.match(end.text, /^flux\/dev +succeeded +\|█{30}\| 1 file saved \| \d+s$/m);
    assert.match(end.text, new RegExp(`^out/${id}-1\\.png$`, 'm'));
    assert.ok(!end.text.includes(t.token), 'the token is not on screen');
    const png = readPng(join(cwd, 'out', `${id}-1.png`));
    assert.deepEqual([png.width, png.height], [320, 240]);
    if (process.env.TASKGATE_CLI_CAPTURE) writeFileSync(process.env.TASKGATE_CLI_CAPTURE, `${mid.text}\n----\n${end.text}`);
  } finally {
    await tmux('kill-session', '-t', 'run').catch(() => undefined);
    removeDir(cwd);
  }
});

/** Starts a slow task under `submit --wait`, presses Ctrl-C once it runs, and answers `answer`. */
async function interrupt(name: string, answer: string): Promise<{ id: string; text: string }> {
  await shell(name, dir);
  await type(name, 'taskgate submit slow/image --prompt "a slow fox" --wait');
  const running = await screenMatching(name, /^slow\/image +running +\|/m);
  const id = /^task (\S+) submitted to slow\/image/m.exec(running.text)?.[1];
  assert.ok(id, running.text);
  await tmux('send-keys', '-t', name, 'C-c');
  await screenMatching(name, new RegExp(`^Cancel task ${id} on the gateway\\? \\[y/N\\]\\s*$`, 'm'), 10_000);
  assert.match(await screen(name), /^slow\/image +interrupted +\|/m, 'the bar stopped');
  assert.equal((await t.gw.tasks.get(t.ownerId, id))?.state, 'running', 'nothing was cancelled before the answer');
  await tmux('send-keys', '-t', name, '-l', answer);
  await tmux('send-keys', '-t', name, 'Enter');
  const end = await screenMatching(name, /^exit=(\d+)$/m, 20_000);
  assert.equal(end.match[1], '130', end.text);
  return { id, text: end.text };
}

test('Ctrl-C while waiting, answered y: the task is cancelled on the gateway, exit 130', { timeout: 60_000 }, async () => {
  try {
    const { id, text } = await interrupt('yes', 'y');
    assert.match(text, /^status +cancelled: The task was cancelled$/m);
    assert.equal((await t.gw.tasks.get(t.ownerId, id))?.state, 'cancelled');
  } finally {
    await tmux('kill-session', '-t', 'yes').catch(() => undefined);
  }
});

test('Ctrl-C while waiting, answered N: the task keeps running, exit 130 with how to check it', { timeout: 60_000 }, async () => {
  let id: string | undefined;
  try {
    const result = await interrupt('no', 'N');
    id = result.id;
    assert.match(result.text, new RegExp(`^task ${id} keeps running on the gateway; check it later with: taskgate status ${id} --service slow/image$`, 'm'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await t.gw.tasks.get(t.ownerId, id))?.state, 'running', 'still running after the CLI exited');
  } finally {
    await tmux('kill-session', '-t', 'no').catch(() => undefined);
    if (id) {
      await t.gw.tasks.cancel(t.ownerId, id);
      await waitForTask(t.gw, t.ownerId, id, (x) => x.state === 'cancelled');
    }
  }
});
