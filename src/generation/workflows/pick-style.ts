// Which style and workflow a request means: a named workflow (with or without a style of it), a named
// style, or the catalogue's default style. Unknown names are refused with the names available.
import { resolveFailure as fail, type ResolveError, type Result } from './generation-request.js';
import type { Style, Workflow, WorkflowCatalog } from './workflow-schemas.js';

export function pickStyle(
  catalog: WorkflowCatalog,
  styleName: string | undefined,
  workflowName: string | undefined,
): Result<{ style: Style; workflow: Workflow }, ResolveError> {
  const styleList = (): string =>
    catalog
      .publicStyles()
      .map((s) => s.name)
      .join(', ');
  if (workflowName !== undefined) {
    const workflow = catalog.workflow(workflowName);
    if (!workflow) {
      return fail(
        'unknown_workflow',
        `there is no workflow "${workflowName}"; available: ${[...catalog.workflows.keys()].sort().join(', ')}`,
      );
    }
    if (styleName !== undefined) {
      const style = catalog.style(styleName);
      if (!style) return fail('unknown_style', `there is no style "${styleName}"; available: ${styleList()}`);
      if (style.workflow !== workflow.name) {
        return fail(
          'invalid_params',
          `the "${style.name}" style uses the "${style.workflow}" workflow, not "${workflow.name}"`,
          [{ field: 'workflow', message: `the "${style.name}" style uses the "${style.workflow}" workflow` }],
        );
      }
      return { ok: true, value: { style, workflow } };
    }
    return { ok: true, value: { style: bareStyle(workflow), workflow } };
  }
  const style = styleName === undefined ? catalog.defaultStyle : catalog.style(styleName);
  if (!style)
    return fail('unknown_style', `there is no style "${styleName ?? ''}"; available: ${styleList()}`);
  const workflow = catalog.workflow(style.workflow);
  // The catalogue drops styles whose workflow is missing, so this only guards hand-built catalogues.
  if (!workflow)
    return fail(
      'unknown_workflow',
      `the "${style.name}" style needs the missing workflow "${style.workflow}"`,
    );
  return { ok: true, value: { style, workflow } };
}

/** The workflow's own defaults, for requests that name a workflow and no style. */
function bareStyle(workflow: Workflow): Style {
  return {
    name: workflow.name,
    label: workflow.manifest.label ?? workflow.name,
    description: workflow.manifest.description ?? '',
    workflow: workflow.name,
    weight: workflow.manifest.kind === 'portrait' ? 2 : 1,
    preprompt: '',
    negative: '',
    loras: [],
    params: {},
    locked: [],
    internal: true,
    source: workflow.source,
  };
}
