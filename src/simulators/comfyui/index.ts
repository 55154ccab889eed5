// The ComfyUI simulator's one door: the composition root, the CLI, the bench and the tests import from here,
// so the files behind it can be reshaped without touching them.
export {
  CUDA_OUT_OF_MEMORY,
  NO_FACE_DETECTED,
  type ExecutionFault,
  type FaultControls,
  type HttpFault,
  type Simulator,
  type SimulatorOptions,
  type SimulatorStats,
  type SimulatorTrace,
} from './options.js';
export { startSimulator } from './server.js';
export { buildCatalog, DEFAULT_MODELS } from './catalog.js';
