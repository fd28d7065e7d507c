/**
 * A seeded pseudo-random generator for the consensus simulator (mulberry32): the same seed gives
 * the same sequence on every machine, so a simulation run is reproducible from its seed alone.
 * Not for cryptography.
 */
export class Rng {
  private state: number

  constructor (seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng: seed must be an integer, got ${seed}`)
    // mix the seed so that nearby seeds give unrelated sequences
    this.state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ (seed >>> 16)) >>> 0
  }

  /** A float in [0, 1). */
  float (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [min, max] (both inclusive). */
  int (min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) throw new RangeError(`Rng.int: bad range [${min}, ${max}]`)
    return min + Math.floor(this.float() * (max - min + 1))
  }

  /** True with probability p. */
  chance (p: number): boolean {
    return p > 0 && this.float() < p
  }

  pick<T> (items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: empty list')
    return items[Math.floor(this.float() * items.length)] as T
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T> (items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1))
      const tmp = out[i] as T
      out[i] = out[j] as T
      out[j] = tmp
    }
    return out
  }

  /** An independent generator derived from this one (so adding draws in one part does not shift another). */
  fork (): Rng {
    return new Rng(Math.floor(this.float() * 0x7fffffff))
  }
}
