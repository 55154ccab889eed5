// LoRAs members pick: `--lora name[:strength]` through the console, the real chat core and worker, on the
// ComfyUI simulator whose models/loras folder is set per test. The prompt the simulator received carries
// the LoraLoader chain with the chosen strengths and the trigger words; every refusal names what can be
// used instead and charges nothing; `/loras` lists what is allowed and present; moderators narrow the list.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoreReply } from '../../src/core/chat-core.js';
import { parseCommand } from '../../src/core/parse-command.js';
import type { Actor } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { LORAS_ENV, PRESENT_LORAS, promptGraphs } from '../helpers/loras.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(env: Record<string, string> = {}): Promise<ConsoleHarness> {
  r = testRedis('loras-console');
  h = await createConsoleHarness(r, {
    env: { LORAS: LORAS_ENV, ...env },
    simulator: { models: { loras: [...PRESENT_LORAS] } },
  });
  return h;
}

async function answer(c: ConsoleHarness, line: string, re: RegExp = /\n/): Promise<string> {
  const from = c.output().length;
  c.type(line);
  await c.waitFor(re, { from });
  return c.output().slice(from);
}

let event = 0;
async function handle(c: ConsoleHarness, actor: Actor, text: string): Promise<CoreReply> {
  const parsed = parseCommand(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.error.key}`);
  return c.core.handle(parsed.intent, {
    actor,
    eventId: `lora-ev-${++event}`,
    reply: { platform: actor.platform, chatId: actor.scopeId },
  });
}

describe('--lora on /imagine', () => {
  it('chains the picked LoRAs with their strengths and adds their trigger words to the prompt sent', async () => {
    const c = await setup();
    await answer(
      c,
      '/imagine a red fox in snow --lora detail:1.2 --lora anime --steps 2 --seed 5',
      /Saved: /,
    );
    const [graph] = await promptGraphs(c.sim.url);
    expect(graph).toBeDefined();
    expect(graph!.loras).toEqual([
      { lora_name: 'detail-tweaker-xl.safetensors', strength_model: 1.2, strength_clip: 1.2 },
      { lora_name: 'anime-xl.safetensors', strength_model: 0.7, strength_clip: 0.7 },
    ]);
    // The sampler's model and both text encoders' clip come out of the end of the chain.
    expect(graph!.samplerModelFromLora).toBe(true);
    expect(graph!.positive).toBe('a red fox in snow, highly detailed, anime style');
    expect(await c.used()).toBe(1);
  });

  it('keeps the LoRAs on Reroll', async () => {
    const c = await setup();
    await answer(c, '/imagine an owl --lora detail:0.5 --steps 2', /Saved: /);
    await answer(c, '/reroll', /Saved: /);
    const graphs = await promptGraphs(c.sim.url);
    expect(graphs).toHaveLength(2);
    for (const g of graphs) {
      expect(g.loras.map((l) => [l.lora_name, l.strength_model])).toEqual([
        ['detail-tweaker-xl.safetensors', 0.5],
      ]);
      expect(g.positive).toBe('an owl, highly detailed');
    }
  });

  it('refuses each bad pick naming what can be used, and charges nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lora-plain-'));
    try {
      // An operator style whose workflow has no LoRA slot.
      const tiny = await readFile(
        join(import.meta.dirname, '../fixtures/workflows/tiny/tiny.workflow.json'),
        'utf8',
      );
      await writeFile(join(dir, 'plain.workflow.json'), tiny);
      await writeFile(join(dir, 'plain.style.json'), JSON.stringify({ label: 'Plain', workflow: 'plain' }));
      const c = await setup({ WORKFLOWS_DIR: dir });
      expect(await answer(c, '/imagine a fox --lora nope')).toBe(
        'There is no LoRA "nope". LoRAs you can use here: anime, detail, fluxy, ghost (/loras).\n',
      );
      expect(await answer(c, '/imagine a fox --lora detail:2')).toBe(
        'The strength of "detail" must be from 0 to 1.5 (you gave 2). Try --lora detail:0.8.\n',
      );
      expect(await answer(c, '/imagine a fox --lora fluxy')).toBe(
        'The LoRA "fluxy" is made for flux, not for the "sdxl" style. LoRAs for sdxl: anime, detail, ghost.\n',
      );
      expect(await answer(c, '/imagine a fox --lora ghost')).toBe(
        'No GPU server has the LoRA "ghost" right now. LoRAs you can use now: anime, detail.\n',
      );
      expect(await answer(c, '/imagine a fox --lora detail --lora detail')).toBe(
        'The LoRA "detail" is given twice: give each LoRA once.\n',
      );
      expect(
        await answer(c, '/imagine a fox --lora detail --lora anime --lora fluxy --lora ghost --lora nope'),
      ).toBe(
        'The "sdxl" style takes at most 4 of your LoRAs; you gave 5. Keep at most 4 of: anime, detail, ghost.\n',
      );
      const plain = await answer(c, '/imagine a fox --style plain --lora detail');
      expect(plain).toMatch(/^The "plain" style takes no LoRA\. Styles that do: .*sdxl.*\. Add --style/);
      expect(plain).not.toContain('plain, ');
      expect(await answer(c, '/imagine a fox --lora "bad name!"')).toContain('--lora takes a LoRA name');
      expect(c.sim.stats().promptsExecuted).toBe(0);
      expect(await c.used()).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses every pick when the operator allows none', async () => {
    const c = await setup({ LORAS: '' });
    expect(await answer(c, '/imagine a fox --lora detail')).toBe(
      'This bot offers no LoRAs to pick: leave --lora out.\n',
    );
    expect(await answer(c, '/loras')).toBe('This bot offers no LoRAs to pick.\n');
    expect(await c.used()).toBe(0);
  });
});

describe('/loras', () => {
  it('lists the allowed LoRAs a GPU server has, and names those none has', async () => {
    const c = await setup();
    expect(await answer(c, '/loras', /right now: .*\n/)).toBe(
      [
        'LoRAs you can add with --lora name or --lora name:strength:',
        '• anime: strength 0 to 1 (default 0.7), adds "anime style", for sdxl',
        '• detail: strength 0 to 1.5 (default 0.8), adds "highly detailed", for sdxl',
        '• fluxy: strength 0 to 1 (default 1), for flux',
        'Allowed here but on no GPU server right now: ghost.',
        '',
      ].join('\n'),
    );
  });
});

describe('/limits settings loras=', () => {
  const mod: Actor = { platform: 'telegram', scopeId: '-1007', userId: '1', roles: [], isModerator: true };
  const member: Actor = { platform: 'telegram', scopeId: '-1007', userId: '2', roles: [] };

  it('narrows what members may pick, refuses typos and lists that cannot be used, and lifts it with all', async () => {
    const c = await setup();
    const saved = await handle(c, mod, '/limits settings loras=detail');
    expect(saved.text).toContain('LoRAs detail;');
    expect((await handle(c, member, '/loras')).text).toBe(
      'LoRAs you can add with --lora name or --lora name:strength:\n' +
        '• detail: strength 0 to 1.5 (default 0.8), adds "highly detailed", for sdxl',
    );
    expect((await handle(c, member, '/imagine a fox --lora anime')).text).toBe(
      'The LoRA "anime" is not enabled here. LoRAs you can use here: detail.',
    );
    // A typo is refused naming the allowlist; the saved list stays.
    expect((await handle(c, mod, '/limits settings loras=detial')).text).toBe(
      'There is no LoRA "detial". LoRAs the bot offers: anime, detail, fluxy, ghost. loras=all allows every one, loras=none turns them off.',
    );
    expect((await handle(c, mod, '/limits settings loras=all,detail')).text).toBe(
      'loras=all stands alone: send loras=all, or list the LoRAs (loras=detail,anime).',
    );
    // Only a Flux LoRA while only SDXL styles are allowed: nobody could pick it.
    expect((await handle(c, mod, '/limits settings styles=sdxl,photo loras=fluxy')).text).toBe(
      'None of fluxy suits a style members can use here (photo, sdxl), so no one could pick them. LoRAs that suit: anime, detail, ghost.',
    );
    expect((await c.quota.getScopeSettings('telegram', '-1007')).allowedLoras).toEqual(['detail']);

    expect((await handle(c, mod, '/limits settings loras=none')).text).toContain('LoRAs none;');
    expect((await handle(c, member, '/imagine a fox --lora detail')).text).toBe(
      'LoRAs are turned off here (a moderator chose loras=none): leave --lora out.',
    );
    expect((await handle(c, member, '/loras')).text).toBe(
      'LoRAs are turned off here. A moderator can allow them with /limits settings loras=all.',
    );
    expect((await handle(c, mod, '/limits settings loras=all')).text).toContain('LoRAs all;');
    expect((await c.quota.getScopeSettings('telegram', '-1007')).allowedLoras).toBeUndefined();
    const queued = await handle(c, member, '/imagine a fox --lora anime --steps 2');
    expect(queued.job).toBeDefined();
  });
});
