// The job-API simulator's one door: the composition root, the CLI, the bench and the tests import from here.
export {
  startJobsApiSimulator,
  type JobsApiFaults,
  type JobsApiSimulator,
  type JobsApiSimulatorOptions,
  type JobsApiSimulatorStats,
} from './server.js';
