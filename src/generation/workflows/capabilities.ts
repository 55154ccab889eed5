import { CUSTOM_NODE_PACKS, folderAliases, MODEL_INPUTS, packOfClass } from './node-catalogue.js';
import { resolveRequest } from './resolve-request.js';
import type { ApiPrompt, ModelFile, Workflow, WorkflowCatalog } from './workflow-schemas.js';
import { isLink } from './workflow-schemas.js';

/** What one ComfyUI server offers: `GET /object_info` and `GET /models/{folder}` per folder. */
export interface BackendInventory {
  readonly objectInfo: Readonly<Record<string, unknown>>;
  /** Folder → files. A folder absent here is unknown (not listed), not empty. */
  readonly models: Readonly<Record<string, readonly string[]>>;
}

export interface MissingNode {
  readonly class: string;
  /** The custom node pack that provides the class; absent for ComfyUI's own nodes. */
  readonly pack?: string;
}

export interface InvalidInput {
  readonly node: string;
  readonly class: string;
  readonly input: string;
  readonly message: string;
}

export interface CapabilityEntry {
  readonly kind: 'workflow' | 'style';
  readonly name: string;
  readonly workflow: string;
  readonly ok: boolean;
  readonly missingNodes: MissingNode[];
  readonly missingModels: ModelFile[];
  /** Bound or fixed values the server's node definitions refuse (e.g. a sampler it does not offer). */
  readonly invalidInputs: InvalidInput[];
}

export interface CapabilityReport {
  readonly ok: boolean;
  readonly workflows: CapabilityEntry[];
  readonly styles: CapabilityEntry[];
}

interface InputDef {
  readonly type: string;
  readonly options?: readonly unknown[];
  readonly min?: number;
  readonly max?: number;
}

/** Reads one `/object_info` input spec: `[TYPE, opts]`, `[[...values], opts]` or `["COMBO", {options}]`. */
function readInputDef(spec: unknown): InputDef | undefined {
  if (!Array.isArray(spec) || spec.length === 0) return undefined;
  const [head, rawOpts] = spec as [unknown, unknown];
  const opts = rawOpts !== null && typeof rawOpts === 'object' ? (rawOpts as Record<string, unknown>) : {};
  const num = (k: string): number | undefined => (typeof opts[k] === 'number' ? opts[k] : undefined);
  if (Array.isArray(head)) return { type: 'COMBO', options: head as unknown[] };
  if (typeof head !== 'string') return undefined;
  if (head === 'COMBO') {
    return Array.isArray(opts['options'])
      ? { type: 'COMBO', options: opts['options'] as unknown[] }
      : { type: 'COMBO' };
  }
  const min = num('min');
  const max = num('max');
  return { type: head, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
}

function inputsOf(def: unknown, section: 'required' | 'optional'): Record<string, unknown> {
  if (def === null || typeof def !== 'object') return {};
  const input = (def as Record<string, unknown>)['input'];
  if (input === null || typeof input !== 'object') return {};
  const s = (input as Record<string, unknown>)[section];
  return s !== null && typeof s === 'object' ? (s as Record<string, unknown>) : {};
}

// ComfyUI lists files in subfolders with the server OS's separator.
const normalise = (file: string): string => file.replaceAll('\\', '/');

function listedIn(inventory: BackendInventory, folder: string): readonly string[] | undefined {
  let found: string[] | undefined;
  for (const alias of folderAliases(folder)) {
    const files = inventory.models[alias];
    if (files) found = [...(found ?? []), ...files.map(normalise)];
  }
  return found;
}

function checkGraph(
  graph: ApiPrompt,
  workflow: Workflow,
  inventory: BackendInventory,
): Pick<CapabilityEntry, 'missingNodes' | 'missingModels' | 'invalidInputs'> {
  const missingNodes: MissingNode[] = [];
  const missingModels: ModelFile[] = [];
  const invalidInputs: InvalidInput[] = [];
  const addModel = (m: ModelFile): void => {
    if (!missingModels.some((x) => x.folder === m.folder && x.file === m.file)) missingModels.push(m);
  };

  for (const [id, node] of Object.entries(graph)) {
    const def = inventory.objectInfo[node.class_type];
    const modelInputs = MODEL_INPUTS[node.class_type] ?? {};
    if (def === undefined) {
      if (!missingNodes.some((m) => m.class === node.class_type)) {
        const pack = packOfClass(node.class_type);
        missingNodes.push(pack ? { class: node.class_type, pack } : { class: node.class_type });
      }
    } else {
      const required = inputsOf(def, 'required');
      const optional = inputsOf(def, 'optional');
      for (const name of Object.keys(required)) {
        if (node.inputs[name] === undefined) {
          invalidInputs.push({
            node: id,
            class: node.class_type,
            input: name,
            message: `this server's ${node.class_type} requires an input "${name}" the workflow does not set (a newer node version?)`,
          });
        }
      }
      for (const [name, value] of Object.entries(node.inputs)) {
        if (isLink(value) || name in modelInputs) continue;
        const d = readInputDef(required[name] ?? optional[name]);
        if (!d) continue;
        // LoadImage validates the file's existence at run time, not against its combo list.
        if (d.type === 'COMBO' && node.class_type === 'LoadImage') continue;
        if (d.type === 'COMBO' && d.options && !d.options.includes(value)) {
          const shown =
            d.options.length > 20 ? `${d.options.length} values` : d.options.map(String).join(', ');
          invalidInputs.push({
            node: id,
            class: node.class_type,
            input: name,
            message: `${JSON.stringify(value)} is not offered by this server (it offers: ${shown})`,
          });
        } else if ((d.type === 'INT' || d.type === 'FLOAT') && typeof value === 'number') {
          if (d.min !== undefined && value < d.min) {
            invalidInputs.push({
              node: id,
              class: node.class_type,
              input: name,
              message: `${value} is below the minimum ${d.min}`,
            });
          } else if (d.max !== undefined && value > d.max) {
            invalidInputs.push({
              node: id,
              class: node.class_type,
              input: name,
              message: `${value} is above the maximum ${d.max}`,
            });
          }
        }
      }
    }
    for (const [input, folder] of Object.entries(modelInputs)) {
      const file = node.inputs[input];
      if (typeof file !== 'string') continue;
      const listed = listedIn(inventory, folder);
      if (listed) {
        if (!listed.includes(normalise(file))) addModel({ folder, file });
        continue;
      }
      const d =
        def === undefined
          ? undefined
          : readInputDef(inputsOf(def, 'required')[input] ?? inputsOf(def, 'optional')[input]);
      if (
        d?.options &&
        !d.options.map((o) => (typeof o === 'string' ? normalise(o) : o)).includes(normalise(file))
      ) {
        addModel({ folder, file });
      }
    }
  }
  for (const extra of workflow.manifest.extraModels) {
    const listed = listedIn(inventory, extra.folder);
    if (listed && !listed.includes(normalise(extra.file))) addModel(extra);
  }
  return { missingNodes, missingModels, invalidInputs };
}

// Fixed stand-ins so the checked graph is the one the defaults would produce.
const CHECK_PROMPT = 'capability check';
const CHECK_REFERENCE = 'capability-check.png';

function entry(
  kind: CapabilityEntry['kind'],
  name: string,
  workflow: Workflow,
  graph: ApiPrompt,
  inventory: BackendInventory,
): CapabilityEntry {
  const found = checkGraph(graph, workflow, inventory);
  const ok =
    found.missingNodes.length === 0 && found.missingModels.length === 0 && found.invalidInputs.length === 0;
  return { kind, name, workflow: workflow.name, ok, ...found };
}

/**
 * Checks every workflow (with its defaults) and every style (with its fixed values and LoRAs)
 * against one server's node definitions and model lists.
 */
export function checkBackendCapabilities(
  catalog: WorkflowCatalog,
  inventory: BackendInventory,
): CapabilityReport {
  const graphFor = (request: { style?: string; workflow?: string }, workflow: Workflow): ApiPrompt => {
    const resolved = resolveRequest(
      catalog,
      {
        ...request,
        prompt: CHECK_PROMPT,
        ...(workflow.manifest.params.reference ? { referenceImage: CHECK_REFERENCE } : {}),
      },
      { randomSeed: () => 0 },
    );
    return resolved.ok ? resolved.value.graph : structuredClone<ApiPrompt>(workflow.graph);
  };

  const workflows = [...catalog.workflows.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((wf) => entry('workflow', wf.name, wf, graphFor({ workflow: wf.name }, wf), inventory));
  const styles: CapabilityEntry[] = [];
  for (const style of [...catalog.styles.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const wf = catalog.workflow(style.workflow);
    if (!wf) continue;
    styles.push(entry('style', style.name, wf, graphFor({ style: style.name }, wf), inventory));
  }
  return { ok: workflows.every((w) => w.ok) && styles.every((s) => s.ok), workflows, styles };
}

function describeEntry(e: CapabilityEntry): string[] {
  const lines: string[] = [];
  const packs = new Map<string, string[]>();
  for (const n of e.missingNodes) {
    if (n.pack) packs.set(n.pack, [...(packs.get(n.pack) ?? []), n.class]);
    else {
      lines.push(
        `  - missing node ${n.class}: part of ComfyUI itself in recent releases; update ComfyUI (or install the pack that provides it)`,
      );
    }
  }
  for (const [pack, classes] of packs) {
    const info = CUSTOM_NODE_PACKS[pack];
    lines.push(
      `  - missing node${classes.length > 1 ? 's' : ''} ${classes.join(', ')}: install the custom node pack ${pack}` +
        (info ? ` (${info.repo})` : '') +
        ' into ComfyUI/custom_nodes and restart ComfyUI' +
        (info?.note ? `; ${info.note}` : ''),
    );
  }
  for (const m of e.missingModels) {
    lines.push(
      `  - missing model ${m.file} in folder ${m.folder}: put it in ComfyUI/models/${m.folder}/ (or change the workflow)`,
    );
  }
  for (const i of e.invalidInputs) {
    lines.push(`  - node ${i.node} (${i.class}) input ${i.input}: ${i.message}`);
  }
  return lines;
}

/** Human-readable report for operators: every missing node class, custom node pack and model file. */
export function formatCapabilityReport(report: CapabilityReport, backendName?: string): string {
  const head = backendName ? `Backend ${backendName}: ` : '';
  const lines: string[] = [];
  const bad = [...report.workflows, ...report.styles].filter((e) => !e.ok);
  if (bad.length === 0) {
    lines.push(`${head}all ${report.workflows.length} workflows and ${report.styles.length} styles can run.`);
    return lines.join('\n');
  }
  const okStyles = report.styles.filter((s) => s.ok).map((s) => s.name);
  lines.push(
    `${head}${bad.length} workflow(s)/style(s) cannot run here.` +
      (okStyles.length > 0 ? ` Usable styles: ${okStyles.join(', ')}.` : ' No style is usable.'),
  );
  const brokenWorkflows = new Set(report.workflows.filter((w) => !w.ok).map((w) => w.name));
  for (const w of report.workflows.filter((x) => !x.ok)) {
    lines.push(`Workflow "${w.name}" cannot run:`, ...describeEntry(w));
  }
  for (const s of report.styles.filter((x) => !x.ok)) {
    const own = describeEntry(s);
    const base = report.workflows.find((w) => w.name === s.workflow);
    const extra = base ? own.filter((l) => !describeEntry(base).includes(l)) : own;
    if (brokenWorkflows.has(s.workflow) && extra.length === 0) {
      lines.push(`Style "${s.name}" cannot run: its workflow "${s.workflow}" cannot run (see above).`);
    } else if (brokenWorkflows.has(s.workflow)) {
      lines.push(
        `Style "${s.name}" cannot run: its workflow "${s.workflow}" cannot run (see above), and:`,
        ...extra,
      );
    } else {
      lines.push(
        `Style "${s.name}" (workflow "${s.workflow}") cannot run:`,
        ...(extra.length > 0 ? extra : own),
      );
    }
  }
  return lines.join('\n');
}
