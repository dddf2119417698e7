/** One pub/sub channel on the shared subscriber connection, subscribed again after every reconnect. */
import type { Redis } from 'ioredis';

export interface ChannelSubscription {
  /** True once the subscription is in place on the current connection. */
  readonly subscribed: boolean;
}

export function listenTo(subscriber: Redis, channel: string, onMessage: (message: string) => void): ChannelSubscription {
  let subscribed = false;
  const subscribe = (): void => {
    subscriber.subscribe(channel).then(
      () => {
        subscribed = true;
      },
      () => {
        subscribed = false;
      },
    );
  };
  subscriber.on('ready', subscribe);
  subscriber.on('close', () => {
    subscribed = false;
  });
  subscriber.on('message', (from: string, message: string) => {
    if (from === channel) onMessage(message);
  });
  if (subscriber.status === 'ready') subscribe();
  return {
    get subscribed() {
      return subscribed;
    },
  };
}
