/**
 * A set of strings bounded by two generations: every add goes into the newer one; when that
 * holds half the limit it becomes the older one and the old older one is dropped. It holds at
 * most `limit` strings, always at least the newest limit/2, and a string added again moves to
 * the newer generation. Every operation is O(1).
 *
 * Why not one insertion-ordered Set that drops its oldest entry through `values().next()` on
 * every add once full: V8 leaves deleted entries as holes at the front of the table until it
 * rehashes, and the iterator walks them all, so each add of a full set costs a walk over the holes
 * (figures in bench/RESULTS.md).
 */
export class BoundedSet {
  readonly limit: number
  private readonly generationSize: number
  private newer = new Set<string>()
  private older = new Set<string>()

  constructor (limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`BoundedSet: limit must be a positive integer, got ${limit}`)
    this.limit = limit
    this.generationSize = Math.max(1, Math.floor(limit / 2))
  }

  add (key: string): void {
    if (this.newer.has(key)) return
    this.older.delete(key)
    this.newer.add(key)
    if (this.newer.size >= this.generationSize) {
      this.older = this.newer
      this.newer = new Set()
    }
  }

  has (key: string): boolean {
    return this.newer.has(key) || this.older.has(key)
  }

  get size (): number {
    return this.newer.size + this.older.size
  }
}
