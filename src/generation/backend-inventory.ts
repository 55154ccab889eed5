import type { ComfyClient } from './comfy/client.js';
import type { BackendInventory } from './workflows/index.js';

/**
 * What a backend offers: its node classes (`/object_info`) and the files of every model folder it lists
 * (`/models`, then `/models/{folder}` for each, in parallel).
 */
export async function fetchInventory(client: ComfyClient): Promise<BackendInventory> {
  const [objectInfo, folders] = await Promise.all([client.objectInfo(), client.modelFolders()]);
  const lists = await Promise.all(folders.map(async (f) => [f, await client.models(f)] as const));
  return { objectInfo, models: Object.fromEntries(lists) };
}
