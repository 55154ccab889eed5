// Every prompt this client follows, fed from two sources: the socket's frames (routed here by prompt id)
// and `/history` + `/queue`, which each watcher reconciles from when it starts (which also adopts a prompt
// submitted by a process that died), after every reconnect, while the socket is down, and periodically
// while it is up, because frames sent while disconnected are lost (transcript, scenario `reconnect`).
// A success is settled from the frames alone when the socket carried the whole run (from its start, with
// no drop in between) and every output node the caller named sent an `executed` frame with its output;
// otherwise (a cached output node whose frame says nothing, an adopted prompt, a reconnect) `/history`
// settles it as before.
import type { ComfyLogger, WatchEvent, WatchOptions } from './client.js';
import type { ComfyHttp } from './comfy-http.js';
import type { ComfySocket } from './comfy-socket.js';
import { ComfyDisconnectedError, ComfyExecutionError } from './errors.js';
import { EventChannel } from './event-channel.js';
import { outcomeFromHistory } from './history-outcome.js';
import {
  parseBinaryFrame,
  parseWsText,
  type HistoryEntry,
  type ImageRef,
  type NodeOutput,
  type WsMessage,
} from './schemas.js';

/**
 * Frames the client never reads, left unvalidated: `progress_state` repeats every node's state on each
 * step (the largest and most frequent frame); `progress` and `executing` carry what we use.
 */
const UNUSED_WS_TYPES: ReadonlySet<string> = new Set(['progress_state']);

/** How long frames of a submitted but not yet watched prompt are kept. */
const UNWATCHED_TTL_MS = 10 * 60_000;

interface Watcher {
  readonly promptId: string;
  readonly channel: EventChannel<WatchEvent>;
  done: boolean;
  started: boolean;
  lastAhead: number | undefined;
  executedNodes: Set<string>;
  missing: number;
  unreachableSince: number | undefined;
  reconciling: boolean;
  timer: NodeJS.Timeout | undefined;
  /** False while only `submit` registered it: frames are kept until `watch` attaches or it expires. */
  attached: boolean;
  /** Whether a frame for this prompt arrived since the last reconcile (an adopted prompt gets none). */
  heard: boolean;
  /** The socket carried this run from its start (execution_start/cached) without dropping since. */
  seenWhole: boolean;
  /** The socket dropped at some point while this watcher lived: frames may be missing. */
  missedFrames: boolean;
  /** Each node's `executed` output (null: a cached node whose frame said nothing). */
  frameOutputs: Map<string, NodeOutput | null>;
  /** The output nodes the caller reads; without them a success is always read from `/history`. */
  outputNodes: readonly string[] | undefined;
  /** execution_success arrived before `watch` attached. */
  succeeded: boolean;
}

export interface PromptWatchersDeps {
  name: string;
  http: Pick<ComfyHttp, 'history' | 'queue'>;
  socket: Pick<ComfySocket, 'ensure' | 'isOpen'>;
  /** True once the client is closed: no more polling. */
  isClosed(): boolean;
  pollMs: number;
  reconcileMs: number;
  unreachableMs: number;
  logger?: ComfyLogger;
}

export interface PromptWatchers {
  watch(promptId: string, opts?: WatchOptions): AsyncIterable<WatchEvent>;
  /**
   * Keeps the frames of a prompt about to be submitted until `watch` attaches (or a while passes);
   * returns how to let go of it if the submission fails, or undefined when it is already followed.
   */
  hold(promptId: string): (() => void) | undefined;
  onText(text: string): void;
  onBinary(buf: Buffer): void;
  /** The socket (re)opened: frames sent while we were away are lost, so every watcher checks now. */
  onSocketOpen(): void;
  /** The socket dropped: watchers poll `/history` and `/queue` until it is back. */
  onSocketLost(): void;
  any(): boolean;
  failAll(err: Error): void;
}

export function createPromptWatchers(deps: PromptWatchersDeps): PromptWatchers {
  const { name, http, socket, pollMs, reconcileMs, unreachableMs, logger: log } = deps;
  const watchers = new Map<string, Watcher>();
  /** The prompt this client last saw start; frames without a prompt id belong to it. */
  let running: string | undefined;

  function onText(text: string): void {
    const parsed = parseWsText(text, UNUSED_WS_TYPES);
    if (!parsed.ok) {
      if (parsed.reason === 'not_json' || parsed.reason === 'malformed')
        log?.warn({ backend: name, parsed }, 'unreadable comfy message');
      return;
    }
    route(parsed.message);
  }

  function route(msg: WsMessage): void {
    const id = 'prompt_id' in msg.data ? msg.data.prompt_id : undefined;
    const heardOf = watchers.get(typeof id === 'string' ? id : (running ?? ''));
    if (heardOf) heardOf.heard = true;
    switch (msg.type) {
      case 'status':
      case 'feature_flags':
      case 'progress_state':
        return;
      case 'execution_start': {
        running = msg.data.prompt_id;
        const w = watchers.get(msg.data.prompt_id);
        if (w) {
          w.seenWhole = !w.missedFrames;
          markStarted(w);
        }
        return;
      }
      case 'execution_cached': {
        const w = watchers.get(msg.data.prompt_id);
        if (w) {
          if (!w.started) w.seenWhole = !w.missedFrames;
          markStarted(w);
          w.channel.push({ type: 'cached', nodes: msg.data.nodes });
        }
        return;
      }
      case 'executing': {
        const id = msg.data.prompt_id ?? running;
        const w = id === undefined ? undefined : watchers.get(id);
        if (w && msg.data.node !== null) {
          markStarted(w);
          w.executedNodes.add(msg.data.node);
          w.channel.push({ type: 'node', node: msg.data.node });
        }
        return;
      }
      case 'progress': {
        const id = msg.data.prompt_id ?? running;
        const w = id === undefined || id === null ? undefined : watchers.get(id);
        if (w) {
          markStarted(w);
          w.channel.push({
            type: 'progress',
            node: msg.data.node ?? null,
            value: msg.data.value,
            max: msg.data.max,
          });
        }
        return;
      }
      case 'executed': {
        const w = watchers.get(msg.data.prompt_id);
        if (w) w.frameOutputs.set(msg.data.node, msg.data.output ?? null);
        if (w)
          w.channel.push({
            type: 'executed',
            node: msg.data.node,
            images: msg.data.output?.images ?? [],
            output: msg.data.output,
          });
        return;
      }
      case 'execution_success': {
        if (running === msg.data.prompt_id) running = undefined;
        const w = watchers.get(msg.data.prompt_id);
        // Ended before `watch` named its output nodes: settled when it attaches.
        if (w && !w.attached) w.succeeded = true;
        else if (w && !finishFromFrames(w)) void finishFromHistory(w);
        return;
      }
      case 'execution_error': {
        if (running === msg.data.prompt_id) running = undefined;
        const w = watchers.get(msg.data.prompt_id);
        if (w) finish(w, { type: 'error', error: new ComfyExecutionError(name, msg.data) });
        return;
      }
      case 'execution_interrupted': {
        if (running === msg.data.prompt_id) running = undefined;
        const w = watchers.get(msg.data.prompt_id);
        if (w) finish(w, { type: 'interrupted', nodeId: msg.data.node_id ?? null });
        return;
      }
    }
  }

  function onBinary(buf: Buffer): void {
    const frame = parseBinaryFrame(buf);
    if (frame === undefined || 'unknown' in frame) return;
    // Event 1 carries no prompt id; only the submitting client gets previews and one prompt runs at a time.
    const id = frame.event === 4 ? frame.metadata.prompt_id : running;
    const w = id === undefined ? undefined : watchers.get(id);
    if (w)
      w.channel.push({ type: 'preview', mime: frame.mime, image: frame.image }, (q) => q.type === 'preview');
  }

  function markStarted(w: Watcher): void {
    if (w.started || w.done) return;
    w.started = true;
    w.channel.push({ type: 'started' });
  }

  function finish(w: Watcher, event: WatchEvent): void {
    if (w.done) return;
    w.done = true;
    w.started = true;
    w.channel.push(event);
    w.channel.end();
    stopWatcher(w);
  }

  function fail(w: Watcher, err: Error): void {
    if (w.done) return;
    w.done = true;
    w.channel.fail(err);
    stopWatcher(w);
  }

  function stopWatcher(w: Watcher): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    if (!w.attached) {
      // Finished before anyone watched: keep its events for a late `watch` for a while.
      w.timer = setTimeout(() => {
        dropWatcher(w);
      }, UNWATCHED_TTL_MS);
      w.timer.unref();
      return;
    }
    dropWatcher(w);
  }

  function dropWatcher(w: Watcher): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    if (watchers.get(w.promptId) === w) watchers.delete(w.promptId);
  }

  function newWatcher(promptId: string, attached: boolean): Watcher {
    const w: Watcher = {
      promptId,
      channel: new EventChannel<WatchEvent>(),
      done: false,
      started: false,
      lastAhead: undefined,
      executedNodes: new Set(),
      missing: 0,
      unreachableSince: undefined,
      reconciling: false,
      timer: undefined,
      attached,
      heard: false,
      seenWhole: false,
      missedFrames: !socket.isOpen(),
      frameOutputs: new Map(),
      outputNodes: undefined,
      succeeded: false,
    };
    watchers.set(promptId, w);
    if (!attached) {
      w.timer = setTimeout(() => {
        dropWatcher(w);
      }, UNWATCHED_TTL_MS);
      w.timer.unref();
    }
    return w;
  }

  /** Settles a success from the frames when they tell everything the caller reads; false otherwise. */
  function finishFromFrames(w: Watcher): boolean {
    if (!w.seenWhole || w.missedFrames || w.outputNodes === undefined || w.outputNodes.length === 0) {
      return false;
    }
    for (const node of w.outputNodes) if (!w.frameOutputs.get(node)) return false;
    const outputs: Record<string, ImageRef[]> = {};
    const ui: Record<string, NodeOutput> = {};
    for (const [node, output] of w.frameOutputs) {
      if (output === null) continue;
      ui[node] = output;
      if (output.images && output.images.length > 0) outputs[node] = output.images;
    }
    finish(w, { type: 'success', outputs, executedNodes: [...w.executedNodes], ui });
    return true;
  }

  async function finishFromHistory(w: Watcher): Promise<void> {
    try {
      const entry = await http.history(w.promptId);
      if (w.done) return;
      if (entry) {
        settleFromHistory(w, entry);
        if (w.done) return;
      }
      // The success frame arrived before the history was written: the next reconcile tick settles it.
      schedule(w, 50);
    } catch (err) {
      if (!w.done) {
        log?.warn({ backend: name, promptId: w.promptId, err: String(err) }, 'history after success failed');
        schedule(w, pollMs);
      }
    }
  }

  /** Settles a watcher from a history entry; leaves it open if the entry is not final yet. */
  function settleFromHistory(w: Watcher, entry: HistoryEntry): void {
    const outcome = outcomeFromHistory(name, w.promptId, entry, w.executedNodes);
    if (outcome !== undefined) finish(w, outcome);
  }

  function schedule(w: Watcher, ms: number): void {
    if (w.done || deps.isClosed()) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      void reconcile(w);
    }, ms);
    w.timer.unref();
  }

  /** Finds the prompt's state from `/history` then `/queue`; the socket may have missed anything. */
  async function reconcile(w: Watcher): Promise<void> {
    if (w.done || w.reconciling) return;
    w.reconciling = true;
    try {
      const entry = await http.history(w.promptId);
      if (w.done) return;
      if (entry) {
        settleFromHistory(w, entry);
        if (w.done) return;
      } else {
        const q = await http.queue();
        if (w.done) return;
        const isRunning = q.running.some((e) => e.promptId === w.promptId);
        const pendingIndex = q.pending.findIndex((e) => e.promptId === w.promptId);
        if (isRunning) {
          running = w.promptId;
          markStarted(w);
          w.missing = 0;
        } else if (pendingIndex >= 0) {
          const ahead = q.running.length + pendingIndex;
          if (w.lastAhead !== ahead && !w.started) w.channel.push({ type: 'queued', ahead });
          w.lastAhead = ahead;
          w.missing = 0;
        } else {
          // Between leaving the queue and entering the history a prompt is briefly in neither.
          const again = await http.history(w.promptId);
          if (w.done) return;
          if (again) settleFromHistory(w, again);
          else if (++w.missing >= 3) {
            fail(
              w,
              new ComfyDisconnectedError(name, `watch ${w.promptId}: prompt is in neither queue nor history`),
            );
            return;
          }
        }
      }
      w.unreachableSince = undefined;
    } catch (err) {
      if (w.done) return;
      const since = (w.unreachableSince ??= Date.now());
      if (Date.now() - since >= unreachableMs) {
        fail(
          w,
          err instanceof ComfyDisconnectedError
            ? err
            : new ComfyDisconnectedError(name, `watch ${w.promptId}`, { cause: err }),
        );
        return;
      }
    } finally {
      w.reconciling = false;
    }
    // Frames for this prompt keep coming: a slow safety check suffices. Otherwise (socket down, or a
    // prompt another process submitted, whose frames go to that process) poll.
    const quiet = !w.heard;
    w.heard = false;
    if (!w.done) schedule(w, w.missing > 0 ? 100 : socket.isOpen() && !quiet ? reconcileMs : pollMs);
  }

  function watch(promptId: string, wopts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    return {
      [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
        const existing = watchers.get(promptId);
        let w: Watcher;
        // Registered by our own `submit` while the socket was open: every frame since the prompt was
        // queued has been kept (a reconnect in between reconciled it already), so the first look at
        // `/history` and `/queue` can wait for the usual safety check instead of costing two requests.
        const submittedHere = existing !== undefined && !existing.attached && socket.isOpen();
        if (existing && !existing.attached) {
          // Registered by `submit`: take over the frames that arrived before this call.
          w = existing;
          w.attached = true;
          w.outputNodes = wopts.outputNodes;
          if (w.timer) clearTimeout(w.timer);
          w.timer = undefined;
          if (w.done) dropWatcher(w);
        } else {
          if (existing)
            fail(
              existing,
              new ComfyDisconnectedError(name, `watch ${promptId}: replaced by a newer watcher`),
            );
          w = newWatcher(promptId, true);
          w.outputNodes = wopts.outputNodes;
          // Watched after its run may have started: earlier frames were not kept for it.
          w.missedFrames = true;
        }
        const channel = w.channel;
        const signal = wopts.signal;
        const onAbort = (): void => {
          const reason: unknown = signal?.reason;
          fail(w, reason instanceof Error ? reason : new Error('watch aborted', { cause: reason }));
        };
        if (signal?.aborted === true) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
        if (!w.done && w.succeeded) {
          if (!finishFromFrames(w)) void finishFromHistory(w);
        } else if (!w.done) {
          socket.ensure();
          if (submittedHere) schedule(w, reconcileMs);
          else void reconcile(w);
        }
        return {
          next: () => channel.next(),
          return: () => {
            signal?.removeEventListener('abort', onAbort);
            if (!w.done) {
              w.done = true;
              channel.end();
              stopWatcher(w);
            }
            return Promise.resolve({ value: undefined, done: true });
          },
        };
      },
    };
  }

  return {
    watch,
    hold(promptId) {
      if (watchers.has(promptId)) return undefined;
      const w = newWatcher(promptId, false);
      return () => {
        dropWatcher(w);
      };
    },
    onText,
    onBinary,
    onSocketOpen() {
      for (const w of watchers.values()) void reconcile(w);
    },
    onSocketLost() {
      for (const w of watchers.values()) {
        w.missedFrames = true;
        if (w.attached) schedule(w, pollMs);
      }
    },
    any: () => watchers.size > 0,
    failAll(err) {
      for (const w of [...watchers.values()]) fail(w, err);
    },
  };
}
