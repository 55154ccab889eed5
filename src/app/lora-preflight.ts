/**
 * LORAS against the model families and the styles: a LoRA's `styles` can only be checked once the styles
 * (built-in and the operator's) are loaded. A misspelt family or style would make the LoRA refused for
 * every style, with nothing in the log to say why: start-up stops naming the entry instead.
 */
import type { LoraChoice } from '../config/loras.js';
import type { WorkflowCatalog } from '../generation/workflows/index.js';
import { MODEL_FAMILIES } from '../generation/workflows/workflow-schemas.js';
import { StartupError } from './startup-error.js';

/** One line per unknown family or style, `name: …` (empty when every entry is known). */
export function lorasCatalogProblems(
  loras: readonly LoraChoice[],
  catalog: Pick<WorkflowCatalog, 'styles'>,
): string[] {
  const families: readonly string[] = MODEL_FAMILIES;
  const styles = [...catalog.styles.keys()].sort();
  const problems: string[] = [];
  for (const l of loras) {
    for (const f of l.families ?? []) {
      if (!families.includes(f)) {
        problems.push(`${l.name}: there is no model family "${f}" (families: ${families.join(', ')})`);
      }
    }
    for (const s of l.styles ?? []) {
      if (!styles.includes(s))
        problems.push(`${l.name}: there is no style "${s}" (styles: ${styles.join(', ')})`);
    }
  }
  return problems;
}

export function checkLorasAgainstCatalog(
  loras: readonly LoraChoice[],
  catalog: Pick<WorkflowCatalog, 'styles'>,
): void {
  const problems = lorasCatalogProblems(loras, catalog);
  if (problems.length === 0) return;
  throw new StartupError(
    `Invalid configuration:\n${problems.map((p) => `  LORAS: ${p}`).join('\n')}\nFix LORAS in .env or the environment (README, LoRAs).`,
    2,
  );
}
