// A job's polled state as the pool's backend events: what changed since the previous poll, and whether
// the job has ended. The API reports no node ids for outputs and errors as text only.
import type { BackendEvent, OutputRef } from '../backends/backend.js';
import { ComfyExecutionError } from '../comfy/errors.js';
import type { JobState } from './schemas.js';

/** Outputs of a job API carry no node id: they are all filed under this key. */
export const JOBS_API_OUTPUT_KEY = 'jobs-api';

export function eventsOfJobState(
  backend: string,
  st: JobState,
  prev: JobState | undefined,
): { events: BackendEvent[]; done: boolean } {
  const events: BackendEvent[] = [];
  switch (st.status) {
    case 'queued':
      return { events, done: false };
    case 'running': {
      const node = st.current_node ?? null;
      if (node !== null && node !== (prev?.current_node ?? null)) events.push({ type: 'node', node });
      const step = st.current_step ?? undefined;
      const max = st.total_steps ?? undefined;
      if (
        step !== undefined &&
        max !== undefined &&
        max > 0 &&
        (step !== prev?.current_step || max !== prev.total_steps || node !== (prev.current_node ?? null))
      ) {
        events.push({ type: 'progress', node, value: step, max });
      }
      return { events, done: false };
    }
    case 'completed': {
      const refs: OutputRef[] = (st.outputs ?? []).map((o) => ({
        filename: o.filename,
        subfolder: '',
        type: 'output',
        url: o.url,
        job_id: st.job_id,
        ...(o.size_bytes === undefined || o.size_bytes === null ? {} : { size_bytes: o.size_bytes }),
      }));
      events.push({ type: 'success', outputs: { [JOBS_API_OUTPUT_KEY]: refs }, executedNodes: [] });
      return { events, done: true };
    }
    case 'failed': {
      const message = st.error ?? st.logs?.at(-1) ?? 'the job failed without a message';
      events.push({
        type: 'error',
        error: new ComfyExecutionError(backend, {
          prompt_id: st.job_id,
          node_id: st.current_node ?? '',
          node_type: '',
          executed: [],
          // The API gives the error as text only; the text still names the exception in most cases.
          exception_type: /^(\w[\w.]*(Error|Exception))\b/.exec(message)?.[1] ?? '',
          exception_message: message,
          traceback: [],
        }),
      });
      return { events, done: true };
    }
    case 'cancelled':
      events.push({ type: 'interrupted', nodeId: st.current_node ?? null });
      return { events, done: true };
  }
}
