/**
 * Follow-up actions: a create whose input carries `action` (one of FOLLOW_UP_ACTIONS) and
 * `image_id` continues an image an earlier task made, as Midjourney's U1–U4, V1–V4 and 🔄 buttons
 * do. `image_id` is the file's id (`OutputFile.id`, what the Midjourney result shape shows as
 * `image_id`). The earlier task must be the same owner's, of the same service, succeeded, and
 * the file an image; every other case (unknown id, another owner's, a failed task, an audio file)
 * answers one and the same error, after one and the same indexed lookup, so an image id tells
 * nothing about other owners.
 *
 * The resolved parent is kept with the new task (`Task.followUp`) and handed to the provider; a
 * relayed service sends the follow-up to the channel that made the parent, and only if that
 * channel's protocol has follow-ups (`UpstreamAdapter.submitFollowUp`).
 *
 * What a result offers (`actionsOf`): a generated image, a variation and a reroll are 2×2 grids
 * and offer all nine actions; an upscale is a single image and offers none (on Midjourney its
 * buttons are other ones, and midjourney-proxy refuses a change on an upscale).
 */
import { GatewayError } from './errors.js';
import type { TaskStore } from './ports.js';
import type { ServiceDefinition } from './services.js';
import type { FollowUp, FollowUpAction, FollowUpKind, JsonObject, Task } from './types.js';
import { FOLLOW_UP_ACTIONS } from './types.js';

const ACTIONS: ReadonlySet<string> = new Set(FOLLOW_UP_ACTIONS);
/** Longest `image_id` looked up (ids are UUIDs or 32 hex digits). */
const MAX_IMAGE_ID = 200;

export function isFollowUpAction(value: unknown): value is FollowUpAction {
  return typeof value === 'string' && ACTIONS.has(value);
}

/** `upscale3` → upscale of image 3; `reroll` → reroll (no index). */
export function parseAction(action: FollowUpAction): { kind: FollowUpKind; index: FollowUp['index'] } {
  if (action === 'reroll') return { kind: 'reroll', index: null };
  const kind = action.startsWith('upscale') ? 'upscale' : 'variation';
  return { kind, index: Number(action.slice(-1)) as 1 | 2 | 3 | 4 };
}

/** The actions a finished task's image offers (the Midjourney shape's `actions`). */
export function actionsOf(task: Task): FollowUpAction[] {
  if (task.followUp?.kind === 'upscale') return [];
  return [...FOLLOW_UP_ACTIONS];
}

/** The one answer for every image id that names no image this owner may continue. */
function noSuchImage(): GatewayError {
  return new GatewayError('bad_request', 'Invalid field image_id: no finished image of this service has this id');
}

/**
 * The follow-up a create asks for, resolved, or null when it is a new generation (no follow-up
 * `action`). Throws `bad_request` for a malformed or unknown `image_id`, an action the image does
 * not offer, or an `image_id` without an action; `api_not_implemented` where the service (or, for
 * a relayed service, the upstream that made the image) has no follow-ups.
 */
export async function resolveFollowUp(store: TaskStore, def: ServiceDefinition, ownerId: string, input: JsonObject): Promise<FollowUp | null> {
  const { action, image_id: imageId } = input;
  const supported = def.provider.parseFollowUp !== undefined;
  if (!isFollowUpAction(action)) {
    if (supported && imageId !== undefined) {
      throw new GatewayError('bad_request', `Invalid field action: a follow-up on image_id takes one of ${FOLLOW_UP_ACTIONS.join(', ')}`);
    }
    return null;
  }
  if (!supported) throw new GatewayError('api_not_implemented', `Action ${action} is not implemented for ${def.name}`);
  if (typeof imageId !== 'string' || imageId === '' || imageId.length > MAX_IMAGE_ID) {
    throw new GatewayError('bad_request', `Invalid field image_id: required with action ${action} (the image_id of an earlier result)`);
  }
  const parent = await store.findByOutputFile(ownerId, imageId);
  const file = parent?.output?.files.find((f) => f.id === imageId);
  if (!parent || !file || parent.state !== 'succeeded' || parent.service !== def.name || file.kind !== 'image') throw noSuchImage();
  const offered = actionsOf(parent);
  if (!offered.includes(action)) {
    throw new GatewayError('bad_request', `Invalid field action: this image offers ${offered.length > 0 ? offered.join(', ') : 'no follow-up actions'}`);
  }
  if (def.relay) await checkUpstream(store, def, parent.id);
  const { kind, index } = parseAction(action);
  return {
    action, kind, index,
    parent: {
      taskId: parent.id, file, input: parent.followUp?.parent.input ?? parent.input,
      seed: parent.output?.seed ?? null, kind: parent.followUp?.kind ?? null,
    },
  };
}

/**
 * A relayed service: only the channel that made the image knows it, so it must still be
 * configured and speak a protocol with follow-ups (no other channel is ever tried). The submit
 * checks again (the configuration may change before a queued follow-up runs).
 */
async function checkUpstream(store: TaskStore, def: ServiceDefinition, parentId: string): Promise<void> {
  const upstream = await store.upstream.get(parentId);
  const channel = upstream?.ref ? def.relay?.channels.find((c) => c.name === upstream.channel) : undefined;
  if (!upstream?.ref) {
    throw new GatewayError('api_not_implemented', 'Follow-up actions are not available for this image: it was not made by an upstream of this service');
  }
  if (!channel) {
    throw new GatewayError('api_not_implemented', 'Follow-up actions are not available for this image: the upstream that made it is no longer configured, and no other upstream knows the image');
  }
  if (!channel.adapter.submitFollowUp) {
    throw new GatewayError('api_not_implemented', 'Follow-up actions are not available for this image: the upstream that made it has none');
  }
}
