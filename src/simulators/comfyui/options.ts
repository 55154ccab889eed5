/**
 * A ComfyUI 0.8.0 stand-in for tests and local runs: real node:http + `ws` server with the recorded
 * wire behaviour (see ../../../../shared/comfyui/transcript.jsonl), synthetic images rendered with
 * sharp, one prompt at a time from a priority queue. Everything lives in memory. This file is its
 * public surface: the options, the fault switches and the handle `startSimulator` (server.ts) returns.
 *
 * Fault injection (`sim.faults`), all one-shot unless said otherwise:
 * - `faults.next(fault)` applies to the next prompt that starts executing:
 *   - `{ kind: 'error', classType?, nodeId?, exceptionType?, message? }`: `execution_error` raised
 *     when that node runs (default: the first sampler, else the first executed node). Presets:
 *     `NO_FACE_DETECTED` (InstantID's `Exception('Reference Image: No face detected.')`) and
 *     `CUDA_OUT_OF_MEMORY` (`torch.OutOfMemoryError`).
 *   - `{ kind: 'drop-sockets', afterSteps }`: every WebSocket is terminated after that many
 *     sampler steps; the run carries on, as on the real server.
 *   - `{ kind: 'hang', afterSteps? }`: after that many sampler steps (default 0) the run stops
 *     progressing (ignoring /interrupt, as a wedged GPU does) until `faults.clear()`, `kill()` or
 *     `close()`.
 *   - `{ kind: 'slow-start', delayMs }`: delay between dequeue and `execution_start`.
 * - `unloadableModels` (an option): files that are listed but fail to load when their loader runs, with
 *   safetensors' "header too large", as placeholder files did on the real server. `broken.safetensors`
 *   (a listed checkpoint) always fails that way, with the recorded "invalid JSON in header".
 * - `faults.http({ status?, times?, path?, hang? })`: the next `times` HTTP requests whose path
 *   starts with `path` (or matches the RegExp) get `status` (default 503) with a plain-text body, or
 *   are never answered when `hang` is true.
 * - `faults.kill()`: destroys every socket and stops answering (a backend killed mid-run).
 * - `faults.clear()`: forgets pending faults and releases a hang.
 */
import type { ModelFolders, NodeInfo } from './catalog.js';

export type ExecutionFault =
  | { kind: 'error'; classType?: string; nodeId?: string; exceptionType?: string; message?: string }
  | { kind: 'drop-sockets'; afterSteps: number }
  | { kind: 'hang'; afterSteps?: number }
  | { kind: 'slow-start'; delayMs: number };

export interface HttpFault {
  status?: number;
  times?: number;
  path?: string | RegExp;
  hang?: boolean;
}

export const NO_FACE_DETECTED: ExecutionFault = {
  kind: 'error',
  classType: 'ApplyInstantID',
  exceptionType: 'Exception',
  message: 'Reference Image: No face detected.',
};

export const CUDA_OUT_OF_MEMORY: ExecutionFault = {
  kind: 'error',
  exceptionType: 'torch.OutOfMemoryError',
  message:
    'CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.02 GiB is free.\n' +
    'This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number.',
};

export interface FaultControls {
  next(fault: ExecutionFault): void;
  http(fault: HttpFault): void;
  kill(): void;
  clear(): void;
}

export interface SimulatorStats {
  promptsExecuted: number;
  promptsSucceeded: number;
  promptsFailed: number;
  promptsInterrupted: number;
  stepsRun: number;
  modelSwitches: number;
  httpRequests: number;
  wsConnections: number;
  queueRemaining: number;
}

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** Time per sampling step; 0 runs as fast as possible. */
  stepMs?: number;
  /** Cost of loading a checkpoint/unet other than the last one loaded. */
  modelSwitchMs?: number;
  previews?: boolean;
  /** Model folders; a folder given here replaces the default list of that folder. */
  models?: Partial<ModelFolders>;
  /** Node classes to leave out, to act as a backend without a custom node pack. */
  excludeNodes?: readonly string[];
  /**
   * Model files that are present (listed, so a prompt using them passes validation) but cannot be loaded,
   * like the placeholder files of the real run: the loader node that reads one raises safetensors'
   * `SafetensorError: Error while deserializing header: header too large` when it executes.
   */
  unloadableModels?: readonly string[];
  name?: string;
  now?: () => number;
  /**
   * Optional observer for benchmarks, called synchronously: `prompt` when a `POST /prompt` is accepted
   * (`receivedAt` is when its request arrived), `start` and `end` around a prompt's execution. `at` and
   * `receivedAt` are epoch milliseconds with sub-millisecond precision (`performance.timeOrigin + now`),
   * comparable across processes on one host.
   */
  onTrace?: (event: SimulatorTrace) => void;
}

export type SimulatorTrace =
  | { type: 'prompt'; promptId: string; receivedAt: number; at: number }
  | { type: 'start'; promptId: string; at: number }
  | { type: 'end'; promptId: string; outcome: 'success' | 'error' | 'interrupted'; at: number };

export interface Simulator {
  url: string;
  port: number;
  name: string;
  close(): Promise<void>;
  faults: FaultControls;
  stats(): SimulatorStats;
  catalog(): Record<string, NodeInfo>;
}
