export { BUILTIN_STYLES, DEFAULT_STYLE } from './builtin-styles.js';
export { boundInputs, type BoundInput } from './bound-inputs.js';
export { BUILTIN_WORKFLOWS } from './builtin-workflows.js';
export type {
  BackendInventory,
  CapabilityEntry,
  CapabilityReport,
  InvalidInput,
  MissingNode,
} from './capabilities.js';
export { checkBackendCapabilities, formatCapabilityReport } from './capabilities.js';
export { checkWorkflowStructure, modelsOfGraph } from './graph-check.js';
export { CUSTOM_NODE_PACKS, NODE_CATALOGUE, packOfClass } from './node-catalogue.js';
export { MAX_SEED } from './param-values.js';
export { FAMILY_SIZES, sizeForAspect } from './aspect-sizes.js';
export {
  IMAGE_STRENGTH,
  denoiseOfStrength,
  imagePromptStyles,
  imageToImageWorkflowOf,
  isAspect,
  pictureSize,
  strengthOfDenoise,
} from './image-prompt.js';
export type {
  GenerationRequest,
  ResolvedGeneration,
  ResolvedParams,
  ResolveDeps,
  ResolveError,
  ResolveErrorCode,
  ResolveIssue,
  Result,
} from './generation-request.js';
export { GenerationRequestSchema } from './generation-request.js';
export { randomSeed, resolveRequest } from './resolve-request.js';
export type {
  CatalogFs,
  CatalogProblem,
  WorkflowCatalogDeps,
  WorkflowCatalogResult,
} from './workflow-catalog.js';
export { BuiltinDefinitionError, createWorkflowCatalog } from './workflow-catalog.js';
export type {
  ApiNode,
  ApiPrompt,
  Aspect,
  Lora,
  ModelFamily,
  ModelFile,
  Style,
  StyleLora,
  Workflow,
  WorkflowCatalog,
  WorkflowKind,
  WorkflowManifest,
} from './workflow-schemas.js';
export {
  ApiPromptSchema,
  ASPECTS,
  ENUM_PARAMS,
  NUMERIC_PARAMS,
  StyleLoraSchema,
  StyleSchema,
  WorkflowFileSchema,
  WorkflowManifestSchema,
} from './workflow-schemas.js';
