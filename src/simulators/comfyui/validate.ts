import type { InputSpec, NodeInfo } from './catalog.js';

// Prompt validation with the answers of ComfyUI 0.8.0's `execution.validate_prompt`, as recorded:
// whole-prompt errors (`invalid_prompt`, `prompt_no_outputs`), then per output node a recursive
// check of inputs whose failures land in `node_errors[id]` with `dependent_outputs`. Only
// exceptions raised while validating (a link to a missing node is a Python KeyError) feed the
// top-level `details`; ordinary input errors leave it "".

export interface PromptNode {
  class_type?: unknown;
  inputs?: Record<string, unknown>;
}
export type PromptGraph = Record<string, PromptNode>;

export interface ValidationIssue {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export interface NodeErrors {
  errors: ValidationIssue[];
  dependent_outputs: string[];
  class_type: string;
}

export type ValidationResult =
  | { ok: true; outputs: string[]; nodeErrors: Record<string, NodeErrors> }
  | { ok: false; error: ValidationIssue; nodeErrors: Record<string, NodeErrors> };

export interface ValidateContext {
  catalog: Record<string, NodeInfo>;
  inputFileExists: (name: string) => boolean;
}

export function isLink(v: unknown): v is [string | number, number] {
  return Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number');
}

function pyRepr(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return JSON.stringify(v);
}

function issue(
  type: string,
  message: string,
  details: string,
  extra_info: Record<string, unknown>,
): ValidationIssue {
  return { type, message, details, extra_info };
}

class ValidationException extends Error {
  constructor(
    readonly exceptionType: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function convert(kind: string, v: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  if (kind === 'INT') {
    if (typeof v === 'number') return { ok: true, value: Math.trunc(v) };
    if (typeof v === 'boolean') return { ok: true, value: v ? 1 : 0 };
    if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v))
      return { ok: true, value: Number.parseInt(v, 10) };
    return { ok: false, message: `invalid literal for int() with base 10: ${pyRepr(v)}` };
  }
  if (kind === 'FLOAT') {
    if (typeof v === 'number') return { ok: true, value: v };
    if (typeof v === 'boolean') return { ok: true, value: v ? 1 : 0 };
    if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)))
      return { ok: true, value: Number(v) };
    return { ok: false, message: `could not convert string to float: ${pyRepr(v)}` };
  }
  if (kind === 'STRING') return { ok: true, value: typeof v === 'string' ? v : JSON.stringify(v) };
  if (kind === 'BOOLEAN') return { ok: true, value: Boolean(v) };
  return { ok: true, value: v };
}

function comboOptions(spec: InputSpec): string[] | undefined {
  const [kind, opts] = spec;
  if (Array.isArray(kind)) return kind as string[];
  if (kind === 'COMBO' && Array.isArray(opts['options'])) return opts['options'] as string[];
  return undefined;
}

export function validatePrompt(prompt: PromptGraph, ctx: ValidateContext): ValidationResult {
  const noErrors: Record<string, NodeErrors> = {};
  for (const [id, node] of Object.entries(prompt)) {
    if (typeof node.class_type !== 'string') {
      return {
        ok: false,
        error: issue(
          'invalid_prompt',
          'Cannot execute because a node is missing the class_type property.',
          `Node ID '#${id}'`,
          {},
        ),
        nodeErrors: noErrors,
      };
    }
    if (!(node.class_type in ctx.catalog)) {
      return {
        ok: false,
        error: issue(
          'invalid_prompt',
          `Cannot execute because node ${node.class_type} does not exist.`,
          `Node ID '#${id}'`,
          {},
        ),
        nodeErrors: noErrors,
      };
    }
  }
  const outputIds = Object.keys(prompt).filter(
    (id) => ctx.catalog[prompt[id]?.class_type as string]?.output_node === true,
  );
  if (outputIds.length === 0) {
    return {
      ok: false,
      error: issue('prompt_no_outputs', 'Prompt has no outputs', '', {}),
      nodeErrors: noErrors,
    };
  }

  const validated = new Map<string, { valid: boolean; reasons: ValidationIssue[] }>();
  const dependents = new Map<string, Set<string>>();
  const exceptionLines: string[] = [];
  const good: string[] = [];

  const validateNode = (id: string, output: string): boolean => {
    let deps = dependents.get(id);
    if (!deps) dependents.set(id, (deps = new Set()));
    deps.add(output);
    const done = validated.get(id);
    if (done) return done.valid;
    const node = prompt[id];
    if (!node) throw new ValidationException('KeyError', `'${id}'`);
    const info = ctx.catalog[node.class_type as string];
    if (!info) throw new ValidationException('KeyError', `'${node.class_type as string}'`);
    const inputs = node.inputs ?? {};
    const reasons: ValidationIssue[] = [];
    let valid = true;
    const specs: Array<[string, InputSpec, boolean]> = [
      ...Object.entries(info.input.required).map(([k, s]): [string, InputSpec, boolean] => [k, s, true]),
      ...Object.entries(info.input.optional ?? {}).map(([k, s]): [string, InputSpec, boolean] => [
        k,
        s,
        false,
      ]),
    ];
    for (const [name, spec, required] of specs) {
      if (!(name in inputs)) {
        if (required) {
          reasons.push(
            issue('required_input_missing', 'Required input is missing', name, { input_name: name }),
          );
          valid = false;
        }
        continue;
      }
      const value = inputs[name];
      const [kind, opts] = spec;
      if (isLink(value)) {
        const srcId = String(value[0]);
        const src = prompt[srcId];
        if (!src) throw new ValidationException('KeyError', `'${srcId}'`);
        const srcInfo = ctx.catalog[src.class_type as string];
        const receivedType = srcInfo?.output[value[1]];
        const wanted = typeof kind === 'string' ? kind : 'COMBO';
        if (receivedType !== undefined && wanted !== '*' && receivedType !== '*' && receivedType !== wanted) {
          reasons.push(
            issue(
              'return_type_mismatch',
              'Return type mismatch between linked nodes',
              `${name}, received_type(${receivedType}) mismatch input_type(${wanted})`,
              { input_name: name, input_config: spec, received_type: receivedType, linked_node: value },
            ),
          );
          valid = false;
          continue;
        }
        if (!validateNode(srcId, output)) valid = false;
        continue;
      }
      if (Array.isArray(value) && typeof kind === 'string' && kind !== 'COMBO' && /^[A-Z_]+$/.test(kind)) {
        if (!['INT', 'FLOAT', 'STRING', 'BOOLEAN'].includes(kind)) {
          reasons.push(
            issue(
              'bad_linked_input',
              'Bad linked input, must be a length-2 list of [node_id, slot_index]',
              name,
              {
                input_name: name,
                input_config: spec,
                received_value: value,
              },
            ),
          );
          valid = false;
          continue;
        }
      }
      if (node.class_type === 'LoadImage' && name === 'image') {
        if (typeof value !== 'string' || !ctx.inputFileExists(value)) {
          reasons.push(
            issue(
              'custom_validation_failed',
              'Custom validation failed for node',
              `image - Invalid image file: ${String(value)}`,
              { input_name: name },
            ),
          );
          valid = false;
        }
        continue;
      }
      const options = comboOptions(spec);
      if (options) {
        if (!options.includes(value as string)) {
          const list = options.length > 20 ? `(list of length ${options.length})` : pyRepr(options);
          reasons.push(
            issue('value_not_in_list', 'Value not in list', `${name}: ${pyRepr(value)} not in ${list}`, {
              input_name: name,
              input_config: options.length > 20 ? null : spec,
              received_value: value,
            }),
          );
          valid = false;
        }
        continue;
      }
      if (typeof kind !== 'string') continue;
      if (!['INT', 'FLOAT', 'STRING', 'BOOLEAN'].includes(kind)) continue;
      const conv = convert(kind, value);
      if (!conv.ok) {
        reasons.push(
          issue(
            'invalid_input_type',
            `Failed to convert an input value to a ${kind} value`,
            `${name}, ${String(value)}, ${conv.message}`,
            { input_name: name, input_config: spec, received_value: value, exception_message: conv.message },
          ),
        );
        valid = false;
        continue;
      }
      const n = conv.value;
      if (typeof n === 'number') {
        const min = opts['min'];
        const max = opts['max'];
        if (typeof min === 'number' && n < min) {
          reasons.push(
            issue('value_smaller_than_min', `Value ${n} smaller than min of ${min}`, name, {
              input_name: name,
              input_config: spec,
              received_value: n,
            }),
          );
          valid = false;
        } else if (typeof max === 'number' && n > max) {
          reasons.push(
            issue('value_bigger_than_max', `Value ${n} bigger than max of ${max}`, name, {
              input_name: name,
              input_config: spec,
              received_value: n,
            }),
          );
          valid = false;
        }
      }
    }
    validated.set(id, { valid, reasons });
    return valid;
  };

  for (const out of outputIds) {
    try {
      if (validateNode(out, out)) good.push(out);
    } catch (err) {
      if (!(err instanceof ValidationException)) throw err;
      const e = issue('exception_during_validation', 'Exception when validating node', err.detail, {
        exception_type: err.exceptionType,
        traceback: [
          '  File "/opt/ComfyUI/execution.py", line 1043, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n',
          '  File "/opt/ComfyUI/execution.py", line 818, in validate_inputs\n    o_class_type = prompt[o_id][\'class_type\']\n',
        ],
      });
      validated.set(out, { valid: false, reasons: [e] });
      exceptionLines.push(`${e.message}: ${e.details}`);
    }
  }

  const nodeErrors: Record<string, NodeErrors> = {};
  for (const [id, r] of validated) {
    if (r.valid || r.reasons.length === 0) continue;
    nodeErrors[id] = {
      errors: r.reasons,
      dependent_outputs: [...(dependents.get(id) ?? [])],
      class_type: prompt[id]?.class_type as string,
    };
  }
  if (good.length === 0) {
    return {
      ok: false,
      error: issue(
        'prompt_outputs_failed_validation',
        'Prompt outputs failed validation',
        exceptionLines.join('\n'),
        {},
      ),
      nodeErrors,
    };
  }
  return { ok: true, outputs: good, nodeErrors };
}

/** Coerces a literal input the way validation does (INT → int(), FLOAT → float()). */
export function coerceInput(spec: InputSpec | undefined, value: unknown): unknown {
  if (!spec || typeof spec[0] !== 'string') return value;
  const conv = convert(spec[0], value);
  return conv.ok ? conv.value : value;
}
