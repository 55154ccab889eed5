import { describe, expect, it } from 'vitest';
import {
  classifyExecutionError,
  classifyRejection,
  ComfyExecutionError,
  ComfyPromptRejectedError,
} from '../../src/generation/comfy/errors.js';
import {
  HistoryResponseSchema,
  parseBinaryFrame,
  parseWsText,
  PromptAcceptedSchema,
  PromptRejectedSchema,
  QueueResponseSchema,
  SystemStatsSchema,
  UploadResponseSchema,
  FeaturesSchema,
} from '../../src/generation/comfy/schemas.js';
import { readTranscript } from '../helpers/transcript.js';

const events = readTranscript();
const http = (method: string, prefix: string, status: number) =>
  events.filter(
    (e) =>
      e.kind === 'http' &&
      e.method === method &&
      (e.path ?? '').startsWith(prefix) &&
      e.status === status &&
      e.response !== undefined &&
      e.response !== null,
  );

describe('ComfyUI message schemas against the recorded server', () => {
  it('reads every recorded WebSocket text frame', () => {
    const frames = events.filter((e) => e.kind === 'ws_json');
    expect(frames.length).toBeGreaterThan(100);
    const types = new Set<string>();
    for (const f of frames) {
      const parsed = parseWsText(JSON.stringify(f.msg));
      expect(parsed, JSON.stringify(f.msg).slice(0, 300)).toMatchObject({ ok: true });
      if (parsed.ok) types.add(parsed.message.type);
    }
    expect([...types].sort()).toEqual(
      [
        'executed',
        'executing',
        'execution_cached',
        'execution_error',
        'execution_interrupted',
        'execution_start',
        'execution_success',
        'feature_flags',
        'progress',
        'progress_state',
        'status',
      ].sort(),
    );
  });

  it('ignores unknown message types and reports malformed known ones', () => {
    expect(parseWsText('{"type":"crystools.monitor","data":{}}')).toEqual({
      ok: false,
      reason: 'unknown_type',
      type: 'crystools.monitor',
    });
    expect(parseWsText('not json')).toEqual({ ok: false, reason: 'not_json' });
    expect(parseWsText('{"type":"progress","data":{"value":"x"}}')).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('reads the legacy end marker and the prompt-less executing sent after a reconnect', () => {
    const end = parseWsText('{"type":"executing","data":{"node":null,"prompt_id":"p"}}');
    expect(end).toMatchObject({ ok: true, message: { data: { node: null, prompt_id: 'p' } } });
    const afterReconnect = parseWsText('{"type":"executing","data":{"node":"3","display_node":"3"}}');
    expect(afterReconnect).toMatchObject({ ok: true, message: { data: { node: '3' } } });
  });

  it('decodes every recorded binary preview frame, event 1 and event 4', () => {
    const withBytes = events.filter(
      (e) => e.kind === 'ws_binary' && typeof (e.frame as { frame_b64?: unknown }).frame_b64 === 'string',
    );
    const seen = new Set<number>();
    for (const e of withBytes) {
      const frame = e.frame as unknown as {
        event: number;
        frame_b64: string;
        metadata?: Record<string, unknown>;
      };
      const parsed = parseBinaryFrame(Buffer.from(frame.frame_b64, 'base64'));
      expect(parsed).toBeDefined();
      if (parsed === undefined || 'unknown' in parsed) throw new Error('unexpected frame');
      seen.add(parsed.event);
      // The image itself starts right after the header: a JPEG's SOI marker.
      expect(parsed.image.subarray(0, 2).toString('hex')).toBe('ffd8');
      if (parsed.event === 4) {
        expect(parsed.metadata.prompt_id).toBe(frame.metadata?.['prompt_id']);
        expect(parsed.mime).toBe('image/jpeg');
      } else {
        expect(parsed.mime).toBe('image/jpeg');
      }
    }
    expect([...seen].sort()).toEqual([1, 4]);
  });

  it('refuses truncated binary frames instead of reading past them', () => {
    expect(parseBinaryFrame(Buffer.from([0, 0, 0, 1]))).toBeUndefined();
    const bad = Buffer.alloc(12);
    bad.writeUInt32BE(4, 0);
    bad.writeUInt32BE(1000, 4);
    expect(parseBinaryFrame(bad)).toBeUndefined();
  });

  it('reads every recorded HTTP response the client uses', () => {
    const cases: Array<[string, string, number, { safeParse(v: unknown): { success: boolean } }]> = [
      ['POST', '/prompt', 200, PromptAcceptedSchema],
      ['POST', '/prompt', 400, PromptRejectedSchema],
      ['POST', '/upload/image', 200, UploadResponseSchema],
      ['GET', '/history/', 200, HistoryResponseSchema],
      ['GET', '/queue', 200, QueueResponseSchema],
      ['GET', '/system_stats', 200, SystemStatsSchema],
      ['GET', '/features', 200, FeaturesSchema],
    ];
    for (const [method, path, status, schema] of cases) {
      const calls = http(method, path, status);
      expect(calls.length, `${method} ${path} ${status}`).toBeGreaterThan(0);
      for (const c of calls) expect(schema.safeParse(c.response).success, `${method} ${c.path}`).toBe(true);
    }
  });
});

describe('classifying ComfyUI failures for users', () => {
  it('classifies the recorded corrupt-checkpoint failure as a model the server cannot load, naming the file', () => {
    const recorded = events.find((e) => e.kind === 'ws_json' && e.msg?.type === 'execution_error');
    const parsed = parseWsText(JSON.stringify(recorded?.msg));
    if (!parsed.ok || parsed.message.type !== 'execution_error')
      throw new Error('no recorded execution_error');
    const err = new ComfyExecutionError('gpu-1', parsed.message.data);
    expect(err.nodeType).toBe('CheckpointLoaderSimple');
    expect(err.exceptionType).toContain('SafetensorError');
    expect(err.kind).toBe('model_unloadable');
    expect(err.modelFiles).toEqual(['broken.safetensors']);
    expect(err.backend).toBe('gpu-1');
  });

  it.each([
    [{ exception_type: 'Exception', exception_message: 'Reference Image: No face detected.' }, 'no_face'],
    [
      {
        exception_type: 'torch.OutOfMemoryError',
        exception_message: 'CUDA out of memory. Tried to allocate',
      },
      'out_of_memory',
    ],
    [{ exception_type: 'RuntimeError', exception_message: 'CUDA error: out of memory' }, 'out_of_memory'],
    [
      { exception_type: 'FileNotFoundError', exception_message: "No such file: 'loras/x.safetensors'" },
      'missing_model',
    ],
    [{ exception_type: 'ValueError', exception_message: 'shape mismatch' }, 'other'],
  ] as const)('classifies %j as %s', (data, kind) => {
    expect(classifyExecutionError({ ...data, node_type: 'X' })).toBe(kind);
  });

  it('reads a value_not_in_list on a model input as a missing model, with node and input names', () => {
    const err = new ComfyPromptRejectedError('gpu-1', {
      error: {
        type: 'prompt_outputs_failed_validation',
        message: 'Prompt outputs failed validation',
        details: '',
        extra_info: {},
      },
      node_errors: {
        '4': {
          class_type: 'CheckpointLoaderSimple',
          dependent_outputs: ['9'],
          errors: [
            {
              type: 'value_not_in_list',
              message: 'Value not in list',
              details: "ckpt_name: 'x.safetensors' not in ['a.safetensors']",
              extra_info: { input_name: 'ckpt_name' },
            },
          ],
        },
      },
    });
    expect(err.nodeErrors).toEqual([
      expect.objectContaining({ nodeId: '4', classType: 'CheckpointLoaderSimple', inputName: 'ckpt_name' }),
    ]);
    expect(classifyRejection(err)).toBe('missing_model');
  });

  it('reads the recorded unknown-class refusal as a missing node and a bad value as an invalid prompt', () => {
    const rejections = http('POST', '/prompt', 400).map(
      (c) => new ComfyPromptRejectedError('b', PromptRejectedSchema.parse(c.response)),
    );
    const unknownClass = rejections.find((r) => r.errorType === 'invalid_prompt');
    expect(unknownClass && classifyRejection(unknownClass)).toBe('missing_node');
    const badValue = rejections.find((r) => r.nodeErrors.some((n) => n.type === 'value_smaller_than_min'));
    expect(badValue && classifyRejection(badValue)).toBe('invalid_prompt');
    expect(badValue?.message).toContain('Value -5 smaller than min of 1');
  });
});
