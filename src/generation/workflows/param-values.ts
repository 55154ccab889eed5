import type { WorkflowParams } from './workflow-schemas.js';

/** Seeds stay within 2^53−1 so a seed shown to a user (a JS number) always reproduces the image. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const fmt = (n: number): string => String(n);

/**
 * Why `value` is not acceptable for the named parameter of a workflow, naming the limits; undefined
 * when it is fine or when the workflow has no such parameter (callers check that separately).
 */
export function paramValueProblem(params: WorkflowParams, name: string, value: unknown): string | undefined {
  if (name === 'seed') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_SEED) {
      return `seed must be a whole number from 0 to ${fmt(MAX_SEED)}`;
    }
    return undefined;
  }
  if (name === 'batch') {
    const spec = params.batch;
    const max = spec?.max ?? 1;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      return max === 1 ? 'count must be 1 for this style' : `count must be a whole number from 1 to ${max}`;
    }
    return undefined;
  }
  if (name === 'sampler' || name === 'scheduler') {
    const spec = params[name];
    if (!spec) return undefined;
    if (typeof value !== 'string' || !spec.options.includes(value)) {
      return `${name} must be one of: ${spec.options.join(', ')}`;
    }
    return undefined;
  }
  if (
    name === 'width' ||
    name === 'height' ||
    name === 'steps' ||
    name === 'clipSkip' ||
    name === 'cfg' ||
    name === 'denoise' ||
    name === 'strength' ||
    name === 'guidance'
  ) {
    const spec = params[name];
    if (!spec) return undefined;
    const int = name === 'width' || name === 'height' || name === 'steps' || name === 'clipSkip';
    const range = `from ${fmt(spec.min)} to ${fmt(spec.max)}`;
    if (typeof value !== 'number' || !Number.isFinite(value)) return `${name} must be a number ${range}`;
    if (int && !Number.isInteger(value)) return `${name} must be a whole number ${range}`;
    if (value < spec.min || value > spec.max) return `${name} must be ${range} (got ${fmt(value)})`;
    if ('multipleOf' in spec && spec.multipleOf !== undefined && value % spec.multipleOf !== 0) {
      return `${name} must be a multiple of ${spec.multipleOf} (got ${fmt(value)})`;
    }
    return undefined;
  }
  return undefined;
}
