import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeButton, encodeButton } from '../../src/core/buttons.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(opts: Parameters<typeof createConsoleHarness>[1] = {}): Promise<ConsoleHarness> {
  r = testRedis('console');
  h = await createConsoleHarness(r, opts);
  return h;
}

const local = { platform: 'console' as const, scopeId: 'local', userId: 'local', roles: [] };

async function pngSize(path: string): Promise<[number, number]> {
  const m = await sharp(path).metadata();
  return [m.width ?? 0, m.height ?? 0];
}

describe('console chat through the chat core', () => {
  it('imagines a picture, shows progress, writes the PNG and counts it in /quota', async () => {
    // Sampling lasts longer than the stage gap (progress-throttle.ts), so its progress is shown, not
    // coalesced into the next stage.
    const c = await setup({ stepMs: 150 });
    c.type('/imagine a red fox in snow --ar 16:9 --steps 4 --seed 42');
    await c.waitFor(/Queued #1/);
    const saved = await c.waitFor(/Saved: (outputs\/output_\d{8}_\d{6}\.png)/);
    expect(c.output()).toMatch(/Drawing .*\d\/4/);
    expect(c.output()).toContain('seed 42 · sdxl');
    expect(await pngSize(join(c.cwd, saved[1]!))).toEqual([1344, 768]);
    const mark = c.output().length;
    c.type('/quota');
    await c.waitFor(/Today: 1 of 10 images used/, { from: mark });
    expect(await c.used()).toBe(1);
  });

  it('prints no progress line for a job whose result it already wrote (an event read late)', async () => {
    const c = await setup();
    const jobId = 'console-late-1';
    const ctx = { deliveryId: `deliver-${jobId}`, attempt: 1, maxAttempts: 1, blobs: c.blobs };
    const reply = { platform: 'console' as const, chatId: 'terminal' };
    const data = { lane: 'fast' } as unknown as Parameters<typeof c.bot.sink.render>[1];
    const progress = { stage: 'sampling' as const, step: 4, of: 4, percent: 90 };
    await c.bot.sink.render(jobId, data, progress);
    expect(c.output()).toMatch(/Drawing .*4\/4/);
    await c.bot.deliverer.deliver(
      { jobId, platform: 'console', outcome: 'cancelled', reply, jobKind: 'imagine', outputs: [] },
      ctx,
    );
    const mark = c.output().length;
    // The relay reads the events stream in batches: a progress event may come after the result.
    await c.bot.sink.render(jobId, data, progress);
    expect(c.output().slice(mark)).toBe('');
  });

  it('makes a batch of 4 as one generation with four files', async () => {
    const c = await setup();
    c.type('/imagine four owls --count 4 --steps 2');
    const saved = await c.waitFor(/Saved: (.+)\n/);
    expect(saved[1]!.split(', ')).toHaveLength(4);
    expect(await readdir(c.outDir)).toHaveLength(4);
    expect(c.sim.stats().promptsExecuted).toBe(1);
    expect(await c.used()).toBe(4);
  });

  it('makes a portrait from a photo file, charging the style weight', async () => {
    const c = await setup();
    await writeFile(
      join(c.cwd, 'me.png'),
      await sharp({ create: { width: 200, height: 260, channels: 3, background: '#c96' } })
        .png()
        .toBuffer(),
    );
    c.type('/portrait ./me.png smiling knight --steps 2');
    await c.waitFor(/Saved: outputs\/output_/);
    expect(await c.used()).toBe(2);
  });

  it('refuses a portrait without a photo and a non-image file, taking no quota', async () => {
    const c = await setup();
    await writeFile(join(c.cwd, 'notes.png'), 'plain text');
    c.type('/portrait smiling knight');
    await c.waitFor(
      /Give the path of a photo of a face after \/portrait: \/portrait \.\/me\.jpg smiling knight\./,
    );
    c.type('/portrait ./notes.png smiling');
    await c.waitFor(/That photo cannot be used: .*not a picture/);
    expect(await c.used()).toBe(0);
  });

  it('rerolls with a new seed, varies and upscales the last result', async () => {
    const c = await setup();
    c.type('/imagine a lighthouse --steps 2 --seed 5');
    await c.waitFor(/Saved: /);
    let mark = c.output().length;
    c.type('/reroll');
    const rerolled = await c.waitFor(/seed (\d+) · sdxl/, { from: mark });
    expect(rerolled[1]).not.toBe('5');
    mark = c.output().length;
    c.type('/variation 1');
    await c.waitFor(/seed \d+ · variation/, { from: mark });
    mark = c.output().length;
    c.type('/upscale 1');
    const up = await c.waitFor(/Saved: (outputs\/\S+\.png)\n\s+seed \d+ · upscale/, { from: mark });
    const [w] = await pngSize(join(c.cwd, up[1]!));
    expect(w).toBeGreaterThan(1024);
    expect(await c.used()).toBe(4);
  });

  it('cancels a job still waiting in line and one already running, refunding both', async () => {
    const c = await setup({ stepMs: 40, env: { QUOTA_MAX_ACTIVE: '5' } });
    c.type('/imagine one --steps 40');
    c.type('/imagine two --steps 40');
    c.type('/imagine three --steps 40');
    await c.waitFor(/Queued #1[\s\S]*Queued #\d[\s\S]*Queued #\d/);
    await expect.poll(() => c.sim.stats().stepsRun, { timeout: 5_000, interval: 10 }).toBeGreaterThan(0);
    // The third waits in our queue (the backend holds two) and is shown its place in line.
    await c.waitFor(/Queued ░+ 0% · #1 in line/);
    let mark = c.output().length;
    c.type('/cancel');
    await c.waitFor(/Cancelled job [0-9a-f]{5} \(it was waiting in line\); your quota was not charged\./, {
      from: mark,
    });
    expect(await c.used()).toBe(2);
    c.type('/imagine four --steps 40');
    await c.waitFor(/Queued #/, { from: mark + 1 });
    await expect.poll(() => c.sim.stats().promptsExecuted, { timeout: 10_000, interval: 10 }).toBe(3);
    mark = c.output().length;
    c.type('/cancel');
    await c.waitFor(/Stopping job [0-9a-f]{5} \(it was running\)/, { from: mark });
    await c.waitFor(/Job [0-9a-f]{5} was cancelled; your quota was not charged\./, { from: mark });
    await expect.poll(() => c.sim.stats().promptsInterrupted, { timeout: 10_000, interval: 10 }).toBe(1);
  });

  it('refuses over the daily limit with the reset time, and queues nothing', async () => {
    const c = await setup({ env: { QUOTA_DAILY_IMAGES: '1' } });
    c.type('/imagine one --steps 2');
    await c.waitFor(/Saved: /);
    const mark = c.output().length;
    c.type('/imagine two --steps 2');
    await c.waitFor(/No images left today \(daily allowance 1\)\. Your allowance resets in \d+/, {
      from: mark,
    });
    expect(c.sim.stats().promptsExecuted).toBe(1);
  });

  it('refuses a blocked prompt neutrally and takes no quota', async () => {
    const c = await setup();
    c.type('/limits settings block+=fox');
    await c.waitFor(/blocked words fox/);
    c.type('/imagine a red fox');
    await c.waitFor(/This prompt is not allowed here\./);
    expect(c.sim.stats().promptsExecuted).toBe(0);
    expect(await c.used()).toBe(0);
    c.type('/limits audit');
    await c.waitFor(/Recent moderator actions:[\s\S]*prompt_blocked/);
  });

  it('forgets the user: records, photos and settings go, and buttons no longer find the job', async () => {
    const c = await setup();
    c.type('/settings style=anime lang=es');
    await c.waitFor(/Ajustes guardados\./);
    c.type('/imagine a fox --steps 2');
    await c.waitFor(/Guardado: /);
    c.type('/forget');
    await c.waitFor(/Hecho: borré 1 trabajos guardados/);
    c.type('/reroll');
    // The settings went too, so the answer is in the platform's language again.
    await c.waitFor(/You have no earlier image here yet/);
    c.type('/settings');
    await c.waitFor(/Your settings: style default/);
  });

  it('answers a bad command with what to fix', async () => {
    const c = await setup();
    c.type('/imagine a fox --ar 5:7');
    await c.waitFor(/16:9/);
    c.type('imagine a fox');
    await c.waitFor(/\/imagine/);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });
});

describe('result buttons', () => {
  it('lets only the requester or a moderator use them, and one click makes one job however often it arrives', async () => {
    const c = await setup();
    c.type('/imagine a fox --steps 2');
    await c.waitFor(/Saved: /);
    const last = await c.core.handle(
      { kind: 'reroll', result: {} },
      {
        actor: { ...local, isModerator: true },
        eventId: 'probe-1',
        reply: { platform: 'console', chatId: 'terminal' },
      },
    );
    expect(last.job).toBeDefined();
    const jobKey = last.job!.jobKey;
    const button = decodeButton(encodeButton({ action: 'reroll', jobKey }));
    expect(button).toBeDefined();
    const stranger = { platform: 'console' as const, scopeId: 'local', userId: 'bob', roles: [] };
    const refused = await c.core.handle(
      { kind: 'reroll', result: { jobKey } },
      {
        actor: stranger,
        eventId: 'click-bob',
        reply: { platform: 'console', chatId: 'terminal' },
      },
    );
    expect(refused.private).toBe(true);
    expect(refused.text).toMatch(/Only the person who asked/);
    const ctx = {
      actor: local,
      eventId: 'click-42',
      reply: { platform: 'console' as const, chatId: 'terminal' },
    };
    const first = await c.core.handle({ kind: 'reroll', result: { jobKey } }, ctx);
    const again = await c.core.handle({ kind: 'reroll', result: { jobKey } }, ctx);
    expect(first.job?.jobId).toBeDefined();
    expect(again.job?.jobId).toBe(first.job?.jobId);
    const expired = await c.core.handle(
      { kind: 'upscale', result: { jobKey: 'AAAAAAAAAAAAAAAA', index: 0 } },
      ctx,
    );
    expect(expired.private).toBe(true);
    expect(expired.text).toMatch(/has expired/);
    // Three jobs ran: the first, the moderator's reroll and the owner's one click.
    await expect.poll(() => c.sim.stats().promptsSucceeded, { timeout: 15_000, interval: 20 }).toBe(3);
  });
});
