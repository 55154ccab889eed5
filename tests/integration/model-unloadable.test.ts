// A model file the GPU server lists but cannot load (a placeholder or a corrupt download; on a real
// ComfyUI 0.8.0 the Flux placeholders failed with safetensors' "header too large" when their loader ran).
// The prompt passes validation, so only the run tells: the member must hear that the style is misconfigured
// on the server, and the operator which node, which file and what ComfyUI said, in the log and in /failed.
import { afterEach, describe, expect, it } from 'vitest';
import { ComfyExecutionError, classifyExecutionError } from '../../src/generation/comfy/errors.js';
import { createFailedJobs } from '../../src/generation/pipeline/failed-jobs.js';
import type { Actor } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await r?.cleanup();
  r = undefined;
});

const LOCAL: Actor = { platform: 'console', scopeId: 'local', userId: 'local', roles: [], isModerator: true };

describe('a model file the server cannot load', () => {
  it('tells the member the style is misconfigured, the operator the node, file and message; charges nothing', async () => {
    r = testRedis('model-unloadable');
    const logs: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
    const logger = {
      info: (obj: Record<string, unknown>, msg: string) => void logs.push({ level: 'info', obj, msg }),
      warn: (obj: Record<string, unknown>, msg: string) => void logs.push({ level: 'warn', obj, msg }),
      error: (obj: Record<string, unknown>, msg: string) => void logs.push({ level: 'error', obj, msg }),
    };
    h = await createConsoleHarness(r, { simulator: { unloadableModels: ['flux1-dev.safetensors'] }, logger });

    const from = h.output().length;
    h.type('/imagine a red fox in snow --style flux --steps 4');
    await h.waitFor(/Could not make your image/, { from });
    expect(h.output().slice(from)).toMatch(
      /Could not make your image: this style is misconfigured on the server \(a model file it needs cannot be loaded\)\. Try another style; an operator has been told\. Your quota was not charged\./,
    );
    expect(h.sim.stats().promptsFailed).toBeGreaterThanOrEqual(1);

    // The operator's log line: node, file, ComfyUI's own words.
    const line = logs.find((l) => l.level === 'error' && /cannot be loaded/.test(l.msg));
    expect(line?.obj).toMatchObject({
      backend: 'sim',
      style: 'flux',
      nodeType: 'UNETLoader',
      files: ['flux1-dev.safetensors'],
      comfyui:
        'safetensors._safetensors_rust.SafetensorError: Error while deserializing header: header too large',
    });
    expect(line?.obj['node']).toMatch(/^\d+$/);

    // The failed-job entry and /failed say the same.
    const [entry] = await createFailedJobs({ redis: r.redis, prefix: r.prefix }).list({
      sinceMs: 0,
      limit: 10,
    });
    expect(entry?.code).toBe('model_unloadable');
    expect(entry?.message).toMatch(
      /could not load flux1-dev\.safetensors: SafetensorError: Error while deserializing header: header too large\. This style is misconfigured/,
    );
    expect(entry?.message).toMatch(/node \d+ \(UNETLoader\)/);
    const listed = h.output().length;
    h.type('/failed');
    await h.waitFor(/model_unloadable: .*UNETLoader.*flux1-dev\.safetensors.*header too large/, {
      from: listed,
    });

    // Nothing charged, and the other styles still work on that server.
    expect(
      (await h.quota.view(LOCAL, { dailyImages: 10, maxActive: 2, burstPerMinute: 0, priority: 0 })).used,
    ).toBe(0);
    const next = h.output().length;
    h.type('/imagine a red fox in snow --steps 4');
    await h.waitFor(/Saved: /, { from: next });
  });

  it('classifies the loader failures of a real server as model_unloadable, and names the file it reported', () => {
    const base = { node_type: 'CheckpointLoaderSimple' };
    for (const [exception_type, exception_message] of [
      ['safetensors._safetensors_rust.SafetensorError', 'Error while deserializing header: header too large'],
      [
        'safetensors._safetensors_rust.SafetensorError',
        'Error while deserializing header: invalid JSON in header: key must be a string at line 1 column 2',
      ],
      ['ValueError', 'Error while deserializing header: HeaderTooLarge\n\nFile path: /m/x.safetensors'],
      ['_pickle.UnpicklingError', "invalid load key, '<'."],
      ['RuntimeError', 'PytorchStreamReader failed reading zip archive: failed finding central directory'],
      ['RuntimeError', 'ERROR: Could not detect model type of: /m/checkpoints/x.safetensors'],
    ] as const) {
      expect(classifyExecutionError({ ...base, exception_type, exception_message }), exception_message).toBe(
        'model_unloadable',
      );
    }
    expect(
      classifyExecutionError({
        ...base,
        exception_type: 'FileNotFoundError',
        exception_message: "[Errno 2] No such file or directory: 'x.safetensors'",
      }),
    ).toBe('missing_model');
    expect(
      classifyExecutionError({ ...base, exception_type: 'RuntimeError', exception_message: 'boom' }),
    ).toBe('other');
    // The recorded execution_error of the real server (transcript, scenario runtime_error).
    const err = new ComfyExecutionError('gpu-1', {
      prompt_id: 'e2516909-a651-4854-a221-27a94c97ef9a',
      node_id: '4',
      node_type: 'CheckpointLoaderSimple',
      executed: [],
      exception_message:
        'Error while deserializing header: invalid JSON in header: key must be a string at line 1 column 2\n',
      exception_type: 'safetensors._safetensors_rust.SafetensorError',
      traceback: [],
      current_inputs: { ckpt_name: ['broken.safetensors'] },
      current_outputs: ['3', '8', '4', '7', '6', '9', '5'],
    });
    expect(err.kind).toBe('model_unloadable');
    expect(err.modelFiles).toEqual(['broken.safetensors']);
  });
});
