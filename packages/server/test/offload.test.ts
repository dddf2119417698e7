/** Renders run on the worker thread (not inline), so a render never stalls the event loop. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderInWorker } from '../src/providers/demo/offload.js';
import { renderImage } from '../src/providers/demo/render-image.js';

test('renderInWorker renders on the worker thread, byte-identical to inline rendering', async () => {
  const args = { prompt: 'offload', seed: 3, width: 512, height: 512 };
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 1);
  const viaWorker = await renderInWorker('image', args, new AbortController().signal, () => {
    throw new Error('fell back to inline rendering: the worker thread did not start');
  });
  clearInterval(ticker);
  assert.ok(viaWorker.equals(renderImage(args)));
  assert.ok(ticks > 0, 'the event loop kept running during the render');
});

test('renderInWorker refuses to start for an aborted task', async () => {
  const ac = new AbortController();
  ac.abort(new Error('cancelled'));
  await assert.rejects(renderInWorker('image', { prompt: 'x', seed: 1, width: 64, height: 64 }, ac.signal, renderImage), /cancelled/);
});
