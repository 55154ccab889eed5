import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { BUILTIN_STYLES, DEFAULT_STYLE } from './builtin-styles.js';
import { BUILTIN_WORKFLOWS } from './builtin-workflows.js';
import { checkWorkflowStructure, modelsOfGraph } from './graph-check.js';
import { paramValueProblem } from './param-values.js';
import type {
  ApiPrompt,
  ModelFile,
  Style,
  Workflow,
  WorkflowCatalog,
  WorkflowManifest,
} from './workflow-schemas.js';
import {
  ApiPromptSchema,
  describeIssues,
  ManifestFileSchema,
  StyleSchema,
  WORKFLOW_NAME_RE,
  WorkflowFileSchema,
} from './workflow-schemas.js';

export interface CatalogProblem {
  /** The operator file (path) or `builtin:<name>` the problem is about. */
  readonly file: string;
  readonly message: string;
}

export interface CatalogFs {
  readdir(dir: string): Promise<string[]>;
  readFile(path: string): Promise<string>;
}

export interface WorkflowCatalogDeps {
  /** The operator folder (`WORKFLOWS_DIR`); absent means built-ins only. */
  readonly operatorDir?: string | undefined;
  readonly fs?: CatalogFs;
  /** Style used when a request names none; `sdxl` unless the operator chooses another. */
  readonly defaultStyle?: string | undefined;
}

export interface WorkflowCatalogResult {
  readonly catalog: WorkflowCatalog;
  readonly problems: CatalogProblem[];
}

/** A built-in workflow or style that does not validate: a bug in this product, not operator input. */
export class BuiltinDefinitionError extends Error {
  override readonly name = 'BuiltinDefinitionError';
  constructor(
    readonly definition: string,
    readonly problems: string,
  ) {
    super(`built-in ${definition} is invalid: ${problems}`);
  }
}

const nodeFs: CatalogFs = {
  readdir: (dir) => readdir(dir),
  readFile: (path) => readFile(path, 'utf8'),
};

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function makeWorkflow(
  name: string,
  manifest: WorkflowManifest,
  graph: ApiPrompt,
  source: string,
): Workflow | string {
  const problems = checkWorkflowStructure(graph, manifest, { allowUnknownClasses: source !== 'builtin' });
  if (problems.length > 0) return problems.join('; ');
  const models: ModelFile[] = modelsOfGraph(graph);
  for (const extra of manifest.extraModels) {
    if (!models.some((m) => m.folder === extra.folder && m.file === extra.file)) models.push(extra);
  }
  return deepFreeze({
    name,
    manifest: structuredClone(manifest),
    graph: structuredClone(graph),
    models,
    source,
  });
}

/** Why a style cannot run on its workflow, or undefined when it can. */
function styleProblem(style: Style, workflows: ReadonlyMap<string, Workflow>): string | undefined {
  const wf = workflows.get(style.workflow);
  if (!wf)
    return `workflow "${style.workflow}" does not exist (known: ${[...workflows.keys()].sort().join(', ')})`;
  const params = wf.manifest.params;
  const problems: string[] = [];
  for (const [name, value] of Object.entries(style.params)) {
    if (params[name as keyof typeof params] === undefined) {
      problems.push(`params.${name}: workflow "${wf.name}" has no ${name} parameter`);
      continue;
    }
    const p = paramValueProblem(params, name, value);
    if (p) problems.push(`params.${name}: ${p}`);
  }
  for (const name of style.locked) {
    if (params[name] === undefined) problems.push(`locked: workflow "${wf.name}" has no ${name} parameter`);
  }
  const maxLoras = wf.manifest.loras?.max ?? 0;
  if (style.loras.length > maxLoras) {
    problems.push(`loras: workflow "${wf.name}" takes at most ${maxLoras} LoRAs`);
  }
  if (style.negative !== '' && params.negative === undefined) {
    problems.push(`negative: workflow "${wf.name}" has no negative prompt`);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function makeStyle(
  name: string,
  parsed: z.infer<typeof StyleSchema>,
  source: string,
  portrait: boolean,
): Style {
  return deepFreeze({
    name,
    label: parsed.label,
    description: parsed.description,
    workflow: parsed.workflow,
    weight: parsed.weight ?? (portrait ? 2 : 1),
    preprompt: parsed.preprompt,
    negative: parsed.negative,
    loras: parsed.loras,
    params: parsed.params,
    locked: parsed.locked,
    ...(parsed.aspect ? { aspect: parsed.aspect } : {}),
    internal: parsed.internal,
    source,
  });
}

interface PendingStyle {
  readonly name: string;
  readonly parsed: z.infer<typeof StyleSchema>;
  readonly source: string;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, message: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * Loads the built-in workflows and styles, then the operator's files: `name.workflow.json`
 * (`{manifest, graph}`), `name.manifest.json` (+ the graph exported by "Save (API)" in `name.json` or
 * the manifest's `graphFile`) and `name.style.json`. A bad file is reported in `problems` and skipped;
 * the rest still load. An operator workflow or style with a built-in's name replaces it.
 */
export async function createWorkflowCatalog(deps: WorkflowCatalogDeps = {}): Promise<WorkflowCatalogResult> {
  const fs = deps.fs ?? nodeFs;
  const problems: CatalogProblem[] = [];
  const workflows = new Map<string, Workflow>();
  const pendingStyles = new Map<string, PendingStyle>();

  for (const [name, def] of Object.entries(BUILTIN_WORKFLOWS)) {
    const parsed = WorkflowFileSchema.safeParse(def);
    if (!parsed.success) throw new BuiltinDefinitionError(`workflow ${name}`, describeIssues(parsed.error));
    const wf = makeWorkflow(name, parsed.data.manifest, parsed.data.graph, 'builtin');
    if (typeof wf === 'string') throw new BuiltinDefinitionError(`workflow ${name}`, wf);
    workflows.set(name, wf);
  }
  for (const [name, def] of Object.entries(BUILTIN_STYLES)) {
    const parsed = StyleSchema.safeParse(def);
    if (!parsed.success) throw new BuiltinDefinitionError(`style ${name}`, describeIssues(parsed.error));
    pendingStyles.set(name, { name, parsed: parsed.data, source: 'builtin' });
  }

  if (deps.operatorDir !== undefined) {
    await loadOperatorFiles(deps.operatorDir, fs, workflows, pendingStyles, problems);
  }

  const styles = new Map<string, Style>();
  for (const pending of pendingStyles.values()) {
    const portrait = workflows.get(pending.parsed.workflow)?.manifest.kind === 'portrait';
    const style = makeStyle(pending.name, pending.parsed, pending.source, portrait);
    const problem = styleProblem(style, workflows);
    if (problem !== undefined) {
      problems.push({
        file: pending.source === 'builtin' ? `builtin:style ${pending.name}` : pending.source,
        message: `style "${pending.name}" not loaded: ${problem}`,
      });
      continue;
    }
    styles.set(style.name, style);
  }

  const wanted = deps.defaultStyle ?? DEFAULT_STYLE;
  let defaultStyle = styles.get(wanted);
  if (!defaultStyle || defaultStyle.internal) {
    const fallback = [...styles.values()]
      .filter((s) => !s.internal)
      .sort((a, b) => a.name.localeCompare(b.name))[0];
    if (!fallback)
      throw new BuiltinDefinitionError('style catalogue', 'no usable style is left to be the default');
    problems.push({
      file: `defaultStyle ${wanted}`,
      message: `the default style "${wanted}" is not available; using "${fallback.name}"`,
    });
    defaultStyle = fallback;
  }
  const chosenDefault = defaultStyle;

  const catalog: WorkflowCatalog = {
    workflows,
    styles,
    defaultStyle: chosenDefault,
    style: (name) => styles.get(name),
    workflow: (name) => workflows.get(name),
    publicStyles: () =>
      [...styles.values()].filter((s) => !s.internal).sort((a, b) => a.name.localeCompare(b.name)),
  };
  return { catalog, problems };
}

const WORKFLOW_SUFFIX = '.workflow.json';
const MANIFEST_SUFFIX = '.manifest.json';
const STYLE_SUFFIX = '.style.json';

async function loadOperatorFiles(
  dir: string,
  fs: CatalogFs,
  workflows: Map<string, Workflow>,
  pendingStyles: Map<string, PendingStyle>,
  problems: CatalogProblem[],
): Promise<void> {
  let entries: string[];
  try {
    entries = (await fs.readdir(dir)).sort();
  } catch (err) {
    problems.push({
      file: dir,
      message: `cannot read the workflows folder: ${err instanceof Error ? err.message : String(err)}`,
    });
    return;
  }
  const operatorWorkflows = new Map<string, string>();
  const operatorStyles = new Map<string, string>();

  const read = async (
    file: string,
  ): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> => {
    try {
      return parseJson(await fs.readFile(join(dir, file)));
    } catch (err) {
      return { ok: false, message: `cannot read: ${err instanceof Error ? err.message : String(err)}` };
    }
  };

  const claimName = (registry: Map<string, string>, kind: string, name: string, path: string): boolean => {
    if (!WORKFLOW_NAME_RE.test(name)) {
      problems.push({
        file: path,
        message: `${kind} name "${name}" is not allowed: use 1–40 lower-case letters, digits, "-" and "_"`,
      });
      return false;
    }
    const previous = registry.get(name);
    if (previous !== undefined) {
      problems.push({
        file: path,
        message: `${kind} "${name}" is already defined by ${previous}; this file is ignored`,
      });
      return false;
    }
    registry.set(name, path);
    return true;
  };

  for (const file of entries) {
    const path = join(dir, file);
    if (file.endsWith(WORKFLOW_SUFFIX) || file.endsWith(MANIFEST_SUFFIX)) {
      const isManifest = file.endsWith(MANIFEST_SUFFIX);
      const base = file.slice(0, -(isManifest ? MANIFEST_SUFFIX : WORKFLOW_SUFFIX).length);
      const json = await read(file);
      if (!json.ok) {
        problems.push({ file: path, message: json.message });
        continue;
      }
      let manifest: WorkflowManifest;
      let graph: ApiPrompt;
      if (isManifest) {
        const parsed = ManifestFileSchema.safeParse(json.value);
        if (!parsed.success) {
          problems.push({ file: path, message: describeIssues(parsed.error) });
          continue;
        }
        const { graphFile, ...rest } = parsed.data;
        const graphName = graphFile ?? `${base}.json`;
        if (graphName.includes('/') || graphName.includes('\\') || graphName.startsWith('.')) {
          problems.push({
            file: path,
            message: `graphFile "${graphName}" must be a file name in the same folder`,
          });
          continue;
        }
        const graphJson = await read(graphName);
        if (!graphJson.ok) {
          problems.push({ file: join(dir, graphName), message: graphJson.message });
          continue;
        }
        const g = ApiPromptSchema.safeParse(graphJson.value);
        if (!g.success) {
          problems.push({
            file: join(dir, graphName),
            message: `not an API-format graph (export it with "Save (API)"): ${describeIssues(g.error)}`,
          });
          continue;
        }
        manifest = rest;
        graph = g.data;
      } else {
        const parsed = WorkflowFileSchema.safeParse(json.value);
        if (!parsed.success) {
          problems.push({ file: path, message: describeIssues(parsed.error) });
          continue;
        }
        manifest = parsed.data.manifest;
        graph = parsed.data.graph;
      }
      const name = manifest.name ?? base;
      if (!claimName(operatorWorkflows, 'workflow', name, path)) continue;
      const wf = makeWorkflow(name, manifest, graph, path);
      if (typeof wf === 'string') {
        problems.push({ file: path, message: wf });
        continue;
      }
      workflows.set(name, wf);
    } else if (file.endsWith(STYLE_SUFFIX)) {
      const json = await read(file);
      if (!json.ok) {
        problems.push({ file: path, message: json.message });
        continue;
      }
      const parsed = StyleSchema.safeParse(json.value);
      if (!parsed.success) {
        problems.push({ file: path, message: describeIssues(parsed.error) });
        continue;
      }
      const name = parsed.data.name ?? file.slice(0, -STYLE_SUFFIX.length);
      if (!claimName(operatorStyles, 'style', name, path)) continue;
      pendingStyles.set(name, { name, parsed: parsed.data, source: path });
    }
  }
}
