// A child process hosting ComfyUI simulators for the pipeline benchmarks, so the simulated GPU servers do
// not share an event loop with the pipeline they serve. Talks to its parent over IPC:
//   parent → child: { type: 'start', count, stepMs, modelSwitchMs, previews } | { type: 'ping', id } |
//                   { type: 'stats' } | { type: 'close' }
//   child → parent: { type: 'ready', urls } | { type: 'traces', traces } | { type: 'pong', id, at } |
//                   { type: 'stats', stats } | { type: 'closed' }
// Traces (POST /prompt arrival, execution start and end) are batched per event-loop turn.
import { startSimulator, type Simulator, type SimulatorTrace } from '../src/simulators/comfyui/index.js';

export type HostTrace = SimulatorTrace & { backend: number };

export type HostRequest =
  | { type: 'start'; count: number; stepMs: number; modelSwitchMs: number; previews: boolean }
  | { type: 'ping'; id: number }
  | { type: 'stats' }
  | { type: 'close' };

export type HostMessage =
  | { type: 'ready'; urls: string[] }
  | { type: 'traces'; traces: HostTrace[] }
  | { type: 'pong'; id: number; at: number }
  | { type: 'stats'; stats: ReturnType<Simulator['stats']>[]; cpuMs: number }
  | { type: 'closed' };

const send = (m: HostMessage): void => {
  process.send?.(m);
};

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

let sims: Simulator[] = [];
let batch: HostTrace[] = [];
let flushing = false;
const flush = (): void => {
  flushing = false;
  if (batch.length === 0) return;
  send({ type: 'traces', traces: batch });
  batch = [];
};

process.on('message', (raw: HostRequest) => {
  void (async () => {
    switch (raw.type) {
      case 'start':
        sims = await Promise.all(
          Array.from({ length: raw.count }, (_, i) =>
            startSimulator({
              port: 0,
              stepMs: raw.stepMs,
              modelSwitchMs: raw.modelSwitchMs,
              previews: raw.previews,
              name: `sim-${i}`,
              onTrace: (t) => {
                batch.push({ ...t, backend: i });
                if (!flushing) {
                  flushing = true;
                  setImmediate(flush);
                }
              },
            }),
          ),
        );
        send({ type: 'ready', urls: sims.map((s) => s.url) });
        return;
      case 'ping':
        send({ type: 'pong', id: raw.id, at: performance.timeOrigin + performance.now() });
        return;
      case 'stats':
        send({ type: 'stats', stats: sims.map((s) => s.stats()), cpuMs: cpuMs() });
        return;
      case 'close':
        flush();
        await Promise.all(sims.map((s) => s.close()));
        send({ type: 'closed' });
        process.disconnect();
        return;
    }
  })();
});
process.on('disconnect', () => {
  process.exit(0);
});
