/**
 * zod schemas for everything a ComfyUI 0.8 server sends, as recorded in
 * ../shared/comfyui/transcript.jsonl. Objects are loose (`z.looseObject`): newer servers add fields,
 * and a field we do not read must never make a message unreadable. Unknown message types are not an
 * error: `parseWsText` returns `undefined` for them and the client ignores them.
 */
import { z } from 'zod';

export const ImageRefSchema = z.looseObject({
  filename: z.string(),
  subfolder: z.string().default(''),
  type: z.string().default('output'),
});
export type ImageRef = z.infer<typeof ImageRefSchema>;

/** `executed.output` and `/history` outputs: `images` for SaveImage/PreviewImage, other keys for other nodes. */
export const NodeOutputSchema = z.looseObject({ images: z.array(ImageRefSchema).optional() });
export type NodeOutput = z.infer<typeof NodeOutputSchema>;

const PromptIdField = { prompt_id: z.string() };

export const StatusMessageSchema = z.object({
  type: z.literal('status'),
  data: z.looseObject({
    status: z.looseObject({ exec_info: z.looseObject({ queue_remaining: z.number().int() }) }),
    sid: z.string().optional(),
  }),
});
export const ExecutionStartSchema = z.object({
  type: z.literal('execution_start'),
  data: z.looseObject({ ...PromptIdField, timestamp: z.number().optional() }),
});
export const ExecutionCachedSchema = z.object({
  type: z.literal('execution_cached'),
  data: z.looseObject({ ...PromptIdField, nodes: z.array(z.string()), timestamp: z.number().optional() }),
});
export const ProgressStateSchema = z.object({
  type: z.literal('progress_state'),
  data: z.looseObject({
    ...PromptIdField,
    nodes: z.record(
      z.string(),
      z.looseObject({ value: z.number(), max: z.number(), state: z.string(), node_id: z.string() }),
    ),
  }),
});
/**
 * `node: null` is the legacy end-of-prompt marker. After a reconnect mid-run the server sends
 * `executing {node}` without `prompt_id` (transcript, scenario `reconnect`).
 */
export const ExecutingSchema = z.object({
  type: z.literal('executing'),
  data: z.looseObject({
    node: z.string().nullable(),
    display_node: z.string().nullable().optional(),
    prompt_id: z.string().optional(),
  }),
});
export const ProgressSchema = z.object({
  type: z.literal('progress'),
  data: z.looseObject({
    value: z.number(),
    max: z.number(),
    prompt_id: z.string().nullable().optional(),
    node: z.string().nullable().optional(),
  }),
});
export const ExecutedSchema = z.object({
  type: z.literal('executed'),
  data: z.looseObject({
    ...PromptIdField,
    node: z.string(),
    display_node: z.string().optional(),
    output: NodeOutputSchema.nullable(),
  }),
});
export const ExecutionSuccessSchema = z.object({
  type: z.literal('execution_success'),
  data: z.looseObject({ ...PromptIdField, timestamp: z.number().optional() }),
});
export const ExecutionErrorDataSchema = z.looseObject({
  ...PromptIdField,
  node_id: z.string(),
  node_type: z.string(),
  executed: z.array(z.string()).default([]),
  exception_message: z.string(),
  exception_type: z.string(),
  traceback: z.array(z.string()).default([]),
  timestamp: z.number().optional(),
});
export type ExecutionErrorData = z.infer<typeof ExecutionErrorDataSchema>;
export const ExecutionErrorSchema = z.object({
  type: z.literal('execution_error'),
  data: ExecutionErrorDataSchema,
});
export const ExecutionInterruptedDataSchema = z.looseObject({
  ...PromptIdField,
  node_id: z.string().nullable().optional(),
  node_type: z.string().nullable().optional(),
  executed: z.array(z.string()).default([]),
});
export const ExecutionInterruptedSchema = z.object({
  type: z.literal('execution_interrupted'),
  data: ExecutionInterruptedDataSchema,
});
export const FeatureFlagsMessageSchema = z.object({
  type: z.literal('feature_flags'),
  data: z.looseObject({ supports_preview_metadata: z.boolean().optional() }),
});

export const WsMessageSchema = z.discriminatedUnion('type', [
  StatusMessageSchema,
  ExecutionStartSchema,
  ExecutionCachedSchema,
  ProgressStateSchema,
  ExecutingSchema,
  ProgressSchema,
  ExecutedSchema,
  ExecutionSuccessSchema,
  ExecutionErrorSchema,
  ExecutionInterruptedSchema,
  FeatureFlagsMessageSchema,
]);
export type WsMessage = z.infer<typeof WsMessageSchema>;
const KNOWN_TYPES = new Set<string>(WsMessageSchema.options.map((o) => o.shape.type.value));

export type WsParseResult =
  | { ok: true; message: WsMessage }
  | {
      ok: false;
      reason: 'not_json' | 'unknown_type' | 'malformed' | 'skipped';
      type?: string;
      issues?: string;
    };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStringOrNull = (v: unknown): boolean => v === null || typeof v === 'string';

/**
 * The frames every sampling step and node sends (`progress`, `executing`), checked by hand with exactly
 * what ProgressSchema and ExecutingSchema require; undefined when in doubt, and the schema decides (and
 * words the issue). tests/unit/comfy-ws-fast-path.test.ts holds the two to the same answers.
 */
function readFrequent(raw: Record<string, unknown>): WsMessage | undefined {
  const data = raw['data'];
  if (!isRecord(data)) return undefined;
  if (raw['type'] === 'progress') {
    const { value, max, prompt_id: promptId, node } = data;
    if (!isNumber(value) || !isNumber(max)) return undefined;
    if (promptId !== undefined && !isStringOrNull(promptId)) return undefined;
    if (node !== undefined && !isStringOrNull(node)) return undefined;
    return { type: 'progress', data: data as Extract<WsMessage, { type: 'progress' }>['data'] };
  }
  if (raw['type'] === 'executing') {
    const { node, display_node: displayNode, prompt_id: promptId } = data;
    if (!isStringOrNull(node)) return undefined;
    if (displayNode !== undefined && !isStringOrNull(displayNode)) return undefined;
    if (promptId !== undefined && typeof promptId !== 'string') return undefined;
    return { type: 'executing', data: data as Extract<WsMessage, { type: 'executing' }>['data'] };
  }
  return undefined;
}

/** The `type` a frame opens with, `{"type": "progress_state", …` as ComfyUI writes it, read without parsing. */
const LEADING_TYPE = /^\s*\{\s*"type"\s*:\s*"([a-z_]+)"\s*,/;

/**
 * Parses one text frame. Unknown types are reported, not thrown: the client ignores them. Types in
 * `skip` are not validated (reason `skipped`): a caller that ignores them saves the schema check, and
 * when the frame opens with its type, as ComfyUI's do, the JSON parse of the whole frame as well.
 */
export function parseWsText(text: string, skip?: ReadonlySet<string>): WsParseResult {
  if (skip !== undefined && skip.size > 0) {
    const lead = LEADING_TYPE.exec(text)?.[1];
    if (lead !== undefined && skip.has(lead) && KNOWN_TYPES.has(lead))
      return { ok: false, reason: 'skipped', type: lead };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  const type =
    raw !== null && typeof raw === 'object' && typeof (raw as { type?: unknown }).type === 'string'
      ? (raw as { type: string }).type
      : undefined;
  if (type === undefined || !KNOWN_TYPES.has(type)) {
    return { ok: false, reason: 'unknown_type', ...(type === undefined ? {} : { type }) };
  }
  if (skip?.has(type) === true) return { ok: false, reason: 'skipped', type };
  const frequent = readFrequent(raw as Record<string, unknown>);
  if (frequent !== undefined) return { ok: true, message: frequent };
  const parsed = WsMessageSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'malformed', type, issues: parsed.error.message };
  return { ok: true, message: parsed.data };
}

export const PreviewMetadataSchema = z.looseObject({
  node_id: z.string(),
  prompt_id: z.string(),
  display_node_id: z.string().nullable().optional(),
  parent_node_id: z.string().nullable().optional(),
  real_node_id: z.string().nullable().optional(),
  image_type: z.string(),
});
export type PreviewMetadata = z.infer<typeof PreviewMetadataSchema>;

export type BinaryFrame =
  | { event: 1; mime: 'image/jpeg' | 'image/png'; image: Buffer }
  | { event: 4; mime: string; metadata: PreviewMetadata; image: Buffer }
  | { event: number; unknown: true };

/** Binary layout (PROTOCOL.md, transcript `ws_binary`): 4-byte big-endian event type, then per event. */
export function parseBinaryFrame(frame: Buffer): BinaryFrame | undefined {
  if (frame.length < 8) return undefined;
  const event = frame.readUInt32BE(0);
  if (event === 1) {
    // PREVIEW_IMAGE: 4-byte image type (1 = JPEG, 2 = PNG), then the encoded image.
    const kind = frame.readUInt32BE(4);
    if (kind !== 1 && kind !== 2) return undefined;
    return { event: 1, mime: kind === 1 ? 'image/jpeg' : 'image/png', image: frame.subarray(8) };
  }
  if (event === 4) {
    // PREVIEW_IMAGE_WITH_METADATA: 4-byte metadata length, metadata JSON, then the image.
    const metaLen = frame.readUInt32BE(4);
    if (8 + metaLen > frame.length) return undefined;
    let meta: unknown;
    try {
      meta = JSON.parse(frame.subarray(8, 8 + metaLen).toString('utf8'));
    } catch {
      return undefined;
    }
    const parsed = PreviewMetadataSchema.safeParse(meta);
    if (!parsed.success) return undefined;
    return {
      event: 4,
      mime: parsed.data.image_type,
      metadata: parsed.data,
      image: frame.subarray(8 + metaLen),
    };
  }
  return { event, unknown: true };
}

// ---- HTTP ----

export const PromptAcceptedSchema = z.looseObject({
  prompt_id: z.string(),
  number: z.number(),
  node_errors: z.record(z.string(), z.unknown()).default({}),
});

export const ErrorDetailSchema = z.looseObject({
  type: z.string(),
  message: z.string(),
  details: z.string().default(''),
  extra_info: z.record(z.string(), z.unknown()).default({}),
});
export type ErrorDetail = z.infer<typeof ErrorDetailSchema>;

export const NodeErrorSchema = z.looseObject({
  errors: z.array(ErrorDetailSchema),
  dependent_outputs: z.array(z.string()).default([]),
  class_type: z.string(),
});

export const PromptRejectedSchema = z.looseObject({
  error: ErrorDetailSchema,
  node_errors: z.record(z.string(), NodeErrorSchema).default({}),
});
export type PromptRejected = z.infer<typeof PromptRejectedSchema>;

export const UploadResponseSchema = z.looseObject({
  name: z.string(),
  subfolder: z.string(),
  type: z.string(),
});
export type UploadResponse = z.infer<typeof UploadResponseSchema>;

/** `[number, prompt_id, graph, extra_data, output node ids]` in /queue and /history. */
export const QueueItemSchema = z
  .tuple([z.number(), z.string(), z.record(z.string(), z.unknown()), z.record(z.string(), z.unknown())])
  .rest(z.unknown());

export const QueueResponseSchema = z.looseObject({
  queue_running: z.array(QueueItemSchema),
  queue_pending: z.array(QueueItemSchema),
});

export const HistoryEntrySchema = z.looseObject({
  prompt: QueueItemSchema,
  outputs: z.record(z.string(), NodeOutputSchema).default({}),
  status: z
    .looseObject({
      status_str: z.string(),
      completed: z.boolean(),
      messages: z.array(z.tuple([z.string(), z.unknown()])).default([]),
    })
    .optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
export const HistoryResponseSchema = z.record(z.string(), HistoryEntrySchema);

export const SystemStatsSchema = z.looseObject({
  system: z.looseObject({ comfyui_version: z.string().optional(), os: z.string().optional() }),
  devices: z.array(
    z.looseObject({
      name: z.string(),
      type: z.string(),
      vram_total: z.number().optional(),
      vram_free: z.number().optional(),
    }),
  ),
});
export type SystemStats = z.infer<typeof SystemStatsSchema>;

export const FeaturesSchema = z.looseObject({
  supports_preview_metadata: z.boolean().optional(),
  max_upload_size: z.number().optional(),
});
export type Features = z.infer<typeof FeaturesSchema>;

export const ObjectInfoSchema = z.record(
  z.string(),
  z.looseObject({
    input: z
      .looseObject({
        required: z.record(z.string(), z.unknown()).optional(),
        optional: z.record(z.string(), z.unknown()).optional(),
      })
      .optional(),
    output: z.array(z.unknown()).optional(),
    output_node: z.boolean().optional(),
  }),
);
export type ObjectInfo = z.infer<typeof ObjectInfoSchema>;

export const StringListSchema = z.array(z.string());
