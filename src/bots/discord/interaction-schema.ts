/**
 * Raw interaction payloads, the same JSON from the gateway and the HTTP endpoint. Only the fields the bot
 * reads are validated; Discord adds fields freely, so objects stay loose.
 */
import { z } from 'zod';

const RawUserSchema = z.looseObject({ id: z.string().min(1) });
const RawAttachmentSchema = z.looseObject({
  id: z.string(),
  filename: z.string(),
  size: z.number(),
  url: z.string(),
  content_type: z.string().optional(),
  width: z.number().nullish(),
  height: z.number().nullish(),
});
export type RawAttachment = z.infer<typeof RawAttachmentSchema>;
const RawMessageSchema = z.looseObject({
  id: z.string(),
  channel_id: z.string().optional(),
  author: RawUserSchema.optional(),
  attachments: z.array(RawAttachmentSchema).optional(),
  timestamp: z.string().optional(),
  /** Action rows of a message the bot posted: its buttons' custom ids name the job. */
  components: z
    .array(
      z.looseObject({ components: z.array(z.looseObject({ custom_id: z.string().optional() })).optional() }),
    )
    .optional(),
});

export interface RawOption {
  name: string;
  type: number;
  value?: string | number | boolean | undefined;
  options?: RawOption[] | undefined;
  focused?: boolean | undefined;
}
const RawOptionSchema: z.ZodType<RawOption> = z.lazy(() =>
  z.looseObject({
    name: z.string(),
    type: z.number(),
    value: z.union([z.string(), z.number(), z.boolean()]).optional(),
    options: z.array(RawOptionSchema).optional(),
    focused: z.boolean().optional(),
  }),
);

export const RawInteractionSchema = z.looseObject({
  id: z.string().min(1),
  application_id: z.string().min(1),
  type: z.number().int(),
  token: z.string().min(1),
  guild_id: z.string().optional(),
  channel_id: z.string().optional(),
  channel: z.looseObject({ id: z.string(), type: z.number().int().optional() }).optional(),
  member: z
    .looseObject({
      user: RawUserSchema.optional(),
      roles: z.array(z.string()).optional(),
      permissions: z.string().optional(),
    })
    .optional(),
  user: RawUserSchema.optional(),
  locale: z.string().optional(),
  attachment_size_limit: z.number().optional(),
  /** What the bot may do in the channel: a permission bitfield as a decimal string. */
  app_permissions: z.string().optional(),
  message: RawMessageSchema.optional(),
  data: z
    .looseObject({
      name: z.string().optional(),
      type: z.number().optional(),
      options: z.array(RawOptionSchema).optional(),
      custom_id: z.string().optional(),
      target_id: z.string().optional(),
      resolved: z
        .looseObject({
          attachments: z.record(z.string(), RawAttachmentSchema).optional(),
          messages: z.record(z.string(), RawMessageSchema).optional(),
        })
        .optional(),
    })
    .optional(),
});
export type RawInteraction = z.infer<typeof RawInteractionSchema>;

export const INTERACTION_TYPE = { ping: 1, command: 2, component: 3, autocomplete: 4, modal: 5 } as const;
/** data.type of a context-menu command on a message. */
export const COMMAND_TYPE_MESSAGE = 3;
