// The accumulated run report in Redis: per style and backend, runs, cold starts, and sum/min/max of each
// timing phase, plus a capped sample of queue waits for a p95. One Lua call per record keeps the
// counters consistent when many workers write at once.
import type { ChainableCommander, Redis } from 'ioredis';
import { TIMING_PHASES, type TimingPhase, type TimingRecord } from './timing.js';
import { batchScript, evalScript, type BatchReply } from '../redis-script.js';

const QUEUE_WAIT_SAMPLES = 500;

const RECORD_LUA = `
local key = KEYS[1]
redis.call('HINCRBY', key, 'runs', 1)
redis.call('HINCRBY', key, 'images', tonumber(ARGV[1]))
redis.call('HINCRBY', key, 'cold', tonumber(ARGV[2]))
redis.call('HINCRBYFLOAT', key, 'gpuSeconds', ARGV[3])
redis.call('HINCRBYFLOAT', key, 'cost', ARGV[4])
local i = 5
while i <= #ARGV do
  local name = ARGV[i]
  local v = tonumber(ARGV[i + 1])
  redis.call('HINCRBYFLOAT', key, name .. ':sum', v)
  local mn = redis.call('HGET', key, name .. ':min')
  if (not mn) or v < tonumber(mn) then redis.call('HSET', key, name .. ':min', v) end
  local mx = redis.call('HGET', key, name .. ':max')
  if (not mx) or v > tonumber(mx) then redis.call('HSET', key, name .. ':max', v) end
  i = i + 2
end
redis.call('LPUSH', KEYS[2], ARGV[6])
redis.call('LTRIM', KEYS[2], 0, ${QUEUE_WAIT_SAMPLES - 1})
redis.call('SADD', KEYS[3], KEYS[1])
return 1
`;

export interface PhaseStats {
  avg: number;
  min: number;
  max: number;
}

export interface ReportRow {
  style: string;
  backend: string;
  runs: number;
  images: number;
  coldStarts: number;
  gpuSeconds: number;
  costPerImage: number;
  queueWaitP95Ms: number;
  phases: Record<TimingPhase, PhaseStats>;
}

export interface RunReport {
  record(r: TimingRecord): Promise<void>;
  /**
   * `record` as a command of the caller's pipeline (sent in the same round trip as the caller's other
   * writes; on a Cluster the batch stays in the report's slot); the function returned reads its reply.
   */
  recordInBatch?(batch: ChainableCommander, r: TimingRecord): (reply: BatchReply) => Promise<unknown>;
  read(): Promise<ReportRow[]>;
}

/** `prefix` isolates installs sharing one Redis; the report lives under `<prefix>:{report}:*`. */
export function createRunReport(deps: { redis: Redis; prefix: string }): RunReport {
  const { redis, prefix } = deps;
  // One hash tag for every report key, so the Lua call stays within one slot on Redis Cluster.
  const base = `${prefix}:{report}:`;
  const index = `${base}index`;
  const keyOf = (style: string, backend: string): string =>
    `${base}${encodeURIComponent(style)}:${encodeURIComponent(backend)}`;

  const argsOf = (r: TimingRecord): (string | number)[] => {
    const key = keyOf(r.style, r.backend);
    const args: (string | number)[] = [
      key,
      `${key}:qw`,
      index,
      r.images,
      r.coldStart ? 1 : 0,
      r.gpuSeconds,
      r.cost,
    ];
    // queueWaitMs is the first phase: ARGV[6] is its value, pushed into the sample list.
    for (const phase of TIMING_PHASES) args.push(phase, r[phase]);
    return args;
  };

  return {
    async record(r) {
      await evalScript(redis, RECORD_LUA, 3, ...argsOf(r));
    },
    recordInBatch: (batch, r) => batchScript(batch, redis, RECORD_LUA, 3, ...argsOf(r)),
    async read() {
      const keys = await redis.smembers(index);
      const rows: ReportRow[] = [];
      for (const key of keys.sort()) {
        const [h, samples] = await Promise.all([redis.hgetall(key), redis.lrange(`${key}:qw`, 0, -1)]);
        const runs = Number(h['runs'] ?? 0);
        if (runs === 0) continue;
        const [styleEnc = '', backendEnc = ''] = key.slice(base.length).split(':');
        const phases = {} as Record<TimingPhase, PhaseStats>;
        for (const phase of TIMING_PHASES) {
          phases[phase] = {
            avg: Number(h[`${phase}:sum`] ?? 0) / runs,
            min: Number(h[`${phase}:min`] ?? 0),
            max: Number(h[`${phase}:max`] ?? 0),
          };
        }
        const images = Number(h['images'] ?? 0);
        rows.push({
          style: decodeURIComponent(styleEnc),
          backend: decodeURIComponent(backendEnc),
          runs,
          images,
          coldStarts: Number(h['cold'] ?? 0),
          gpuSeconds: Number(h['gpuSeconds'] ?? 0),
          costPerImage: images > 0 ? Number(h['cost'] ?? 0) / images : 0,
          queueWaitP95Ms: percentile(samples.map(Number), 0.95),
          phases,
        });
      }
      return rows;
    },
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[idx] ?? 0;
}

export function formatReport(rows: ReportRow[]): string {
  if (rows.length === 0) return 'No runs recorded yet.';
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  const lines = [
    'style / backend: runs (cold) | queue wait avg/p95 | model load avg/min/max | sampling avg/min/max | download avg | encode avg | total avg/min/max (s) | GPU s | cost/image',
  ];
  for (const r of rows) {
    const p = r.phases;
    lines.push(
      `${r.style} / ${r.backend}: ${r.runs} (${r.coldStarts}) | ${s(p.queueWaitMs.avg)}/${s(r.queueWaitP95Ms)} | ` +
        `${s(p.modelLoadMs.avg)}/${s(p.modelLoadMs.min)}/${s(p.modelLoadMs.max)} | ` +
        `${s(p.samplingMs.avg)}/${s(p.samplingMs.min)}/${s(p.samplingMs.max)} | ${s(p.downloadMs.avg)} | ` +
        `${s(p.encodeMs.avg)} | ${s(p.totalMs.avg)}/${s(p.totalMs.min)}/${s(p.totalMs.max)} | ` +
        `${r.gpuSeconds.toFixed(1)} | ${r.costPerImage.toFixed(5)}`,
    );
  }
  return lines.join('\n');
}
