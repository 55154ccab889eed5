// The job-API simulator's one door: the composition root, the CLI, the bench and the tests import from here.
export type {
  JobsApiFaults,
  JobsApiSimulator,
  JobsApiSimulatorOptions,
  JobsApiSimulatorStats,
} from './options.js';
export { startJobsApiSimulator } from './server.js';
