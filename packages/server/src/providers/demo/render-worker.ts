/** The render thread behind offload.ts: renders on request and posts the bytes back. */
import { parentPort } from 'node:worker_threads';
import { renderAudio } from './render-audio.js';
import { renderImage } from './render-image.js';
import { upscaleQuadrant } from './render-upscale.js';
import { renderVideo } from './render-video.js';

type Renderers = {
  image: typeof renderImage;
  audio: typeof renderAudio;
  video: typeof renderVideo;
  upscale: typeof upscaleQuadrant;
};
const renderers: Renderers = { image: renderImage, audio: renderAudio, video: renderVideo, upscale: upscaleQuadrant };

parentPort?.on('message', (msg: { id: number; kind: keyof Renderers; args: never }) => {
  try {
    const data = renderers[msg.kind](msg.args);
    parentPort?.postMessage({ id: msg.id, data: new Uint8Array(data) });
  } catch (err) {
    parentPort?.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
