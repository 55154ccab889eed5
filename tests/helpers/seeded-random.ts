// The one seeded PRNG of the tests: the same seed gives the same sequence, so a random kill schedule or a
// noise picture can be replayed from the seed a run printed.

/** mulberry32: 32 bits of state, enough for kill schedules and for noise no encoder can compress. */
export function seededUint32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform in [0, 1), like Math.random but replayable. */
export function seededRandom(seed: number): () => number {
  const next = seededUint32(seed);
  return () => next() / 4_294_967_296;
}
