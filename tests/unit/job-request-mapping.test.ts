import { describe, expect, it } from 'vitest';
import { paramsOfRequest, requestOfJob } from '../../src/generation/pipeline/job-data.js';

describe('request ↔ job mapping', () => {
  it('carries every optional setting through the job record, so Reroll repeats all of them', () => {
    const request = {
      prompt: 'a fox',
      style: 'photo',
      negative: 'blur',
      aspect: '16:9',
      steps: 30,
      cfg: 5.5,
      sampler: 'euler',
      scheduler: 'karras',
      denoise: 0.6,
      clipSkip: 2,
      strength: 0.8,
      guidance: 3.5,
    };
    const back = requestOfJob({
      style: 'photo',
      prompt: 'a fox',
      negative: 'blur',
      params: paramsOfRequest(request),
      seed: 42,
      count: 2,
    });
    expect(back).toEqual({ ...request, seed: 42, count: 2 });
  });
});
