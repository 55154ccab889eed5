// `/describe ./pic.png` through the console: the product as `npm start` wires it, on a test Redis and the
// ComfyUI simulator, whose WD14 tagger reads the picture. Refusals and failures charge nothing.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_WORKFLOWS } from '../../src/generation/workflows/index.js';
import { describe, expect, it } from 'vitest';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { pngBomb } from '../helpers/hostile-images.js';
import { solidPicture, useChatHarness } from '../helpers/picture-chat-stack.js';

const setup = useChatHarness('console-describe', createConsoleHarness);

async function picture(
  c: ConsoleHarness,
  name: string,
  colour: string,
  width = 600,
  height = 400,
): Promise<void> {
  await writeFile(join(c.cwd, name), await solidPicture(colour, width, height, 'png'));
}

describe('console: /describe', () => {
  it('lists up to four numbered descriptions of the picture, charges one unit, and /imagine makes one', async () => {
    const c = await setup();
    await picture(c, 'pic.png', '#c03030');
    c.type('/describe ./pic.png');
    await c.waitFor(/Queued #1/);
    const listed = await c.waitFor(/Prompts that describe your picture:\n((?:\d\. [^\n]+\n){1,4})/);
    const lines = listed[1]!.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(4);
    expect(lines[0]).toMatch(/^1\. red theme, landscape/);
    expect(c.output()).toContain('Make one: /imagine followed by its text.');
    expect(await c.used()).toBe(1);

    const text = lines[1]!.replace(/^2\. /, '');
    const from = c.output().length;
    c.type(`/imagine ${text} --steps 2`);
    await c.waitFor(/Saved: outputs\/output_\S+\.png/, { from });
    expect(await c.used()).toBe(2);
  });

  it('charges DESCRIBE_WEIGHT units when the operator sets it, for /reroll too', async () => {
    const c = await setup({ env: { DESCRIBE_WEIGHT: '3' } });
    await picture(c, 'pic.png', '#2040d0');
    c.type('/describe ./pic.png');
    await c.waitFor(/Prompts that describe your picture:/);
    expect(await c.used()).toBe(3);
    // /reroll after a /describe describes the same picture again, at the same weight.
    const from = c.output().length;
    c.type('/reroll');
    await c.waitFor(/Prompts that describe your picture:\n1\. blue theme/, { from });
    expect(await c.used()).toBe(6);
  });

  it('requeues a failed describe at the weight it was asked at', async () => {
    // One attempt: a retry would run the tagger again and succeed (the fault is for one run).
    const c = await setup({ env: { DESCRIBE_WEIGHT: '3', GENERATE_ATTEMPTS: '1' } });
    await picture(c, 'pic.png', '#c03030');
    c.sim.faults.next({ kind: 'error', classType: 'WD14Tagger|pysssss', message: 'onnxruntime failed' });
    c.type('/describe ./pic.png');
    await c.waitFor(/Could not describe your picture: .* Your quota was not charged\./);
    expect(await c.used()).toBe(0);
    c.type('/failed');
    const failed = await c.waitFor(/ (console-\S+) · other: /);
    const from = c.output().length;
    c.type(`/requeue ${failed[1]!}`);
    await c.waitFor(/Prompts that describe your picture:/, { from });
    expect(await c.used()).toBe(3);
  });

  it('refuses /describe without a picture, a missing file, a non-image and a pixel bomb, charging nothing', async () => {
    const c = await setup();
    c.type('/describe');
    await c.waitFor(/Give the path of a picture after \/describe, .*: \/describe \.\/pic\.png\./);
    c.type('/describe ./nothing-here.png');
    await c.waitFor(
      /There is no file \.\/nothing-here\.png\. Give the path of a picture: \/describe \.\/pic\.png\./,
    );
    await writeFile(join(c.cwd, 'notes.png'), 'these are not pixels');
    c.type('/describe ./notes.png');
    await c.waitFor(/That photo cannot be used: The file is not a picture we can read\./);
    await writeFile(join(c.cwd, 'bomb.png'), pngBomb());
    const from = c.output().length;
    c.type('/describe ./bomb.png');
    await c.waitFor(/The image has too many pixels/, { from });
    expect(await c.used()).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('says why and what to fix when the describe workflow returns no text, charging nothing', async () => {
    // An operator's describe workflow whose textKey names a key its nodes never report.
    const dir = await mkdtemp(join(tmpdir(), 'describe-wf-'));
    try {
      const builtin = BUILTIN_WORKFLOWS['describe'];
      await writeFile(
        join(dir, 'describe.workflow.json'),
        JSON.stringify({ ...builtin, manifest: { ...builtin?.manifest, textKey: 'text' } }),
      );
      const c = await setup({ env: { WORKFLOWS_DIR: dir } });
      await picture(c, 'pic.png', '#806040');
      c.type('/describe ./pic.png');
      await c.waitFor(
        /Could not describe your picture: the describe workflow returned no text\. An operator must check its output nodes and textKey \(README, Workflows and styles\)\. Your quota was not charged\./,
      );
      expect(await c.used()).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names what the operator must install when no server can describe, charging nothing', async () => {
    const c = await setup({ simulator: { excludeNodes: ['WD14Tagger|pysssss'] } });
    await picture(c, 'pic.png', '#30a040');
    c.type('/describe ./pic.png');
    await c.waitFor(
      /No GPU server here can describe pictures right now\. An operator must install ComfyUI-WD14-Tagger \(https:\/\/github\.com\/pythongosssss\/ComfyUI-WD14-Tagger\)/,
    );
    expect(await c.used()).toBe(0);
  });
});
