/**
 * `/describe`: a picture in, up to four prompts out, each under an "Imagine this" button. The picture goes
 * through the same checks as any photo (submit.ts), the job runs the catalogue's describe workflow and is
 * charged `describeWeight` units on success only; a refusal takes nothing. A click on "Imagine this"
 * reads the description from the job's record (a button holds 64 bytes) and submits it as `/imagine`.
 */
import {
  CUSTOM_NODE_PACKS,
  packOfClass,
  type Style,
  type WorkflowCatalog,
} from '../generation/workflows/index.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import { findJob, type FindJobDeps } from './follow-ups.js';
import type { Intent, Language, ResultRef } from './intents.js';
import { MAX_PROMPT_CHARS } from './intents.js';
import { imagineCommand, submit, type SubmitDeps } from './submit.js';

/** The style `/describe` runs: `describe` when its workflow describes, else the first one that does. */
export function describeStyle(catalog: WorkflowCatalog): Style | undefined {
  const kindOf = (s: Style): string | undefined => catalog.workflow(s.workflow)?.manifest.kind;
  const named = catalog.style('describe');
  if (named !== undefined && kindOf(named) === 'describe') return named;
  return [...catalog.styles.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .find((s) => kindOf(s) === 'describe');
}

/** What an operator installs for the describe workflow: its custom node packs, with where to get them. */
function needsOf(catalog: WorkflowCatalog, style: Style | undefined): string {
  const graph = style === undefined ? undefined : catalog.workflow(style.workflow)?.graph;
  const packs = new Set<string>();
  for (const node of Object.values(graph ?? {})) {
    const pack = packOfClass(node.class_type);
    if (pack !== undefined) packs.add(pack);
  }
  if (packs.size === 0) packs.add('ComfyUI-WD14-Tagger');
  return [...packs].map((p) => `${p} (${CUSTOM_NODE_PACKS[p]?.repo ?? p})`).join(', ');
}

export async function describeCommand(
  d: SubmitDeps,
  ctx: ChatContext,
  lang: Language,
  intent: Extract<Intent, { kind: 'describe' }>,
): Promise<CoreReply> {
  if (intent.photo === undefined) return d.say(lang, 'refuse.describe_photo_required');
  const style = describeStyle(d.catalog);
  const runnable = d.runnableStyles?.();
  if (style === undefined || (runnable !== undefined && !runnable.includes(style.name))) {
    return d.say(lang, 'refuse.describe_unavailable', { needs: needsOf(d.catalog, style) });
  }
  return submit(d, ctx, lang, {
    kind: 'describe',
    request: { prompt: '', style: style.name },
    photo: intent.photo,
    units: d.quotaConfig.describeWeight ?? 1,
  });
}

/** "Imagine this": the description the button names becomes an `/imagine` of the clicker's. */
export async function imagineThis(
  d: SubmitDeps & FindJobDeps,
  ctx: ChatContext,
  lang: Language,
  ref: ResultRef,
): Promise<CoreReply> {
  const found = await findJob(d, ctx, lang, ref);
  if (!found.ok) return found.reply;
  const record = await d.records.get(found.jobId);
  const text = record?.texts[ref.index ?? 0];
  if (text === undefined || found.data.jobKind !== 'describe') {
    return d.say(lang, 'refuse.description_gone', {}, { private: true });
  }
  return imagineCommand(d, ctx, lang, {
    kind: 'imagine',
    prompt: text.slice(0, MAX_PROMPT_CHARS),
    options: {},
  });
}
