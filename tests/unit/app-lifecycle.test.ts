// The shutdown order of src/app/lifecycle.ts: parts close newest first (a role before the queues and the
// Redis it runs on), and one part failing to close neither stops the rest nor escapes.
import { describe, expect, it } from 'vitest';
import { createLifecycle } from '../../src/app/lifecycle.js';

function recordingLog(): { warns: object[]; info(): void; warn(obj: object): void } {
  const warns: object[] = [];
  return {
    warns,
    info() {},
    warn(obj: object) {
      warns.push(obj);
    },
  };
}

describe('lifecycle', () => {
  it('closes parts in reverse order of adding, once', async () => {
    const log = recordingLog();
    const life = createLifecycle(log);
    const closed: string[] = [];
    for (const name of ['redis', 'queue', 'worker', 'http']) {
      life.add(name, () => {
        closed.push(name);
        return Promise.resolve();
      });
    }
    await life.closeAll();
    await life.closeAll();
    expect(closed).toEqual(['http', 'worker', 'queue', 'redis']);
  });

  it('logs a part that fails to close and still closes the ones below it', async () => {
    const log = recordingLog();
    const life = createLifecycle(log);
    const closed: string[] = [];
    life.add('redis', () => {
      closed.push('redis');
      return Promise.resolve();
    });
    life.add('worker', () => Promise.reject(new Error('lock lost')));
    await life.closeAll();
    expect(closed).toEqual(['redis']);
    expect(log.warns).toEqual([{ part: 'worker', err: 'Error: lock lost' }]);
  });
});
