/** The provider registry: a name in config → a factory that validates its options. */
import type { Provider } from '../core/ports.js';
import { createDemoAudioProvider } from './demo/audio.js';
import { createDemoImageProvider } from './demo/image.js';
import { createDemoVideoProvider } from './demo/video.js';

const FACTORIES: Record<string, (options: unknown) => Provider> = {
  'demo-image': createDemoImageProvider,
  'demo-audio': createDemoAudioProvider,
  'demo-video': createDemoVideoProvider,
};

export const PROVIDER_NAMES = Object.keys(FACTORIES);

export function createProvider(name: string, options: unknown): Provider {
  const factory = FACTORIES[name];
  if (!factory) throw new Error(`unknown provider "${name}" (known: ${PROVIDER_NAMES.join(', ')})`);
  return factory(options);
}
