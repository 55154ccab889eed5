// `/cancel` reaches every job of a member: the newest, one named by its short id, or all of them; a
// cancelled job is never charged, and a running one ends with a follow-up saying how it ended. Real
// Redis, BullMQ, the worker and the ComfyUI simulator with slow steps, driven through the console.
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { cancelKey } from '../../src/generation/pipeline/generate-keys.js';
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

/** One backend slot and one job at a time: the first job runs, the next two wait in line. */
async function setup(): Promise<ConsoleHarness> {
  r = testRedis('cancel');
  h = await createConsoleHarness(r, {
    stepMs: 40,
    capacity: 1,
    concurrency: 1,
    env: { QUOTA_MAX_ACTIVE: '5', QUOTA_DAILY_IMAGES: '50' },
  });
  return h;
}

/** Queues three slow jobs; returns their short ids, oldest first, once the first one is drawing. */
async function threeJobs(c: ConsoleHarness, label: string): Promise<string[]> {
  const from = c.output().length;
  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    const mark = c.output().length;
    c.type(`/imagine ${label} ${n} --steps 40`);
    ids.push((await c.waitFor(/Queued #\d+ as job ([0-9a-f]{5})\./, { from: mark }))[1]!);
  }
  const stepsBefore = c.sim.stats().stepsRun;
  await expect
    .poll(() => c.sim.stats().stepsRun, { timeout: 10_000, interval: 10 })
    .toBeGreaterThan(stepsBefore);
  expect(c.output().slice(from)).not.toMatch(/Saved:/);
  return ids;
}

/** Every job of this console delivered (cancelled deliveries included), then nothing charged. */
async function settled(c: ConsoleHarness): Promise<void> {
  await expect.poll(() => c.bot.pending(), { timeout: 15_000, interval: 20 }).toBe(0);
  expect(await c.used()).toBe(0);
}

const PERMUTATIONS = [
  [0, 1, 2],
  [0, 2, 1],
  [1, 0, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
];

describe('/cancel reaches every job', () => {
  it('cancels one running and two waiting jobs by id in every order, charging none', async () => {
    const c = await setup();
    for (const [round, order] of PERMUTATIONS.entries()) {
      const ids = await threeJobs(c, `round ${round}`);
      for (const i of order) {
        const id = ids[i]!;
        const mark = c.output().length;
        c.type(`/cancel ${id}`);
        const reply = await c.waitFor(
          new RegExp(
            `(Cancelled job ${id} \\(it was waiting in line\\)|Stopping job ${id} \\(it was running\\))`,
          ),
          { from: mark },
        );
        // A running job ends later, with a follow-up naming it.
        if (reply[1]!.startsWith('Stopping')) {
          await c.waitFor(new RegExp(`Job ${id} was cancelled; your quota was not charged\\.`), {
            from: mark,
          });
        }
      }
      await settled(c);
    }
    // Each round interrupted the job that was drawing; none of the 18 jobs was delivered.
    expect(c.output()).not.toMatch(/Saved:/);
    // The simulator counts an interrupt at the prompt's next step, which can come after the follow-up.
    await expect
      .poll(() => c.sim.stats().promptsInterrupted, { timeout: 10_000, interval: 10 })
      .toBeGreaterThanOrEqual(PERMUTATIONS.length);
  });

  it('/cancel takes the newest job and lists the others; three in a row stop all three', async () => {
    const c = await setup();
    const [first, second, third] = await threeJobs(c, 'newest');
    let mark = c.output().length;
    c.type('/cancel');
    await c.waitFor(
      new RegExp(`Cancelled job ${third} \\(it was waiting in line\\); your quota was not charged\\.`),
      {
        from: mark,
      },
    );
    await c.waitFor(new RegExp(`You still have: ${second} \\(waiting\\), ${first} \\(running\\)\\.`), {
      from: mark,
    });
    // The waiting job's cancellation was told once, by the reply (not again by its delivery).
    await expect.poll(() => c.bot.pending(), { timeout: 5_000, interval: 20 }).toBe(2);
    expect(c.output().slice(mark).match(new RegExp(third!, 'g'))).toHaveLength(1);

    mark = c.output().length;
    c.type('/cancel');
    await c.waitFor(new RegExp(`Cancelled job ${second} \\(it was waiting in line\\)`), { from: mark });
    mark = c.output().length;
    c.type('/cancel');
    await c.waitFor(new RegExp(`Stopping job ${first} \\(it was running\\)`), { from: mark });
    await c.waitFor(new RegExp(`Job ${first} was cancelled; your quota was not charged\\.`), { from: mark });
    await settled(c);

    mark = c.output().length;
    c.type('/cancel');
    await c.waitFor(/Nothing to cancel: you have no job waiting or running here\./, { from: mark });
    c.type('/cancel 00000');
    await c.waitFor(
      /You have no job 00000 waiting or running here\. You have no job waiting or running here\./,
      {
        from: mark,
      },
    );
  });

  it('/cancel all stops every job at once and says which were waiting and which running', async () => {
    const c = await setup();
    const [first, second, third] = await threeJobs(c, 'all');
    const mark = c.output().length;
    c.type('/quota');
    await c.waitFor(
      new RegExp(`Your jobs: ${third} \\(waiting\\), ${second} \\(waiting\\), ${first} \\(running\\)\\.`),
      { from: mark },
    );
    c.type('/cancel all');
    await c.waitFor(new RegExp(`Cancelled \\(they were waiting; not charged\\): ${third}, ${second}\\.`), {
      from: mark,
    });
    await c.waitFor(new RegExp(`Stopping \\(they were running; .*\\): ${first}\\.`), { from: mark });
    await c.waitFor(new RegExp(`Job ${first} was cancelled; your quota was not charged\\.`), { from: mark });
    await settled(c);
    // A second /cancel all finds nothing left.
    const again = c.output().length;
    c.type('/cancel all');
    await c.waitFor(/Nothing to cancel/, { from: again });
  });

  it('a cancel that reaches a job whose images are made: delivered, charged, and the member is told', async () => {
    const c = await setup();
    const queue = new Queue('generate', { connection: r!.connect(), prefix: r!.prefix });
    try {
      c.type('/imagine a late cancel --steps 10');
      await expect.poll(() => c.sim.stats().stepsRun, { timeout: 10_000, interval: 5 }).toBeGreaterThan(0);
      const [active] = await queue.getActive();
      expect(active?.id).toBeDefined();
      // The cancel mark without its interrupt: what a cancel arriving after the last step leaves.
      await r!.redis.set(cancelKey(r!.prefix, active!.id!), '1', 'EX', 60);
      await c.waitFor(/Saved: /);
      await c.waitFor(
        /Job [0-9a-f]{5} had already finished when the cancel arrived: delivered and charged\./,
      );
      expect(await c.used()).toBe(1);
    } finally {
      await queue.close();
    }
  });
});
